"""Project hooks.

Kedro calls hook implementations last-registered first, and plugins (kedro-mlflow)
register after ``settings.HOOKS``: a plain project ``before_pipeline_run`` runs
*after* kedro-mlflow has started its MLflow run and logged the run parameters.
What must happen before anything is logged is therefore a pluggy ``wrapper``
(:class:`RunGuardHooks`), whose code before ``yield`` runs before every plain
implementation and whose ``except`` sees the error of any of them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class MissingInputsError(RuntimeError, click.ClickException):
    """A partial run (``--pipelines=...``) lacks inputs that another pipeline makes.

    A ``ClickException``: the ``kedro`` command prints the list alone, not a traceback.
    """

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)
        click.ClickException.__init__(self, message)


def _producers() -> dict[str, list[str]]:
    """``dataset -> the project's pipelines whose nodes output it``.

    Built from the pipeline modules themselves: during a run, Kedro's registry
    loads only the pipeline being run.
    """
    from coldstart.pipeline_registry import stage_pipelines

    makers: dict[str, list[str]] = {}
    for name, pipe in stage_pipelines().items():
        for dataset in pipe.all_outputs():
            makers.setdefault(dataset, []).append(name)
    return makers


class CheckInputsHooks:
    """Fail fast, before any node runs, when a partial run's inputs are not on disk.

    ``kedro run --pipelines=fusion`` retrains from the embeddings in the catalog; if
    they are not there the run would fail an hour in with a bare ``DatasetError``.
    This names every missing input, where it was looked for and the command that
    makes it. An input the catalog marks ``optional`` (a raw folder such as
    ``audio/``, which ingestion reads as "no audio") may be absent, unless a node of
    the run is tagged as needing it on disk (:func:`coldstart.datasets.raw.needs_on_disk`).
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        missing = [
            name for name in sorted(pipeline.inputs()) if _is_missing(name, catalog, pipeline)
        ]
        if not missing:
            return
        lines = []
        commands = set()
        producers = _producers()
        for name in missing:
            makers = sorted(producers.get(name, []))
            commands.update(makers)
            where = _location(catalog.get(name))
            lines.append(
                f"  - {name}"
                + (f" at {where}" if where else "")
                + (f"  (made by: {', '.join(makers)})" if makers else "")
            )
        requested = set(run_params.get("pipeline_names") or [run_params.get("pipeline_name")])
        hint = _missing_inputs_hint(commands, requested)
        raise MissingInputsError(
            f"This run needs {len(missing)} input(s) that are not in the catalog yet:\n"
            + "\n".join(lines)
            + f"\n{hint}"
        )


def _is_missing(name: str, catalog: Any, pipeline: Any) -> bool:
    """Whether the run's free input ``name`` is absent and cannot be done without."""
    if name.startswith("params:") or name == "parameters":
        return False
    dataset = catalog.get(name)
    if dataset is None:
        return True
    if getattr(dataset, "_optional", False):
        from coldstart.datasets.raw import NEEDS_ON_DISK

        tag = f"{NEEDS_ON_DISK}{name}"
        if not any(tag in node.tags and name in node.inputs for node in pipeline.nodes):
            return False
    return not dataset.exists()


def _location(dataset: Any) -> str | None:
    """The file or folder a dataset reads, where it has one (not a memory dataset)."""
    for attribute in ("_filepath", "_path"):
        value = getattr(dataset, attribute, None)
        if value is not None:
            return str(value)
    return None


def _missing_inputs_hint(makers: set[str], requested: set[str]) -> str:
    """One command that makes the missing inputs, never a circular one.

    A single upstream stage makes them: run that stage. Otherwise (several stages,
    or ``evaluation``, whose row results need the requested pipeline's own outputs)
    the one command that makes everything is ``kedro run``.
    """
    rerun = " / ".join(f"`kedro run --pipelines={name}`" for name in sorted(requested - {None}))
    if len(makers) == 1 and not makers & (requested | {"evaluation"}):
        (maker,) = makers
        return f"Make them with `kedro run --pipelines={maker}`, then rerun {rerun or 'this'}."
    return (
        "Make them with `kedro run` (every stage, once); afterwards "
        f"{rerun or 'a partial run'} reruns only its own part."
    )


class RunVersionsHooks:
    """A versioned dataset this run saves is loaded, in this run, from the version it saved.

    Kedro 1.7 saves under the session's ``save_version`` but loads, unless
    ``--load-versions`` says otherwise, the newest version folder on disk -- and
    after a save whose version is not the newest it only warns and loads the newest.
    A folder planted (or written by a concurrent run) with a later timestamp would
    then be what the next node reads. Pinning ``load = save`` for every versioned
    output of the pipeline closes that; inputs the run does not make still load the
    latest version (the model datasets verify those, see
    :mod:`coldstart.datasets.models`).
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from kedro.io.core import AbstractVersionedDataset, Version

        for name in sorted(pipeline.all_outputs()):
            dataset = catalog.get(name)
            version = getattr(dataset, "_version", None)
            if not isinstance(dataset, AbstractVersionedDataset) or version is None:
                continue
            if version.save and not version.load:  # --load-versions wins
                dataset._version = Version(load=version.save, save=version.save)
                dataset._clear_version_cache()


class RunGuardHooks:
    """Keep runs apart and their MLflow records true.

    Before anything else of a run (a pluggy wrapper around ``before_pipeline_run``):

    * refuse secret-looking parameters (``...key``, ``...token``) before
      kedro-mlflow logs them as parameters and in the ``runtime_params`` tag;
    * take the ``data_root`` lock (:class:`coldstart.run_guard.RunLock`): a second
      concurrent run on the same folder is refused, naming the holder;
    * mark ``KILLED`` the MLflow runs left ``RUNNING`` by dead processes.

    Then the MLflow run kedro-mlflow started is tagged with this process's pid and
    host (how a later run recognises it as stale). A run that fails before its
    first node (the missing-inputs check, any hook) ends ``FAILED``; one stopped by
    SIGTERM or Ctrl-C ends ``KILLED`` (at exit, or at the next session of the same
    process); kedro-mlflow itself ends runs whose nodes fail ``FAILED``.
    """

    def __init__(self) -> None:
        self._context: Any = None
        self._lock: Any = None
        self._open_runs: list[str] = []  # MLflow runs this process opened and not closed
        self._stopped_by: str | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._atexit_registered = False

    # ---------------------------------------------------------------- session start
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        from coldstart.enrichment.credentials import set_run_env

        self._context = context
        set_run_env(context.env)
        if self._open_runs:
            # the previous session of this process was interrupted (KeyboardInterrupt
            # is not an Exception: no Kedro hook saw it); close its runs before
            # kedro-mlflow mistakes them for a run opened by an orchestrator
            self._finish("KILLED" if self._stopped_by else "FAILED", "interrupted")

    @hook_impl(wrapper=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any):
        self._refuse_secrets(run_params)
        import mlflow

        from coldstart.run_guard import RunLock

        self._lock = RunLock(self._data_root(run_params))
        self._lock.acquire()
        outer = mlflow.active_run()  # an orchestrator's run, if any: never ours to end
        try:
            self._end_stale_runs()
            self._install_signal_handlers()
            result = yield
            self._record_run()
        except BaseException as error:
            self._finish(
                "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED",
                f"{type(error).__name__} before the first node",
                keep=None if outer is None else outer.info.run_id,
            )
            raise
        return result

    # ---------------------------------------------------------------- session end
    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        # kedro-mlflow ends the run FINISHED
        self._open_runs = []
        self._release()

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        # kedro-mlflow ends the runs FAILED; what is left (none, normally) ends here
        self._finish("FAILED", f"{type(error).__name__} in a node")

    # ---------------------------------------------------------------- helpers
    def _data_root(self, run_params: dict[str, Any]) -> Path:
        runtime = run_params.get("runtime_params") or {}
        root = runtime.get("data_root")
        if root is None and self._context is not None:
            root = self._context.config_loader["globals"].get("data_root")
        return Path(str(root or "data"))

    def _refuse_secrets(self, run_params: dict[str, Any]) -> None:
        from coldstart.enrichment.credentials import credentials_hint
        from coldstart.run_guard import SecretParameterError, secret_parameters

        found = set(secret_parameters(run_params.get("runtime_params") or {}))
        if self._context is not None:
            found.update(secret_parameters(self._context.params))
        if found:
            raise SecretParameterError(
                f"Refusing to run: parameter(s) {', '.join(sorted(found))} look like a secret, "
                "and every parameter is logged to MLflow. Secrets belong in credentials: "
                + credentials_hint()
            )

    def _end_stale_runs(self) -> None:
        mlflow_config = getattr(self._context, "mlflow", None)
        experiment = getattr(getattr(mlflow_config, "tracking", None), "experiment", None)
        found = getattr(experiment, "_experiment", None)
        if found is None:
            return
        import mlflow

        from coldstart.run_guard import end_stale_runs

        try:
            end_stale_runs(mlflow.MlflowClient(), found.experiment_id)
        except Exception as error:  # a bookkeeping sweep never stops a run
            logger.warning("Could not check for stale MLflow runs: %s", error)

    def _record_run(self) -> None:
        import mlflow

        from coldstart.run_guard import HOST_TAG, PID_TAG, STARTED_TAG

        run = mlflow.active_run()
        if run is None:
            return
        mlflow.set_tags(
            {
                PID_TAG: str(os.getpid()),
                HOST_TAG: socket.gethostname(),
                STARTED_TAG: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        self._open_runs = [run.info.run_id]
        if not self._atexit_registered:
            # atexit is last-in first-out: this runs before MLflow's own handler,
            # which would end a still-open run FINISHED
            atexit.register(self._at_exit)
            self._atexit_registered = True

    def _install_signal_handlers(self) -> None:
        from coldstart.pools import StoppedBySignal

        def stop(signum: int, frame: Any) -> None:
            self._stopped_by = signal.Signals(signum).name
            raise StoppedBySignal(self._stopped_by)

        self._stopped_by = None
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous_handlers[signum] = signal.signal(signum, stop)
            except ValueError:  # not the main thread: leave signals alone
                pass

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            try:
                signal.signal(signum, handler)
            except (ValueError, TypeError):
                pass
        self._previous_handlers = {}

    def _finish(self, status: str, reason: str, keep: str | None = None) -> None:
        """End this run's MLflow runs still open with ``status``; release the lock."""
        try:
            import mlflow

            from coldstart.run_guard import ENDED_TAG, end_active_runs

            end_active_runs(status, reason, keep=keep)
            client = mlflow.MlflowClient()
            for run_id in self._open_runs:  # e.g. opened in another thread
                if client.get_run(run_id).info.status == "RUNNING":
                    client.set_tag(run_id, ENDED_TAG, reason)
                    client.set_terminated(run_id, status)
        except Exception as error:
            logger.warning("Could not mark the MLflow run %s: %s", status, error)
        finally:
            self._open_runs = []
            self._release()

    def _release(self) -> None:
        self._restore_signal_handlers()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _at_exit(self) -> None:
        if self._open_runs:
            self._finish("KILLED" if self._stopped_by else "FAILED", "process exited mid-run")
