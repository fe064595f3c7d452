"""Where a run's time goes: wall seconds per node, saved as ``node_timings``.

The multi-seed study sums them per stage; a user reads the slowest nodes at the
end of every ``kedro run``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: Catalog entry the timings are saved to when the project declares it.
TIMINGS_DATASET = "node_timings"


class NodeTimingHooks:
    """Time every node; save ``{node: seconds}`` and log the slowest at the end."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._seconds: dict[str, float] = {}
        self._run_started = 0.0

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._started.clear()
        self._seconds.clear()
        self._run_started = time.perf_counter()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        started = self._started.pop(node.name, None)
        if started is not None:
            self._seconds[node.name] = round(time.perf_counter() - started, 3)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        total = round(time.perf_counter() - self._run_started, 3)
        slowest = sorted(self._seconds.items(), key=lambda item: -item[1])[:5]
        if slowest:
            logger.info(
                "Run took %.0f s; slowest nodes: %s",
                total,
                ", ".join(f"{name} {seconds:.0f} s" for name, seconds in slowest),
            )
        if TIMINGS_DATASET not in catalog:
            return
        catalog.save(
            TIMINGS_DATASET,
            {
                "pipelines": run_params.get("pipeline_names") or [run_params.get("pipeline_name")],
                "total_seconds": total,
                "nodes": dict(self._seconds),
            },
        )
