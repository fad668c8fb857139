"""Notes and tags (reference §2.9, the subset the console uses): notes are ordinary `note:{path}` keys.

Like the real server, notes live in the default column family, so writes emit key changes and show up
in the key explorer. Links (`[[target]]`), tags (`#tag`) and a simple `key: value` front matter are
parsed from the content on read.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import quote, unquote

from pydantic import BaseModel, StrictStr
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Scope

from ..http import backend_of, int_param, plain, plain_error, read_body, require
from ..storage import DEFAULT_CF, prefix_end
from ..tokens import Permission

NOTE_PREFIX = 'note:'
HISTORY_PREFIX = b'history:'  # in the system column family: history:{path}\0{ns:020d} -> content
MAX_NOTES = 10_000
_LINK = re.compile(r'\[\[([^\[\]|#]+)(?:[|#][^\[\]]*)?\]\]')
_TAG = re.compile(r'(?:^|\s)#([\w/-]+)')
_FRONT = re.compile(r'^---\n(.*?)\n---\n?', re.S)


class NoteBody(BaseModel):
    content: StrictStr


class SegmentRoute(Route):
    """Matches like the real server (actix): an encoded `%2F` stays inside its path segment.

    So `{path}` can be `projects/apex` (sent as `projects%2Fapex`), while `/notes/x/history` still means
    the history of `x`, not a note called `x/history` (uvicorn decodes `%2F` in `path`; `raw_path` keeps it).
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw = scope.get('raw_path')
        if scope['type'] != 'http' or not raw or scope.get('root_path'):
            return super().matches(scope)
        segments = raw.decode('latin-1').split('/')
        match, child = super().matches({**scope, 'path': '/'.join(quote(unquote(s), safe='') for s in segments)})
        if match is not Match.NONE:
            child['path_params'] = {name: unquote(value) if name in self.param_convertors else value
                                    for name, value in child['path_params'].items()}
        return match, child


def parse_note(content: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(front matter, links, tags) of a note's Markdown."""
    front: dict[str, str] = {}
    body = content
    if match := _FRONT.match(content):
        body = content[match.end():]
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(':')
            if sep and key.strip():
                front[key.strip()] = value.strip()
    links = sorted({link.strip() for link in _LINK.findall(body)})
    tags = sorted({tag.lower() for tag in _TAG.findall(body)})
    return front, links, tags


def _all_notes(request: Request) -> dict[str, str]:
    store = backend_of(request).store
    lower = NOTE_PREFIX.encode()
    rows = store.scan(DEFAULT_CF, lower, prefix_end(lower), limit=MAX_NOTES)
    return {k.decode(errors='replace')[len(NOTE_PREFIX):]: v.decode(errors='replace') for k, v in rows}


async def list_notes(request: Request):
    require(request, Permission.Read)
    prefix = request.query_params.get('prefix') or ''
    return plain({'notes': sorted(p for p in _all_notes(request) if p.startswith(prefix))})


async def get_note(request: Request):
    require(request, Permission.Read)
    path = request.path_params['path']
    notes = _all_notes(request)
    if path not in notes:
        raise plain_error(404, 'note not found')
    front, links, tags = parse_note(notes[path])
    backlinks = sorted(p for p, content in notes.items() if p != path and path in parse_note(content)[1])
    return plain({'path': path, 'content': notes[path], 'frontmatter': front, 'links': links,
                  'backlinks': backlinks, 'tags': tags})


def _history_key(path: str, timestamp: int) -> bytes:
    return HISTORY_PREFIX + path.encode() + b'\0' + f'{timestamp:020d}'.encode()


def _record_version(backend, path: str, content: str) -> int:
    timestamp = backend.now()
    backend.store.system_put(_history_key(path, timestamp), content.encode())
    return timestamp


def _versions(backend, path: str) -> dict[int, bytes]:
    prefix = HISTORY_PREFIX + path.encode() + b'\0'
    return {int(k[len(prefix):]): v for k, v in backend.store.system_items(prefix)}


async def put_note(request: Request):
    require(request, Permission.Write)
    path = request.path_params['path']
    body = await read_body(request, NoteBody, backend_of(request).config.max_body_bytes)
    backend_of(request).write([(NOTE_PREFIX + path, body.content, None)])
    _record_version(backend_of(request), path, body.content)
    return plain({'status': 'ok', 'path': path})


async def note_history(request: Request):
    require(request, Permission.Read)
    path = request.path_params['path']
    return plain({'path': path, 'versions': sorted(_versions(backend_of(request), path))})


def _timestamp(raw: str | None) -> int:
    try:
        return int(raw or '')
    except ValueError:
        raise plain_error(400, 'timestamp must be an integer') from None


async def note_version(request: Request):
    require(request, Permission.Read)
    path, timestamp = request.path_params['path'], _timestamp(request.path_params['timestamp'])
    content = _versions(backend_of(request), path).get(timestamp)
    if content is None:
        raise plain_error(404, 'version not found')
    return plain({'path': path, 'timestamp': timestamp, 'content': content.decode(errors='replace')})


async def delete_version(request: Request):
    require(request, Permission.Delete)
    path, timestamp = request.path_params['path'], _timestamp(request.path_params['timestamp'])
    backend_of(request).store.system_delete(_history_key(path, timestamp))
    return plain({'status': 'ok'})


async def restore_version(request: Request):
    require(request, Permission.Write)
    backend = backend_of(request)
    path, timestamp = request.path_params['path'], _timestamp(request.query_params.get('timestamp'))
    content = _versions(backend, path).get(timestamp)
    if content is None:
        raise plain_error(404, 'version not found')
    text = content.decode(errors='replace')
    backend.write([(NOTE_PREFIX + path, text, None)])
    _record_version(backend, path, text)
    return plain({'status': 'ok', 'path': path, 'restored_from': timestamp})


async def snapshot_note(request: Request):
    require(request, Permission.Admin)
    path = request.path_params['path']
    notes = _all_notes(request)
    if path not in notes:
        raise plain_error(404, 'note not found')
    return plain({'status': 'ok', 'timestamp': _record_version(backend_of(request), path, notes[path])})


async def delete_note(request: Request):
    require(request, Permission.Delete)
    backend_of(request).write([(NOTE_PREFIX + request.path_params['path'], None, None)])
    return plain({'status': 'ok'})


async def note_links(request: Request):
    require(request, Permission.Read)
    notes = _all_notes(request)
    path = request.path_params['path']
    if path not in notes:
        raise plain_error(404, 'note not found')
    return plain({'links': parse_note(notes[path])[1]})


async def note_backlinks(request: Request):
    require(request, Permission.Read)
    path = request.path_params['path']
    notes = _all_notes(request)
    return plain({'backlinks': sorted(p for p, c in notes.items() if p != path and path in parse_note(c)[1])})


async def note_graph(request: Request):
    """Notes within `depth` hops of one note, along links in both directions: `{root, nodes, edges}`."""
    require(request, Permission.Read)
    root = request.path_params['path']
    depth = max(1, min(int_param(request, 'depth', 1, 5), 5))
    max_nodes = max(1, int_param(request, 'max_nodes', 100, 500))
    notes = _all_notes(request)
    if root not in notes:
        raise plain_error(404, 'note not found')
    links = {path: parse_note(content)[1] for path, content in notes.items()}
    seen, frontier, edges = {root}, [root], set()
    for _ in range(depth):
        following = []
        for path in frontier:
            neighbours = links.get(path, []) + [p for p, targets in links.items() if path in targets]
            for other in neighbours:
                edges.add((path, other) if other in links.get(path, []) else (other, path))
                if other not in seen and len(seen) < max_nodes:
                    seen.add(other)
                    following.append(other)
        frontier = following
    nodes = [{'id': p, 'label': p, 'type': 'note' if p in notes else 'missing'} for p in sorted(seen)]
    return plain({'root': root, 'nodes': nodes,
                  'edges': [{'source': s, 'target': t} for s, t in sorted(edges) if s in seen and t in seen]})


async def list_tags(request: Request):
    require(request, Permission.Read)
    counts = Counter(tag for content in _all_notes(request).values() for tag in parse_note(content)[2])
    return plain({'tags': [{'tag': tag, 'count': n} for tag, n in sorted(counts.items())]})


async def tag_notes(request: Request):
    require(request, Permission.Read)
    tag = request.path_params['tag'].lower()
    limit = int_param(request, 'limit', 50, 1000)
    matching = sorted(p for p, c in _all_notes(request).items() if tag in parse_note(c)[2])
    return plain({'tag': tag, 'notes': matching[:limit], 'cursor': None})


routes = [
    Route('/notes', list_notes, methods=['GET']),
    SegmentRoute('/notes/{path}/links', note_links, methods=['GET']),
    SegmentRoute('/notes/{path}/backlinks', note_backlinks, methods=['GET']),
    SegmentRoute('/notes/{path}/graph', note_graph, methods=['GET']),
    SegmentRoute('/notes/{path}/history', note_history, methods=['GET']),
    SegmentRoute('/notes/{path}/history/{timestamp}', note_version, methods=['GET']),
    SegmentRoute('/notes/{path}/history/{timestamp}', delete_version, methods=['DELETE']),
    SegmentRoute('/notes/{path}/restore', restore_version, methods=['POST']),
    SegmentRoute('/notes/{path}/snapshot', snapshot_note, methods=['POST']),
    SegmentRoute('/notes/{path}', get_note, methods=['GET']),
    SegmentRoute('/notes/{path}', put_note, methods=['PUT']),
    SegmentRoute('/notes/{path}', delete_note, methods=['DELETE']),
    Route('/tags', list_tags, methods=['GET']),
    SegmentRoute('/tags/{tag}/notes', tag_notes, methods=['GET']),
]
