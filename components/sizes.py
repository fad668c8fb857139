"""Sizes as people read them, one place for every page (keys in bytes, store files in KiB)."""

from __future__ import annotations


def kb_text(kb: int) -> str:
    """A size the server reports in KiB (snapshots, column families): `512 KB`, `1.50 MB`, `2.00 GB`."""
    if kb >= 1024 * 1024:
        return f'{kb / 1024 / 1024:.2f} GB'
    if kb >= 1024:
        return f'{kb / 1024:.2f} MB'
    return f'{kb} KB'
