"""A real Spark standalone cluster on 127.0.0.1: one master, N workers (tests, benchmark).

Started with ``spark-class`` from the ``pyspark`` package (Spark's own master and
worker daemons, not a stand-in), every port chosen free on loopback and every
daemon bound to 127.0.0.1 (``SPARK_LOCAL_IP``), so nothing listens beyond this
machine. Each daemon runs in its own process group; leaving the context manager
(or an error while starting) kills the groups, executors included.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def spark_home() -> Path:
    """The Spark distribution inside the installed ``pyspark`` package."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@dataclass
class LoopbackCluster:
    """A running cluster: its master URL, log folder and daemon processes."""

    master_url: str
    logs: Path
    master: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def kill_worker(self, number: int) -> None:
        """SIGKILL one worker and everything it started (its executor, Python workers)."""
        _kill_group(self.workers[number])

    def registered_workers(self) -> int:
        """Distinct workers the master has registered (from its log; a worker that lost
        its connection for a moment registers again under the same address)."""
        log = (self.logs / "master.log").read_text(errors="replace")
        return len(set(re.findall(r"Registering worker (\S+) with", log)))


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def _daemon(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    stream = open(log, "wb")  # noqa: SIM115 - the daemon writes it for its whole life
    try:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: killed with its children
        )
    finally:
        stream.close()


@contextlib.contextmanager
def loopback_cluster(
    work_dir: str | Path,
    n_workers: int = 2,
    cores_per_worker: int = 1,
    memory_per_worker: str = "1g",
    python_path: str | None = None,
    start_timeout_s: float = 120.0,
) -> Iterator[LoopbackCluster]:
    """Start a master and ``n_workers`` workers on loopback; stop them all on exit.

    ``python_path`` goes into the daemons' ``PYTHONPATH`` (their executors import
    the project from there). Raises ``TimeoutError`` when the workers have not
    registered within ``start_timeout_s``.
    """
    work = Path(work_dir)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_NO_DAEMONIZE": "1",
    }
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [python_path, env.get("PYTHONPATH")]))
    port = free_port()
    master_url = f"spark://{LOOPBACK}:{port}"
    started: list[subprocess.Popen] = []
    try:
        master = _daemon(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--webui-port",
                str(free_port()),
            ],
            logs / "master.log",
            env,
        )
        started.append(master)
        cluster = LoopbackCluster(master_url, logs, master)
        for number in range(n_workers):
            worker = _daemon(
                [
                    "org.apache.spark.deploy.worker.Worker",
                    master_url,
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(free_port()),
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    str(cores_per_worker),
                    "--memory",
                    memory_per_worker,
                    "--work-dir",
                    str(work / f"worker{number}"),
                ],
                logs / f"worker{number}.log",
                env,
            )
            started.append(worker)
            cluster.workers.append(worker)
        deadline = time.monotonic() + start_timeout_s
        while cluster.registered_workers() < n_workers:
            dead = [p.args[1] for p in started if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise TimeoutError(
                    f"Spark loopback cluster: {cluster.registered_workers()} of {n_workers} "
                    f"workers registered ({'exited: ' + ', '.join(dead) if dead else 'timed out'}); "
                    f"logs in {logs}"
                )
            time.sleep(0.5)
        yield cluster
    finally:
        for process in reversed(started):
            _kill_group(process)
