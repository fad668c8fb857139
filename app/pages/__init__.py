"""Importing this package registers every page (one module per route)."""

from . import (
               compaction,
               dashboard,
               features,
               health,
               key_explorer,
               login,
               planned,
               rate_limits,
               snapshots,
               stats,
               tokens,
)

__all__ = ['compaction', 'dashboard', 'features', 'health', 'key_explorer', 'login', 'planned', 'rate_limits',
           'snapshots', 'stats', 'tokens']
