"""`kedro package` builds a wheel and a conf tarball that run the project elsewhere.

The wheel is installed (without dependencies: they are this venv's) into a folder
that shadows the editable install, and run from a directory that holds no project:
the rows, catalog and parameters must come from the tarball through
``--conf-source``, not from a ``conf/`` next to the code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from waits import scaled

from coldstart.rows import TABLES, load_rows

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]


def _run(command: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=scaled(3600), check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _tree(folder: Path) -> dict[str, int]:
    """``{relative path: mtime_ns}`` of every file under ``folder`` (empty if it is absent)."""
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
    }


def test_the_packaged_project_runs_the_tiny_world_from_its_wheel(tiny_run, tmp_path) -> None:
    kedro = Path(sys.executable).with_name("kedro")
    viz_site = _tree(PROJECT / "build")  # `kedro viz build`'s folder: not the package's
    _run([str(kedro), "package"], PROJECT)
    assert _tree(PROJECT / "build") == viz_site
    assert (PROJECT / "dist" / ".build" / "lib" / "coldstart" / "__main__.py").is_file()
    wheels = sorted((PROJECT / "dist").glob("coldstart-*.whl"), key=os.path.getmtime)
    conf = PROJECT / "dist" / "conf-coldstart.tar.gz"
    assert wheels and conf.is_file()
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
          str(wheels[-1])], tmp_path)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = _run(
        [sys.executable, "-c", "import coldstart; print(coldstart.__file__)"], elsewhere, env
    )
    assert where.stdout.strip().startswith(str(site))
    data = tmp_path / "data"
    params = ",".join(
        [
            f"dataset_dir={tiny_run['params']['dataset_dir']}",
            f"data_root={data}",
            f"mlflow_tracking_uri=sqlite:///{tmp_path / 'mlruns.db'}",
            f"mlflow_artifact_location={tmp_path / 'mlartifacts'}",
        ]
    )
    done = _run(
        [sys.executable, "-m", "coldstart", f"--conf-source={conf}", "--env=test",
         "--pipelines=tables", f"--params={params}"],
        elsewhere,
        env,
    )  # fmt: skip
    # the project's logging.yml, from the conf tarball: no line per dataset load and save,
    # and its log file (Kedro's default logs every "Loading data from ...")
    output = done.stdout + done.stderr
    assert "Loading data from" not in output and "Saving data to" not in output
    assert "Completed" in output  # the console still shows the nodes
    assert "Loading data from" not in (elsewhere / "logs" / "info.log").read_text()
    for table, name in TABLES.items():
        frame = pd.read_csv(data / "08_reporting" / f"{name}.csv")
        expected = {
            row["approach"]
            for row in load_rows().values()
            if row["table"] == table and row.get("enabled", True)
        }
        assert set(frame["approach"]) == expected
    assert not (elsewhere / "data").exists()  # every output followed data_root
