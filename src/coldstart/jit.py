"""numba compilation that is cached on disk where it can be, and says so when it is slow.

The project's compiled kernels (the triplet reader, the evaluator, the recommender)
take seconds to tens of seconds to compile. numba's ``cache=True`` keeps the machine
code on disk (in ``__pycache__`` beside the module, else in the user's cache
directory, or in ``NUMBA_CACHE_DIR`` when set), so only the first run after an
install or a change of the source pays. Where no such directory is writable (a
read-only install with a read-only home), numba refuses ``cache=True`` outright;
:func:`njit` then compiles without a cache, with one warning, rather than fail.

numba is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["compile_notice", "njit"]

logger = logging.getLogger(__name__)

_warned: set[str] = set()


def njit(function: Callable | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, **options)``, or without the cache where none can be written.

    Used as ``@njit``, ``@njit(nogil=True)`` or ``njit(**options)(function)``.
    """
    import numba

    def decorate(fn: Callable) -> Any:
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
            if "no locator available" not in str(exc):
                raise
            module = getattr(fn, "__module__", "?")
            if module not in _warned:
                _warned.add(module)
                logger.warning(
                    "numba finds no writable cache directory for %s: its kernels are compiled "
                    "again in every process. Set NUMBA_CACHE_DIR to a writable directory to "
                    "keep them.",
                    module,
                )
            return numba.njit(**options)(fn)

    return decorate if function is None else decorate(function)


@contextmanager
def compile_notice(
    what: str,
    expected: str,
    *,
    after_s: float = 3.0,
    log: logging.Logger | None = None,
) -> Iterator[None]:
    """Say in the log that ``what`` is being compiled, when the block takes over ``after_s``.

    Wrap a call that only loads compiled kernels (from numba's cache: well under a
    second) or compiles them (the first run after an install: ``expected``, e.g.
    ``"~30 s"``). If the block is still running after ``after_s`` seconds, an INFO
    line says what is being compiled and how long it takes; when it ends, a second
    line gives the time it took. A block served from the cache writes nothing.
    """
    log = log or logger
    done = threading.Event()
    said = threading.Event()
    started = time.perf_counter()

    def notice() -> None:
        if not done.wait(after_s):
            said.set()
            log.info(
                "Compiling %s (%s; once per install or update where numba can keep it on disk)",
                what,
                expected,
            )

    timer = threading.Thread(target=notice, name="coldstart-compile-notice", daemon=True)
    timer.start()
    try:
        yield
    finally:
        done.set()
        timer.join()
        if said.is_set():
            log.info("Compiled %s in %.0f s", what, time.perf_counter() - started)
