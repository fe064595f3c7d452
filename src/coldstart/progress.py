"""Progress of a long loop as periodic log lines, for ``logs/info.log``.

A tqdm bar shows on the console only; a run at the paper's scale (a million users
evaluated, a world sampled, an ALS sweep) should also say in the log file where it
is and how long is left. :class:`ProgressLog` writes one INFO line at most every
``every_s`` seconds of wall time, and a closing line only when it wrote at least
one before, so a loop that ends quickly leaves nothing in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["ProgressLog", "duration"]

_logger = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min 5 s"``, ``"3 h 20 min"``: a duration as a person reads it."""
    whole = int(round(max(0.0, float(seconds))))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class ProgressLog:
    """Periodic ``done / total`` lines with the time left, at most every ``every_s`` seconds.

    Call :meth:`update` (or :meth:`advance`) as work is done and :meth:`close` at
    the end (or use it as a context manager; on an exception no closing line is
    written). The estimate of the time left assumes the rest goes at the average
    pace so far.

    Parameters
    ----------
    total : int
        Units of work in the whole loop.
    what : str
        What is being done, the start of every line (``"evaluation of mm"``).
    unit : str, default "items"
        Name of a unit of work (``"users"``).
    every_s : float, default 30
        Least wall time between two lines; the first line comes after this long.
    logger : logging.Logger, optional
        Where the lines go (default: this module's logger); pass the caller's so
        the line names the module that works.
    clock : callable, default time.monotonic
        Seconds; tests inject a fake one.
    enabled : bool, default True
        ``False`` writes nothing (a caller that may or may not log keeps one code path).
    """

    def __init__(
        self,
        total: int,
        what: str,
        *,
        unit: str = "items",
        every_s: float = 30.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        if every_s <= 0:
            raise ValueError(f"every_s must be > 0, got {every_s}")
        self.total = int(total)
        self.what = what
        self.unit = unit
        self.every_s = float(every_s)
        self.done = 0
        self.lines = 0  # lines written so far
        self._logger = logger or _logger
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self._closed = not enabled

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        self.update(self.done + n)

    def update(self, done: int) -> None:
        """Set the units done so far; writes a line when ``every_s`` passed since the last."""
        self.done = int(done)
        if self._closed:
            return
        now = self._clock()
        if now - self._last < self.every_s or self.done >= self.total:
            return  # the closing line reports the end
        self._last = now
        elapsed = now - self._started
        left = elapsed * (self.total - self.done) / self.done if self.done > 0 else None
        self._logger.info(
            "%s: %s / %s %s (%.0f %%), %s elapsed, %s",
            self.what,
            f"{self.done:,}",
            f"{self.total:,}",
            self.unit,
            100.0 * self.done / self.total if self.total else 100.0,
            duration(elapsed),
            f"about {duration(left)} left" if left is not None else "time left not known yet",
        )
        self.lines += 1

    def close(self) -> None:
        """The closing line (total and wall time), if any line was written before."""
        if self._closed:
            return
        self._closed = True
        elapsed = self._clock() - self._started
        if self.lines or elapsed >= self.every_s:
            self._logger.info(
                "%s: %s / %s %s done in %s",
                self.what,
                f"{self.done:,}",
                f"{self.total:,}",
                self.unit,
                duration(elapsed),
            )
            self.lines += 1

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True
