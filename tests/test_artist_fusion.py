"""Table 1's fused row (``artist_fusion``): the node, its wiring, and rows that read an
off row being switched off with it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from coldstart.pipelines.fusion.nodes import fuse_artist_rows
from coldstart.pipelines.fusion.pipeline import row_pipeline
from coldstart.rows import load_rows, with_unavailable_rows_skipped


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_fused_factors_are_the_anchor_plus_the_content_direction_at_its_length() -> None:
    anchor = np.array([[3.0, 4.0], [0.0, 1.0]])  # lengths 5 and 1: mean 3
    first = np.array([[1.0, 0.0], [0.0, 2.0]])
    second = np.array([[0.0, 5.0], [0.0, -1.0]])
    fused = fuse_artist_rows({"weight": 0.5}, anchor, first, second)
    # first artist: unit([1, 0]) + unit([0, 5]) points along [1, 1]; 0.5 x mean length 3
    np.testing.assert_allclose(fused[0], [3 + 1.5 / np.sqrt(2), 4 + 1.5 / np.sqrt(2)], 1e-6)
    # second artist: the content rows point opposite ways, their sum has no direction
    np.testing.assert_allclose(fused[1], anchor[1], rtol=1e-6)
    assert fused.dtype == np.float32


def test_weight_zero_keeps_the_anchor_and_one_content_row_adds_its_own_direction() -> None:
    rng = np.random.default_rng(0)
    anchor, content = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    np.testing.assert_allclose(fuse_artist_rows({"weight": 0.0}, anchor, content), anchor, 1e-6)
    fused = fuse_artist_rows({"weight": 2.0}, anchor, content)
    length = np.linalg.norm(anchor, axis=1).mean()
    np.testing.assert_allclose(fused, anchor + 2.0 * length * _unit(content), rtol=1e-5)
    # the scale of a content row does not matter, only its direction
    np.testing.assert_allclose(fuse_artist_rows({"weight": 2.0}, anchor, 7 * content), fused, 1e-5)


@pytest.mark.parametrize(
    ("fusion", "content", "message"),
    [
        ({"weight": -1}, [np.ones((3, 2))], "fusion.weight must be a finite number >= 0"),
        ({"weight": float("nan")}, [np.ones((3, 2))], "fusion.weight must be a finite number"),
        ({}, [np.ones((3, 3))], "content row 1's test factors have shape (3, 3)"),
        ({}, [np.ones((3, 2)), np.full((3, 2), np.inf)], "content row 2's test factors hold non"),
        ({}, [], "needs at least one content row"),
    ],
)
def test_bad_inputs_are_refused_naming_the_row(fusion: dict, content: list, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        fuse_artist_rows(fusion, np.ones((3, 2)), *content)


def test_the_row_reads_the_test_factors_of_the_rows_it_names() -> None:
    row = load_rows()["a_fusion"]
    (node,) = row_pipeline("a_fusion", row).nodes
    assert node.inputs == [
        "params:a_fusion.fusion",
        f"{row['anchor_from']}.test_item_factors",
        *[f"{name}.test_item_factors" for name in row["content_from"]],
    ]
    assert node.outputs == ["a_fusion.test_item_factors"]
    # the fused factors keep the anchor's lengths: scored with the plain dot product
    assert row["normalize_items"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"content_from": "a_tags"}, "needs `row.content_from` as a list of row names"),
        ({"content_from": []}, "needs `row.content_from` in its parameters"),
        ({"anchor_from": None}, "needs `row.anchor_from` in its parameters"),
        ({"table": "song"}, "is an artist-level row"),
    ],
)
def test_a_misdeclared_fused_row_is_refused_when_built(change: dict, message: str) -> None:
    row = {**load_rows()["a_fusion"], **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        row_pipeline("a_fusion", row)


def test_rows_reading_an_off_row_are_switched_off_with_it_along_a_chain() -> None:
    def block(**row) -> dict:
        return {"row": {"table": "artist", "template": "t", "approach": "x", **row}}

    parameters = {
        "source": block(enabled=False, skipped="no tags here"),
        "reader": block(content_from=["source"], anchor_from="other"),
        "chained": block(anchor_from="reader"),
        "other": block(),
        "unrelated": block(artist_embeddings_from="other"),
        # A' and T' may come from elsewhere (the MSD-A release's files): not a dependency
        "embeddings": block(artist_embeddings_from="source"),
        "seed": 3,
    }
    result = with_unavailable_rows_skipped(parameters)
    assert result["reader"]["row"]["enabled"] is False
    assert result["reader"]["row"]["skipped"] == "it reads row 'source', which is off: no tags here"
    assert result["chained"]["row"]["enabled"] is False
    assert "it reads row 'reader', which is off" in result["chained"]["row"]["skipped"]
    assert result["other"]["row"].get("enabled", True)
    assert result["unrelated"]["row"].get("enabled", True)
    assert result["embeddings"]["row"].get("enabled", True)
    assert result["seed"] == 3
