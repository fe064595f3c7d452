"""Bounded waits of the test suite, scaled for slow or busy machines.

Every test that waits for something (a process, a server, a file, an MLflow run)
waits for the event itself and gives up only after a generous bound, so that a
slow machine makes a test slower, never red. The bounds are multiplied by
``COLDSTART_TEST_TIMEOUT_SCALE`` (default 1): ``COLDSTART_TEST_TIMEOUT_SCALE=4
make test`` on a machine that is four times slower or shared.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCALE_VARIABLE = "COLDSTART_TEST_TIMEOUT_SCALE"


def timeout_scale() -> float:
    """The factor of ``COLDSTART_TEST_TIMEOUT_SCALE``; 1 when unset."""
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"{SCALE_VARIABLE}={raw!r} is not a number") from None
    if scale <= 0:
        raise ValueError(f"{SCALE_VARIABLE}={raw!r} must be greater than 0")
    return scale


def scaled(seconds: float) -> float:
    """``seconds`` times :func:`timeout_scale`: the bound of one wait."""
    return seconds * timeout_scale()


def wait_for(
    condition: Callable[[], Any],
    timeout_s: float,
    what: str,
    *,
    interval_s: float = 0.5,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> Any:
    """Poll ``condition()`` until it returns something truthy and return that.

    ``timeout_s`` is scaled (:func:`scaled`). With ``process`` the wait stops as soon
    as that process has exited, since what it waited for can no longer come; the
    failure then shows the end of ``log``. A ``condition`` that raises counts as not
    yet (a store that does not exist yet, a file being written).
    """
    bound = scaled(timeout_s)
    deadline = time.monotonic() + bound
    while True:
        try:
            value = condition()
        except Exception:  # not there yet: the store may not exist or be mid-migration
            value = None
        if value:
            return value
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.is_file() else ""
            raise AssertionError(
                f"the process (pid {process.pid}) exited with {process.returncode} "
                f"before {what}\n{tail}"
            )
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {bound:.0f} s waiting for {what} "
                f"(raise {SCALE_VARIABLE} on a slow machine)"
            )
        time.sleep(interval_s)
