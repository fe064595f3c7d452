"""What the commands print: nothing a user cannot act on.

Third-party lines the project cannot change (MLflow's type-hint warning on importing
kedro-mlflow, kedro-mlflow's "BEWARE" when kedro-viz reads the release pipeline, Kedro's
"'exists()' not implemented" for a dataset without ``_exists``, deprecations) are
fixed at their cause or filtered (coldstart/quiet.py); every other warning still shows.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import pytest

from coldstart.packaged import conf_source_of, read_logging_config
from coldstart.quiet import KnownNoiseFilter, silence_known_noise

PROJECT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info", "credentials*.yml")

#: Lines no user can act on, as they appeared before they were fixed or filtered.
NOISE = (
    "Add type hints to the `predict` method",  # MLflow, on importing kedro-mlflow
    "BEWARE",  # kedro-mlflow's PipelineML read by kedro-viz
    "not implemented for",  # Kedro: a dataset without _exists
    "--pipeline'",  # Kedro 1.7: "Option '--pipeline' is deprecated"
    "`pipeline_name` is deprecated",
    "ORJSONResponse is deprecated",  # FastAPI, inside kedro-viz
    "Union type hint",  # Kedro's parameter validation, on a node's `bool | str` hint
    "serialized using CloudPickle",  # MLflow, as kedro-mlflow logs the release model
)
# Not here: TensorFlow 2.21's native start-up lines ("All log messages before
# absl::InitializeLog() ...", oneDNN, no CUDA) are written by C++ code before any
# setting is read (TF_CPP_MIN_LOG_LEVEL no longer silences them) wherever TF is imported.


def _kedro(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    """``kedro <args>`` as a user types it (``python -m kedro``: the same entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(noise in line for noise in NOISE)]


def test_kedro_help_prints_no_warning() -> None:
    done = _kedro("--help")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Usage:" in output
    assert _noise(output) == [] and "WARNING" not in output, output[:3000]


@pytest.mark.slow
def test_a_tiny_run_prints_none_of_the_known_noise(tiny_run: dict) -> None:
    """The shared tiny run is ``kedro run --env=test``; its console output is kept."""
    output = Path(tiny_run["log"]).read_text()
    assert "Pipeline execution completed successfully" in output
    assert _noise(output) == []


@pytest.mark.slow
def test_kedro_viz_build_prints_none_of_the_known_noise(tmp_path: Path) -> None:
    """In a checkout of the project (its conf and code): kedro-viz writes ``build/`` there."""
    for name in ("conf", "src"):  # copies: Kedro wants the source folder inside the project
        shutil.copytree(PROJECT / name, tmp_path / name, ignore=IGNORED)
    shutil.copy2(PROJECT / "pyproject.toml", tmp_path)
    done = _kedro("viz", "build", cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert (tmp_path / "build" / "index.html").is_file(), output[-3000:]
    assert _noise(output) == []


def test_the_known_noise_is_dropped_from_the_log_even_when_mlflow_overrides_filters() -> None:
    """MLflow raises its warning under its own ``simplefilter("once")``: logging drops it."""
    silence_known_noise()
    record = logging.LogRecord(
        "py.warnings", logging.WARNING, __file__, 1, "%s", (
            "data_validation.py:187: UserWarning: \x1b[33mAdd type hints to the `predict` "
            "method to enable data validation\x1b[0m",
        ), None,
    )  # fmt: skip
    kept = logging.LogRecord(
        "py.warnings", logging.WARNING, __file__, 1, "%s", ("UserWarning: act on me",), None
    )
    assert not KnownNoiseFilter().filter(record) and KnownNoiseFilter().filter(kept)
    assert any(isinstance(f, KnownNoiseFilter) for f in logging.getLogger("py.warnings").filters)
    pickled = logging.LogRecord(
        "mlflow.pyfunc", logging.WARNING, __file__, 1,
        "Passing a Python object as `python_model` causes it to be serialized using CloudPickle",
        (), None,
    )  # fmt: skip
    assert not logging.getLogger("mlflow.pyfunc").filter(pickled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_noise()
        warnings.warn("\x1b[33mAdd type hints to the `predict` method\x1b[0m", UserWarning, 1)
        warnings.warn("something the user must see", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something the user must see"]


def test_the_packaged_run_reads_logging_yml_from_its_conf_tarball(tmp_path: Path) -> None:
    """``kedro package``'s tarball holds ``conf/logging.yml``; a run elsewhere applies it."""
    tarball = tmp_path / "conf-coldstart.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(PROJECT / "conf", arcname="conf")
    argv = ["--env=test", f"--conf-source={tarball}", "--pipelines=tables"]
    assert conf_source_of(argv) == str(tarball)
    assert conf_source_of(["--conf-source", "x.tar.gz"]) == "x.tar.gz"
    assert conf_source_of(["--env=test"]) is None
    config = read_logging_config(tarball)
    assert config["loggers"]["kedro.io.data_catalog"]["level"] == "WARNING"
    assert read_logging_config(PROJECT / "conf") == config
    assert read_logging_config(tmp_path / "nothing.tar.gz") is None
