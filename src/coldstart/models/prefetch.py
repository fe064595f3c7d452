"""Batches assembled ahead in a background thread while the model trains on the last one.

Keras asks a ``PyDataset`` for batch ``i`` and then trains on it; with one worker
the next batch is only assembled once the step is done, so the accelerator waits
for NumPy. :class:`BatchPrefetcher` keeps up to ``depth`` of the following batches
in flight on one thread (NumPy's copies release the GIL, so they overlap the
step). Keras' own ``workers`` start a thread per batch and lose more to the GIL
than they win; one thread ahead is what a vectorised batch needs.

Memory is bounded: at most ``depth`` batches wait. The batches are the same
whether prefetched or not: each is computed from the sample rows fixed when it
was asked for, and :meth:`reset` (before an epoch's reshuffle) drops the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BatchPrefetcher:
    """Serve ``make(i)`` for ``i`` in ``0..n-1``, computing the next ``depth`` ahead.

    Parameters
    ----------
    make
        ``make(index) -> batch``; must depend only on state that :meth:`reset`
        guards (the sample order, the patch starts).
    n_batches
        Batches per epoch (``len`` of the dataset).
    depth
        Batches computed ahead; 0 computes each batch when asked, in the caller.
    """

    def __init__(self, make: Callable[[int], Any], n_batches: int, depth: int = 2) -> None:
        self.make = make
        self.n_batches = int(n_batches)
        self.depth = max(int(depth), 0)
        self._pending: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = None

    def get(self, index: int) -> Any:
        """Batch ``index``: from the queue when it was prefetched, else made now."""
        future = self._pending.pop(index, None)
        batch = future.result() if future is not None else self.make(index)
        if self.depth:
            self._schedule(index)
        return batch

    def _schedule(self, index: int) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="coldstart-batches")
        # batches behind the one asked for will not be asked for in this pass
        for stale in [i for i in self._pending if i <= index]:
            self._pending.pop(stale).cancel()
        for ahead in range(index + 1, min(index + 1 + self.depth, self.n_batches)):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(self.make, ahead)

    def reset(self) -> None:
        """Drop queued batches (wait for a running one): call before changing the order."""
        for future in self._pending.values():
            future.cancel()
        for future in self._pending.values():
            if not future.cancelled():
                future.exception()  # waits; an error there concerns a batch nobody wants
        self._pending.clear()

    def close(self) -> None:
        """Drop the queue and stop the thread."""
        self.reset()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
