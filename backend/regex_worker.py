"""Child process of `regex_search`: match one pattern against many keys per request, stdlib only.

Python's `re` holds the GIL while it backtracks, so a catastrophic pattern in a thread still freezes the
server; in a process of its own it can be killed when it overruns its budget. Protocol: one JSON line in
(`{"pattern","keys","limit"}`), one JSON line out (`{"matches":[indices]}` or `{"error":msg}`).
Run as a script (`python -I -S regex_worker.py`) so that starting it imports nothing of the server.
"""

from __future__ import annotations

import json
import re
import sys


def matches(pattern: str, keys: list[str], limit: int) -> list[int]:
    compiled = re.compile(pattern)
    found: list[int] = []
    for index, key in enumerate(keys):
        if compiled.search(key):
            found.append(index)
            if len(found) >= limit:
                break
    return found


def answer(line: bytes) -> dict:
    try:
        job = json.loads(line)
        return {'matches': matches(job['pattern'], job['keys'], job['limit'])}
    except (ValueError, KeyError, TypeError, re.error, RecursionError) as exc:
        return {'error': f'{type(exc).__name__}: {exc}'}


def main() -> None:
    for line in sys.stdin.buffer:
        sys.stdout.write(json.dumps(answer(line)) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
