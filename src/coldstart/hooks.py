"""Project hooks."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

logger = logging.getLogger(__name__)


class MissingInputsError(RuntimeError):
    """A partial run (``--pipeline=...``) lacks inputs that another pipeline makes."""


def _producers() -> dict[str, list[str]]:
    """``dataset -> the project's pipelines whose nodes output it``.

    Built from the pipeline modules themselves: during a run, Kedro's registry
    loads only the pipeline being run.
    """
    import importlib
    import pkgutil

    import coldstart.pipelines as package

    makers: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        create = getattr(module, "create_pipeline", None)
        if create is not None:
            for dataset in create().all_outputs():
                makers.setdefault(dataset, []).append(info.name)
    return makers


class CheckInputsHooks:
    """Fail fast, before any node runs, when a partial run's inputs are not on disk.

    ``kedro run --pipeline=fusion`` retrains from the embeddings in the catalog; if
    they are not there the run would fail an hour in with a bare ``DatasetError``.
    This names every missing input and the command that makes it.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters":
                continue
            dataset = catalog.get(name)
            if dataset is None or isinstance(dataset, MemoryDataset):
                if dataset is None or not dataset.exists():
                    missing.append(name)
                continue
            if getattr(dataset, "_optional", False):
                continue
            if not dataset.exists():
                missing.append(name)
        if not missing:
            return
        lines = []
        commands = set()
        producers = _producers()
        for name in missing:
            makers = sorted(producers.get(name, []))
            commands.update(makers)
            lines.append(f"  - {name}" + (f"  (made by: {', '.join(makers)})" if makers else ""))
        hint = (
            "Make them first, e.g. `kedro run --pipeline="
            + "` / `kedro run --pipeline=".join(sorted(commands))
            + "`, "
            "or run everything with `kedro run`."
            if commands
            else "Run everything with `kedro run`."
        )
        raise MissingInputsError(
            f"This run needs {len(missing)} input(s) that are not in the catalog yet:\n"
            + "\n".join(lines)
            + f"\n{hint}"
        )
