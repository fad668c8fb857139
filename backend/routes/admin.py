"""Stats, metrics, flush/compaction and health probes (reference §2.1, §2.6, §2.7)."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from ..http import backend_of, envelope, plain, plain_error, require
from ..storage import DEFAULT_CF
from ..tokens import Permission

METRIC_NAMES = ['sets', 'gets', 'deletes', 'scans', 'batch_sets', 'batch_deletes', 'flushes', 'compactions',
                'set_latency_us', 'get_latency_us', 'delete_latency_us', 'scan_latency_us', 'flush_latency_us',
                'compaction_latency_us', 'cache_hits', 'cache_misses', 'bloom_filter_negatives', 'errors']


def engine_stats(backend) -> dict[str, int]:
    stats = backend.store.cf_stats(DEFAULT_CF)
    return {'sst_files': stats['sst_files'], 'sst_kb': stats['sst_bytes'] // 1024,
            'mem_records': stats['mem_records'], 'mem_kb': stats['mem_bytes'] // 1024,
            'wal_kb': backend.store.wal_bytes() // 1024, 'total_records': stats['total_records'],
            'max_levels_reached': stats['max_levels_reached']}


async def stats(request: Request):
    require(request, Permission.Read)
    return plain(engine_stats(backend_of(request)))


async def stats_all(request: Request):
    require(request, Permission.Read)
    data = engine_stats(backend_of(request))
    data.pop('max_levels_reached')
    response = envelope(data)
    response.headers['Deprecation'] = 'true'
    response.headers['Sunset'] = 'Sat, 31 Dec 2026 23:59:59 GMT'
    return response


async def metrics(request: Request):
    require(request, Permission.Read)
    counters = backend_of(request).counters
    lines = []
    for name in METRIC_NAMES:
        metric = f'apexstore_{name}_total'
        lines += [f'# HELP {metric} Total {name.replace("_", " ")}', f'# TYPE {metric} counter',
                  f'{metric} {counters.get(name, 0)}']
    return PlainTextResponse('\n'.join(lines) + '\n', media_type='text/plain; charset=utf-8')


async def flush(request: Request):
    require(request, Permission.Admin)
    try:
        await backend_of(request).flush(DEFAULT_CF)
    except Exception:  # noqa: BLE001 - the real server's answer for any engine failure
        raise plain_error(500, 'flush failed') from None
    return plain({'status': 'ok'})


async def compact(request: Request):
    require(request, Permission.Admin)
    try:
        results = await backend_of(request).compact_all()
    except Exception:  # noqa: BLE001
        raise plain_error(500, 'compaction failed') from None
    return plain({'compactions': [{'cf': r.cf, 'files_merged': r.files_merged, 'bytes_read': r.bytes_read,
                                   'bytes_written': r.bytes_written} for r in results]})


async def rate_limits(request: Request):
    require(request, Permission.Admin)
    return plain({'global_limit': 0, 'endpoint_limits': {'/admin/compact': 5, '/admin/flush': 5}, 'tracked_ips': []})


async def dashboard(request: Request):
    require(request, Permission.Read)  # it shows what /stats shows
    backend = backend_of(request)
    stats_row = ''.join(f'<tr><td>{html.escape(k)}</td><td>{v}</td></tr>' for k, v in engine_stats(backend).items())
    families = ''.join(f'<li>{html.escape(cf)}</li>' for cf in backend.store.column_families())
    return HTMLResponse(f'<!doctype html><html><head><meta http-equiv="refresh" content="5"><title>ApexStore</title>'
                        f'</head><body><h1>ApexStore (embedded)</h1><table>{stats_row}</table>'
                        f'<h2>Column families</h2><ul>{families}</ul></body></html>')


def _probe_body(backend, endpoint: str) -> tuple[dict, int]:
    status, reason = backend.probe(endpoint)
    if status != 'healthy':
        code = 500 if endpoint == 'check' else 503
        return {'status': 'error', 'service': 'apexstore', 'endpoint': endpoint, 'reason': reason}, code
    body: dict = {'status': 'ok', 'service': 'apexstore', 'endpoint': endpoint}
    if endpoint != 'liveness':
        stats = engine_stats(backend)
        body['details'] = {'sst_files': stats['sst_files'], 'wal_kb': stats['wal_kb'],
                           'mem_records': stats['mem_records']}
    return body, 200


async def probe(request: Request):
    endpoint = request.url.path.rsplit('/', 1)[-1]
    body, code = _probe_body(backend_of(request), endpoint)
    return plain(body, code)


async def check(request: Request):
    backend = backend_of(request)
    failing = [name for name in ('liveness', 'readiness', 'startup') if backend.probe(name)[0] != 'healthy']
    if failing:
        reason = '; '.join(f'{name}: {backend.probe(name)[1]}' for name in failing)
        return plain({'status': 'error', 'service': 'apexstore', 'endpoint': 'check', 'reason': reason}, 500)
    stats = engine_stats(backend)
    return plain({'status': 'ok', 'service': 'apexstore', 'endpoint': 'check', 'uptime_secs': backend.uptime_secs(),
                  'details': {'memtable_records': stats['mem_records'], 'sstable_files': stats['sst_files'],
                              'wal_size_kb': stats['wal_kb'], 'total_records': stats['total_records']}})


routes = [
    Route('/metrics', metrics, methods=['GET']),
    Route('/stats', stats, methods=['GET']),
    Route('/stats/all', stats_all, methods=['GET']),
    Route('/admin/flush', flush, methods=['POST']),
    Route('/admin/compact', compact, methods=['POST']),
    Route('/admin/rate_limits', rate_limits, methods=['GET']),
    Route('/admin/dashboard', dashboard, methods=['GET']),
    Route('/health/liveness', probe, methods=['GET']),
    Route('/health/readiness', probe, methods=['GET']),
    Route('/health/startup', probe, methods=['GET']),
    Route('/health/check', check, methods=['GET']),
]
