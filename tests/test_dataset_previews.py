"""kedro-viz previews of the project's own datasets; where a row's outputs are drawn."""

from __future__ import annotations

import inspect
import json

import numpy as np
import scipy.sparse as sp

from coldstart.datasets import NumpyDataset, SparseMatrixDataset


def test_a_factor_matrix_previews_its_shape_dtype_and_first_rows(tmp_path):
    factors = np.arange(40 * 12, dtype=np.float32).reshape(40, 12) / 7
    dataset = NumpyDataset(filepath=str(tmp_path / "factors.npy"))
    dataset.save(factors)
    preview = json.loads(dataset.preview(nrows=3, ncolumns=4))
    assert preview["shape"] == [40, 12] and preview["dtype"] == "float32"
    np.testing.assert_allclose(preview["first 3 rows"], factors[:3, :4], rtol=1e-5)
    # kedro-viz picks the renderer from the name of preview()'s return annotation
    annotation = inspect.signature(dataset.preview).return_annotation
    assert getattr(annotation, "__name__", str(annotation)) == "JSONPreview"


def test_a_play_matrix_previews_its_stored_entries_row_by_row(tmp_path):
    plays = sp.csr_matrix(
        (np.array([3.0, 1.0, 5.0]), (np.array([0, 0, 2]), np.array([4, 9, 1]))), shape=(6, 10)
    )
    dataset = SparseMatrixDataset(filepath=str(tmp_path / "plays.npz"))
    dataset.save(plays)
    preview = json.loads(dataset.preview(nrows=3))
    assert preview["shape"] == [6, 10] and preview["stored entries"] == 3
    assert preview["density"] == 0.05 and preview["dtype"] == "float64"
    assert preview["first 3 rows (column: value)"] == {
        "0": {"4": 3.0, "9": 1.0},
        "1": {},
        "2": {"1": 5.0},
    }


def test_each_row_output_is_made_inside_the_rows_namespace():
    """kedro-viz draws a namespace's free outputs (and those read outside it) at the
    border of its super-node, whatever their names: the row outputs the tables read
    are made by the row's own namespaced nodes and carry its prefix (docs/architecture.md)."""
    from coldstart.pipelines.evaluation.pipeline import create_pipeline, enabled_rows

    pipeline = create_pipeline()
    for namespace in enabled_rows():
        for output in ("row_result", "user_ap", "mlflow_run"):
            (maker,) = [n for n in pipeline.nodes if f"{namespace}.{output}" in n.outputs]
            assert maker.namespace == namespace
