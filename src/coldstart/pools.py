"""Worker-process pools that stop within seconds on Ctrl-C or SIGTERM, leaving no orphans.

What goes wrong with a plain ``with ProcessPoolExecutor(...)`` on a signal:

* the ``KeyboardInterrupt`` is raised wherever the main thread happens to be, possibly
  inside the executor's own locking, and ``__exit__`` then waits for every queued
  task (minutes) -- or forever, when the interrupted code held a lock;
* Ctrl-C in a terminal reaches the workers too, each dying with its own traceback;
* SIGTERM kills the parent only: the workers, blocked on their task queue, live on.

:func:`run_in_processes` avoids all three: while the pool runs, SIGINT and SIGTERM only
set a flag; the parent, polling its futures, sees it, cancels what has not started,
terminates the workers (which ignore SIGINT: stopping is the parent's decision), joins
them, and then hands the signal to the handler that was there before (in a Kedro run,
:class:`coldstart.hooks.RunGuardHooks`' raises :class:`StoppedBySignal`). The caller
logs what was kept.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

logger = logging.getLogger(__name__)

#: how often the parent looks at the stop flag while its workers run
POLL_S = 0.2
#: how long a terminated worker gets before it is killed
JOIN_S = 5.0


class StoppedBySignal(KeyboardInterrupt):
    """The run was stopped by ``signal_name`` (``"SIGINT"`` or ``"SIGTERM"``).

    A ``KeyboardInterrupt``, so everything that treats Ctrl-C as "stop, do not
    report a failure" (Kedro's runner, :class:`coldstart.hooks.RunGuardHooks`) does.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name


def signal_name(error: BaseException) -> str:
    """The signal behind a ``KeyboardInterrupt``: its own name, else ``SIGINT`` (Ctrl-C)."""
    return getattr(error, "signal_name", "SIGINT")


def worker_context() -> multiprocessing.context.BaseContext:
    """``fork`` where available and no threaded ML framework is loaded, else ``spawn``.

    Fork starts workers instantly and works from unguarded scripts; with TensorFlow or
    PyTorch already imported in the parent, fork is not safe and spawn is used.
    """
    heavy = any(m in sys.modules for m in ("tensorflow", "torch", "jax"))
    if not heavy and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def ignore_interrupts() -> None:
    """Worker initializer: ignore Ctrl-C, die on SIGTERM (the parent's decision, both).

    A forked worker inherits the parent's Python handlers; these reset them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """While inside, SIGINT and SIGTERM set the yielded event (its ``.signal_name`` too).

    Outside the main thread signals cannot be handled: the event is never set there
    and the previous behaviour stays. The previous handlers are back on exit.
    """
    requested = threading.Event()
    requested.signal_name = ""  # type: ignore[attr-defined]

    def note(signum: int, frame: Any) -> None:
        requested.signal_name = signal.Signals(signum).name  # type: ignore[attr-defined]
        requested.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, note)
    try:
        yield requested
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Drop the jobs not started, end the workers, reap them."""
    # before 3.14 (``terminate_workers``) the executor has no public way to its workers
    processes = list((getattr(pool, "_processes", None) or {}).values())
    # the executor cancels the queued jobs itself: a future cancelled from here while
    # still queued makes its manager thread fail (InvalidStateError, Python 3.11) when
    # it then finds the workers gone
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        process.join(JOIN_S)
        if process.is_alive():
            process.kill()
            process.join()


def run_in_processes(
    function: Callable[..., Any],
    jobs: Sequence[tuple],
    *,
    n_workers: int,
    mp_context: Any = None,
    on_result: Callable[[int, Any], None],
) -> None:
    """``function(*job)`` for every job in ``n_workers`` worker processes.

    ``on_result(index, result)`` runs in this process as each job finishes, in
    completion order; an exception in a job is raised here once the pool is
    stopped. On SIGINT or SIGTERM (to this process alone or to its whole group) the
    jobs not started are cancelled, the workers terminated and reaped within about
    :data:`JOIN_S` seconds, and the signal re-raised for the previous handler
    (:class:`StoppedBySignal` when that handler ignores it).
    """
    pool = ProcessPoolExecutor(
        max_workers=n_workers, mp_context=mp_context, initializer=ignore_interrupts
    )
    futures: list[Future] = []
    with stop_requests() as stop:
        try:
            index_of = {}
            for index, job in enumerate(jobs):
                future = pool.submit(function, *job)
                index_of[future] = index
                futures.append(future)
            pending = set(futures)
            while pending and not stop.is_set():
                finished, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    on_result(index_of[future], future.result())
        except BaseException:
            _terminate(pool)
            raise
        if pending:
            _terminate(pool)
    if pending:
        # the workers are gone: hand the signal to whoever handled it before (a Kedro
        # run's hook records it and raises; Python's default raises KeyboardInterrupt
        # for SIGINT and ends the process for SIGTERM), as if it came just now
        name = stop.signal_name  # type: ignore[attr-defined]
        signal.raise_signal(getattr(signal, name))
        raise StoppedBySignal(name)  # the previous handler ignored it: still stopped
    pool.shutdown(wait=True)
