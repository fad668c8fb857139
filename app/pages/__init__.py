"""Importing this package registers every page (one module per route)."""

from . import bulk_import as bulk_import
from . import cdc as cdc
from . import column_families as column_families
from . import compaction as compaction
from . import dashboard as dashboard
from . import features as features
from . import graph as graph
from . import graphql as graphql
from . import health as health
from . import key_explorer as key_explorer
from . import login as login
from . import notes as notes
from . import planned as planned
from . import rate_limits as rate_limits
from . import snapshots as snapshots
from . import stats as stats
from . import tags as tags
from . import time_travel as time_travel
from . import tokens as tokens
