"""Micro-batching: one worker thread owns the model; requests arriving together share a batch."""

import queue
import threading
import time
from concurrent.futures import Future


class _Job:
    __slots__ = ("items", "call", "future")

    def __init__(self, items, call):
        self.items, self.call, self.future = items, call, Future()


_STOP = object()


class MicroBatcher:
    """Run ``predict`` on the items of concurrent requests in shared batches, on one thread.

    The worker takes the first waiting request, then gathers more for at most
    ``max_wait`` seconds or until ``max_batch_size`` items are waiting, and calls
    ``predict`` once on all of them, as TorchServe and BentoML batch. Other work for
    the model (:meth:`call`) runs on the same thread, alone, so that only this
    thread ever touches the model.

    Parameters
    ----------
    predict : callable
        Takes a list of items and returns a list of as many results, in order.
    max_batch_size : int
        Items after which the worker stops gathering (one request larger than this
        is still predicted whole).
    max_wait : float
        Seconds the worker waits for more requests after the first one.
    """

    def __init__(self, predict, max_batch_size, max_wait):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self._queue = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="skpneumo-model", daemon=True)
        self._thread.start()

    def submit(self, items):
        """Queue ``items`` for prediction; a Future of their results, in order."""
        return self._put(_Job(list(items), None))

    def call(self, func):
        """Queue ``func()`` to run alone on the model's thread; a Future of its result."""
        return self._put(_Job(None, func))

    def _put(self, job):
        with self._lock:
            if self._closed:
                raise RuntimeError("the model's worker has stopped")
            self._queue.put(job)
        return job.future

    @property
    def alive(self):
        """Whether the worker takes new requests."""
        return not self._closed and self._thread.is_alive()

    def close(self):
        """Finish every queued request, then stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self):
        pending = None
        while True:
            job = pending if pending is not None else self._queue.get()
            pending = None
            if job is _STOP:
                return
            if job.call is not None:
                _settle(job.future, job.call)
                continue
            batch, n = [job], len(job.items)
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch_size:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is _STOP or nxt.call is not None:
                    pending = nxt  # after this batch
                    break
                batch.append(nxt)
                n += len(nxt.items)
            self._predict(batch)

    def _predict(self, batch):
        items = [item for job in batch for item in job.items]
        try:
            results = self.predict(items)
        except BaseException as exc:  # the callers' error: every request of the batch gets it
            for job in batch:
                job.future.set_exception(exc)
            return
        start = 0
        for job in batch:
            job.future.set_result(results[start:start + len(job.items)])
            start += len(job.items)


def _settle(future, func):
    try:
        future.set_result(func())
    except BaseException as exc:  # handed to the caller, whose request answers with it
        future.set_exception(exc)
