"""The notebooks run, top to bottom, against a finished run (the tiny world's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from waits import scaled

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["first_look.ipynb", "releases.ipynb"])
def test_notebook_executes_on_the_tiny_run(tiny_run: dict, name: str, monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    params = tiny_run["params"]
    monkeypatch.setenv("COLDSTART_ENV", "test")
    monkeypatch.setenv("COLDSTART_PARAMS", ",".join(f"{k}={v}" for k, v in params.items()))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=int(scaled(1800)),
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    if name == "first_look.ipynb":
        assert "table2/mm-lf-lin" in text and "predicted by" in text
        assert any("image/png" in o.get("data", {}) for o in outputs)
    else:
        assert "same row for every item: True" in text
