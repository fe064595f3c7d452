"""The notebooks run, top to bottom, as a user opens them after a run.

From ``notebooks/`` as the working directory, with ``%load_ext kedro.ipython`` and
the environment from ``KEDRO_ENV`` (what ``kedro jupyter lab --env=test`` sets), and
no parameters: the catalog and the MLflow store are the project's defaults for
``--env=test``, and ``mlflow.yml``'s relative ``sqlite:///mlruns.db`` must resolve to
the project folder, not to ``notebooks/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from waits import scaled

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project_after_tiny_run(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout of the project whose ``--env=test`` default places hold the tiny run.

    The tiny run wrote into a temporary root (run-time parameters keep tests apart);
    here its world, data and MLflow store sit where ``conf/test/globals.yml`` and
    ``mlflow.yml`` put them by default, beside the project's own conf and code.
    """
    project = tmp_path_factory.mktemp("checkout")
    for name in ("conf", "src"):  # copies: Kedro wants the source folder inside the project
        shutil.copytree(
            PROJECT / name,
            project / name,
            ignore=shutil.ignore_patterns("__pycache__", "credentials*.yml"),
        )
    shutil.copy2(PROJECT / "pyproject.toml", project)
    shutil.copy2(PROJECT / ".telemetry", project)  # the project's "no" to kedro-telemetry
    shutil.copytree(PROJECT / "notebooks", project / "notebooks")
    (project / "data" / "01_raw").mkdir(parents=True)
    (project / "data" / "01_raw" / "synthetic_tiny").symlink_to(tiny_run["params"]["dataset_dir"])
    (project / "data" / "test_env").symlink_to(tiny_run["params"]["data_root"])
    shutil.copy2(Path(tiny_run["root"]) / "mlruns.db", project / "mlruns.db")
    return project


@pytest.mark.parametrize("name", ["first_look.ipynb", "releases.ipynb"])
def test_notebook_executes_from_its_folder_on_the_tiny_run(
    project_after_tiny_run: Path, name: str, monkeypatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebooks = project_after_tiny_run / "notebooks"
    monkeypatch.setenv("KEDRO_ENV", "test")  # as `kedro jupyter lab --env=test` does
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    notebook = nbformat.read(notebooks / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=int(scaled(1800)),
        kernel_name="python3",
        resources={"metadata": {"path": str(notebooks)}},  # the kernel's working directory
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert not (notebooks / "mlruns.db").exists()  # the store was not looked for in notebooks/
    if name == "first_look.ipynb":
        assert f"env test; MLflow store sqlite:///{project_after_tiny_run / 'mlruns.db'}" in text
        assert "table2/mm-lf-lin" in text and "predicted by" in text
        assert any("image/png" in o.get("data", {}) for o in outputs)
    else:
        assert "same row for every item: True" in text
