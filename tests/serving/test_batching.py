"""The micro-batcher on its own (no model): shared batches, each caller's results, errors, closing."""

import threading
import time

import pytest

from skpneumo.serving import MicroBatcher


def test_concurrent_requests_share_a_batch_and_each_gets_its_own_results():
    calls, release = [], threading.Event()

    def predict(items):
        calls.append(list(items))
        release.wait(5)  # the first batch holds the worker while the others queue
        return [item * 10 for item in items]

    batcher = MicroBatcher(predict, max_batch_size=8, max_wait=0.2)
    try:
        first = batcher.submit([1])
        while not calls:
            time.sleep(0.001)
        later = [batcher.submit([k, k + 1]) for k in (2, 4, 6)]
        release.set()
        assert first.result(5) == [10]
        assert [f.result(5) for f in later] == [[20, 30], [40, 50], [60, 70]]
        assert calls == [[1], [2, 3, 4, 5, 6, 7]]  # the three queued requests in one call, in order
    finally:
        batcher.close()


def test_a_failing_batch_fails_its_requests_only_and_close_stops_the_worker():
    def predict(items):
        if "bad" in items:
            raise ValueError("no")
        return items

    batcher = MicroBatcher(predict, max_batch_size=1, max_wait=0)
    with pytest.raises(ValueError, match="no"):
        batcher.submit(["bad"]).result(5)
    assert batcher.submit(["good"]).result(5) == ["good"]
    assert batcher.call(lambda: 42).result(5) == 42
    assert batcher.alive
    batcher.close()
    assert not batcher.alive
    with pytest.raises(RuntimeError, match="stopped"):
        batcher.submit(["late"])
