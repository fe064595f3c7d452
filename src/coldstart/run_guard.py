"""What keeps ``kedro run``s apart: the data-root lock, MLflow run status, secret refusal.

* :class:`RunLock` -- one run at a time per ``data_root``. An ``flock`` on
  ``<data_root>/.kedro_run.lock`` is the exclusion (the kernel drops it when the
  holder dies, even on ``kill -9``); the file's content names the holder (pid,
  host, start time, command) for the refusal message, and a leftover content whose
  process is gone is taken over with a warning.
* :func:`end_stale_runs` -- MLflow runs left ``RUNNING`` by a process that no longer
  exists (recorded by the ``coldstart.pid`` / ``coldstart.host`` tags) and their
  nested row runs are marked ``KILLED``.
* :func:`secret_parameters` -- parameter paths whose name says they hold a secret:
  kedro-mlflow would log them as parameters and in the ``runtime_params`` tag.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCK_NAME = ".kedro_run.lock"
PID_TAG = "coldstart.pid"
HOST_TAG = "coldstart.host"
STARTED_TAG = "coldstart.started"
ENDED_TAG = "coldstart.ended_by"
#: A parameter whose last name is one of these holds a secret, whatever its value.
SECRET_NAMES = frozenset({"key", "api_key", "apikey", "token", "password", "secret"})


class RunLockedError(RuntimeError):
    """Another ``kedro run`` holds the lock of the same ``data_root``."""


class SecretParameterError(ValueError):
    """A secret was given as a parameter (it would be logged to MLflow)."""


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """The exclusive lock of one ``data_root`` for the length of one run."""

    def __init__(self, data_root: Path) -> None:
        self.path = Path(data_root) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming its holder."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"Another `kedro run` is using data_root {self.path.parent}: "
                f"{_describe(holder)} (lock file {self.path}). Two runs on one data_root "
                "would read each other's outputs and log onto each other's MLflow runs; "
                "wait for it to finish, or give this run its own "
                "`--params=data_root=...`."
            ) from None
        holder = _read_holder(fd)
        if holder:
            # we hold the flock, so its writer is gone: a killed run's leftover
            logger.warning(
                "Taking over the lock of data_root %s left by a run that is gone: %s",
                self.path.parent,
                _describe(holder),
            )
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:500],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Empty the lock file (never unlink it: a waiter may hold its inode) and unlock."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_holder(fd: int) -> dict[str, Any]:
    text = os.pread(fd, 65536, 0).decode("utf-8", "replace").strip()
    if not text:
        return {}
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {"unreadable": text[:200]}
    return holder if isinstance(holder, dict) else {"unreadable": text[:200]}


def _describe(holder: Mapping[str, Any]) -> str:
    if not holder:
        return "a run that has not written its name yet"
    if "unreadable" in holder:
        return f"an unreadable lock record {holder['unreadable']!r}"
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')}, started "
        f"{holder.get('started')} (`{holder.get('command', '?')}`)"
    )


def end_stale_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark ``KILLED`` the ``RUNNING`` runs of this host whose process is gone.

    Their nested (row) runs still ``RUNNING`` are marked too. Returns the ids marked.
    """
    host = socket.gethostname()
    marked: list[str] = []
    parents = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
    )
    for run in parents:
        pid = int(run.data.tags.get(PID_TAG, "0") or 0)
        if pid <= 0 or pid == os.getpid() or process_alive(pid):
            continue
        reason = f"stale: process {pid} on {host} ended without closing its run"
        children = client.search_runs(
            [experiment_id],
            filter_string=(
                f"attributes.status = 'RUNNING' and tags.`mlflow.parentRunId` = '{run.info.run_id}'"
            ),
        )
        for stale in [*children, run]:
            client.set_tag(stale.info.run_id, ENDED_TAG, reason)
            client.set_terminated(stale.info.run_id, "KILLED")
            marked.append(stale.info.run_id)
        logger.warning(
            "MLflow run %s (%s) was left RUNNING by process %d, which is gone: marked KILLED",
            run.info.run_id,
            run.info.run_name,
            pid,
        )
    return marked


def end_active_runs(status: str, reason: str, keep: str | None = None) -> list[str]:
    """End the MLflow runs active in this thread (nested first) with ``status``.

    Stops at run ``keep`` (a run opened outside ``kedro run``, left open).
    """
    import mlflow

    ended = []
    while (run := mlflow.active_run()) is not None and run.info.run_id != keep:
        try:
            mlflow.set_tag(ENDED_TAG, reason[:500])
        finally:
            mlflow.end_run(status)
        ended.append(run.info.run_id)
    return ended


def secret_parameters(params: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """The dotted paths in ``params`` whose last name marks a secret (values never shown)."""
    for name, value in params.items():
        path = f"{prefix}{name}"
        # `--params=a.b.key=...` may arrive as one dotted name
        if str(name).rsplit(".", 1)[-1].lower() in SECRET_NAMES and value not in (None, "", {}):
            yield path
        if isinstance(value, Mapping):
            yield from secret_parameters(value, f"{path}.")
