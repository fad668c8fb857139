"""Sans-I/O pieces: frame parsing of both dialects, duplicate detection, backoff and retry policy."""

from __future__ import annotations

import json

from services.events.models import CompactionEvent, KeyChangeEvent
from services.events.policy import Timing, Verdict, classify_status, full_jitter_backoff
from services.events.protocol import Malformed, SeqTracker, parse_frame


def test_a_cdc_put_becomes_a_key_change_with_text_key_and_exact_value_bytes():
    frame = json.dumps({'type': 'put', 'cf': 'default', 'key': '757365723a31', 'value': [65, 108, 105, 99, 101],
                        'timestamp': 1760000000123456789})
    event = parse_frame(frame, 1 << 20)
    assert isinstance(event, KeyChangeEvent)
    assert (event.operation, event.key, event.key_is_hex, event.value, event.value_bytes) == (
        'put', 'user:1', False, 'Alice', b'Alice')
    assert event.timestamp == 1760000000123456789


def test_a_binary_cdc_key_is_shown_as_hex_and_a_delete_has_no_value():
    event = parse_frame(json.dumps({'type': 'delete', 'cf': 'default', 'key': 'ff00', 'timestamp': 1}), 1 << 20)
    assert (event.key, event.key_is_hex, event.value, event.operation) == ('0xff00', True, None, 'delete')


def test_extended_frames_parse_into_their_models():
    event = parse_frame('{"type":"compaction_status","status":"running","cf":"default","details":{"progress":0.5},'
                        '"seq":7}', 1 << 20)
    assert isinstance(event, CompactionEvent) and event.details['progress'] == 0.5 and event.seq == 7


def test_every_kind_of_bad_frame_is_named_not_raised():
    cases = {
        b'\x00\x01': 'binary',
        'x' * 101: 'oversize',
        '{"type": "key_change",': 'invalid_json',
        '[1,2]': 'not_object',
        '{"type": "mystery"}': 'unknown_type',
        '{"type": "key_change", "operation": 42, "key": ["x"]}': 'wrong_types',
        '{"type": "put", "key": "zz", "value": [1]}': 'wrong_types',
        '{"type": "put", "key": "61", "value": "not-bytes"}': 'wrong_types',
        '{"type": "put", "key": "61", "value": [300]}': 'wrong_types',
    }
    for frame, kind in cases.items():
        result = parse_frame(frame, 100)
        assert isinstance(result, Malformed) and result.kind == kind, (frame, result)


def test_sequence_tracker_drops_duplicates_and_knows_where_to_resume():
    tracker = SeqTracker()
    assert tracker.resume_params() == {}
    tracker.reset('e1')
    assert [tracker.accept(s) for s in (1, 2, 2, 1, 3)] == [True, True, False, False, True]
    assert tracker.resume_params() == {'since': '3', 'epoch': 'e1'}
    assert tracker.accept(None)


def test_full_jitter_backoff_doubles_to_the_cap_and_stays_in_range():
    timing = Timing(backoff_initial=0.5, backoff_max=30)
    assert [full_jitter_backoff(n, timing, rng=lambda: 1.0) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert full_jitter_backoff(3, timing, rng=lambda: 0.0) == 0.0


def test_status_policy():
    assert classify_status(401, 'websocket upgrade').verdict == Verdict.fatal_auth
    assert classify_status(403, 'sse').verdict == Verdict.fatal_auth
    assert classify_status(503, 'websocket upgrade').verdict == Verdict.fallback
    assert classify_status(503, 'sse').verdict == Verdict.retry
    assert classify_status(404, 'websocket upgrade').verdict == Verdict.fallback
    assert classify_status(429, 'long-poll').verdict == Verdict.retry
