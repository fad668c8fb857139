"""Test data templates of the CI/CD feature: `{n}`, `{name}`, `{email}`, `{uuid}`, `{rand}` placeholders.

Fake values derive from the record number only, so the same template and count give the same data on
every run (reproducible CI fixtures). Other braces stay as written, so JSON templates work as they are.
"""

from __future__ import annotations

import json
import random
import re
import uuid

from pydantic import BaseModel, Field, StrictBool, StrictStr

from ..http import key_problem
from ..storage import DEFAULT_CF
from ._support import fail

BATCH = 1000
MAX_GENERATE = 1_000_000
PLACEHOLDER = re.compile(r'\{(n|name|email|uuid|rand)\}')
FIRST = ('Ada', 'Alan', 'Grace', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Frances', 'Edsger',
         'Radia', 'John', 'Hedy', 'Tim', 'Katherine', 'Donald')
LAST = ('Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Hamilton', 'Ritchie', 'Liskov', 'Thompson', 'Allen',
        'Dijkstra', 'Perlman', 'Backus', 'Lamarr', 'Berners-Lee', 'Johnson', 'Knuth')


class GenerateBody(BaseModel):
    count: int = Field(ge=1, le=MAX_GENERATE)
    key_template: StrictStr = Field(default='test:{n}', min_length=1, max_length=1024)
    value_template: StrictStr = Field(default='{"id": {n}, "name": "{name}"}', max_length=64 * 1024)
    start: int = Field(default=1, ge=0, le=10**12)
    cf: StrictStr = DEFAULT_CF
    preview: StrictBool = False
    wait: StrictBool = True  # answer when done (the Angular client); False: answer at once, follow the events


def _fake(n: int, what: str) -> str:
    """Deterministic fake data for record `n`: the same template and n give the same record every run."""
    if what == 'n':
        return str(n)
    rng = random.Random(n)
    first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
    if what == 'name':
        return f'{first} {last}'
    if what == 'email':
        return f'{first.lower()}.{last.lower()}{n}@example.com'
    if what == 'uuid':
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return str(rng.randint(0, 999_999))


def render(template: str, n: int) -> str:
    return PLACEHOLDER.sub(lambda m: _fake(n, m.group(1)), template)


def generate_batches(body: GenerateBody):
    end = body.start + body.count
    for begin in range(body.start, end, BATCH):
        yield [(render(body.key_template, n), render(body.value_template, n), None)
               for n in range(begin, min(begin + BATCH, end))]


def checked_templates(body: GenerateBody) -> list[dict]:
    if body.count > 1 and '{n}' not in body.key_template:
        raise fail(400, 'the key template needs {n}: without it every record gets the same key')
    sample = [{'key': render(body.key_template, n), 'value': render(body.value_template, n)}
              for n in range(body.start, body.start + min(body.count, 3))]
    for record in sample:
        if problem := key_problem(record['key']):
            raise fail(400, f'key template: {problem}')
    if body.value_template.lstrip()[:1] in ('{', '['):
        try:
            json.loads(sample[0]['value'])
        except ValueError as exc:
            raise fail(400, f'the value template looks like JSON but renders invalid JSON ({exc}): '
                            f'{sample[0]["value"][:200]}') from None
    return sample
