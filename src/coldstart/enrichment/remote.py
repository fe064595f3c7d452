"""Errors of remote services and the retry-with-backoff loop shared by the clients.

Three outcomes of a remote call that did not give an answer:

* :class:`TransientError` - a timeout, a refused connection, a 5xx, an answer
  that is not the JSON it should be. Retried with exponential backoff; when
  the retries are spent it becomes :class:`RemoteUnavailableError`.
* :class:`RemoteUnavailableError` (and its :class:`QuotaExceededError`) - the
  service cannot be used now. The enrichment stops cleanly: everything already
  cached stays, and the message says how many artists/entities are left.
* :class:`RemoteRequestError` - this one request was refused (e.g. HTTP 400 for
  one text). The item is recorded as failed and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from coldstart.logsafe import plain

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RemoteError(RuntimeError):
    """Base class of the remote-service errors."""


class TransientError(RemoteError):
    """A failure worth retrying (timeout, connection, 5xx, malformed answer)."""


class RemoteUnavailableError(RemoteError):
    """The service cannot be used now; stop and keep what is cached."""


class QuotaExceededError(RemoteUnavailableError):
    """The service's (daily) request quota is used up."""


class RemoteRequestError(RemoteError):
    """The service refused this particular request; skip the item."""


class EnrichmentIncompleteError(RuntimeError):
    """The enrichment stopped before every artist or entity was done."""


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    max_retries: int,
    backoff_s: float,
    max_backoff_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; retry :class:`TransientError` up to ``max_retries`` times.

    Waits ``backoff_s * 2**attempt`` seconds (capped at ``max_backoff_s``)
    between attempts. Other exceptions propagate at once.

    Raises
    ------
    RemoteUnavailableError
        When every attempt failed with a transient error.
    """
    attempt = 0
    while True:
        try:
            return call()
        except TransientError as exc:
            if attempt >= max_retries:
                raise RemoteUnavailableError(
                    f"{what}: {exc} (gave up after {attempt + 1} attempts)"
                ) from None
            wait = min(max_backoff_s, backoff_s * (2**attempt))
            logger.warning(
                "%s: %s; retry %d/%d in %.1f s",
                plain(what),
                plain(exc),
                attempt + 1,
                max_retries,
                wait,
            )
            sleep(wait)
            attempt += 1
