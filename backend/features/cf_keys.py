"""Keys of any column family, and many keys' TTLs in one request (extensions: the real server has neither).

- `/cf/{cf}/keys…` and `/cf/{cf}/scan`: the current API's key routes (`backend/routes/keys.py`, same
  bodies, answers and permissions), addressed to the column family `{cf}` instead of `default`;
  404 `{"error":"column family not found"}` when there is no such family.
- `POST /keys/batch/ttl` (and `/cf/{cf}/keys/batch/ttl`): `{"keys":[…]}` → the TTL of each, as
  `GET /keys/{key}/ttl` answers it, so a page can show every row's TTL with a few bounded requests
  instead of one per key.

Documented in docs/extensions/cf_keys.md.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictStr
from starlette.requests import Request
from starlette.routing import Mount, Route

from ..http import backend_of, plain, read_body, require
from ..routes import keys
from ..tokens import Permission

MAX_TTL_KEYS = 1000


class TtlBatchBody(BaseModel):
    keys: list[StrictStr] = Field(max_length=MAX_TTL_KEYS)


async def batch_ttl(request: Request):
    """`{"ttls":[{"key","ttl_secs","expired"}…],"missing":[key…]}`, in the order asked."""
    require(request, Permission.Read)
    backend = backend_of(request)
    cf = keys.cf_of(request)
    body = await read_body(request, TtlBatchBody, backend.config.max_body_bytes)
    ttls, missing = [], []
    for key in body.keys:
        answer = keys.ttl_answer(backend, cf, key)
        if answer is None:
            missing.append(key)
        else:
            ttls.append(answer)
    return plain({'ttls': ttls, 'missing': missing})


BATCH_TTL = Route('/keys/batch/ttl', batch_ttl, methods=['POST'])

routes = [
    BATCH_TTL,
    Mount('/cf/{cf}', routes=[BATCH_TTL, *keys.routes]),
]
