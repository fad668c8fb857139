"""Importing this package registers every page: one module per route, each found here by name.

A new page is a new module in this package (named after its route) using `@page(...)`; nothing else
needs to list it. `planned` fills in the navigation routes no module claimed.
"""

import importlib
import pkgutil

PAGE_MODULES = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith('_'))
for _name in PAGE_MODULES:
    importlib.import_module(f'{__name__}.{_name}')
