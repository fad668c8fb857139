"""Importing this package registers every page (one module per route)."""

from . import compaction, dashboard, health, key_explorer, login, planned, snapshots

__all__ = ['compaction', 'dashboard', 'health', 'key_explorer', 'login', 'planned', 'snapshots']
