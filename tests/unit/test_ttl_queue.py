"""The explorer's TTL column: rows of a load are read at once; rows changed by live writes are read in waves."""

from __future__ import annotations

from app.pages.key_explorer.model import TTL_COALESCE_SECS, TtlQueue


def test_rows_of_a_load_are_read_at_once_batch_after_batch():
    queue = TtlQueue()
    queue.add([f'k{i}' for i in range(5)], now=100.0)

    assert queue.wait(100.0) == 0
    assert queue.take(3, 100.0) == ['k0', 'k1', 'k2']
    assert queue.wait(100.0) == 0
    assert queue.take(3, 100.0) == ['k3', 'k4']
    assert not queue


def test_a_steady_stream_of_writes_costs_one_read_per_wave_not_one_per_write():
    """200 writes/s for 10 s: the rows are read about twice a second, each time all of the wave's keys."""
    queue, reads, now = TtlQueue(), [], 0.0
    for i in range(2000):
        now = i / 200
        queue.add([f'k{i % 20}'], live=True, now=now)
        if queue.wait(now) == 0:
            reads.append(queue.take(500, now))

    assert len(reads) <= 10 / TTL_COALESCE_SECS + 1
    assert all(len(set(batch)) == len(batch) for batch in reads)
    assert {key for batch in reads for key in batch} == {f'k{i}' for i in range(20)}


def test_the_first_live_row_waits_for_its_neighbours_but_a_load_does_not_wait_behind_it():
    queue = TtlQueue()
    queue.add(['live'], live=True, now=10.0)
    assert queue.wait(10.0) == TTL_COALESCE_SECS

    queue.add(['loaded'], now=10.1)
    assert queue.wait(10.1) == 0 and queue.take(10, 10.1) == ['loaded']
    assert queue.wait(10.6) == 0 and queue.take(10, 10.6) == ['live']
