"""Importing this package registers every page: one module per route, each found here by name.

A new page is a new module in this package (named after its route) using `@page(...)`; nothing else
needs to list it. Every navigation route must have one (`register_pages` refuses to start otherwise).
"""

import importlib
import pkgutil

PAGE_MODULES = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith('_'))
for _name in PAGE_MODULES:
    importlib.import_module(f'{__name__}.{_name}')
