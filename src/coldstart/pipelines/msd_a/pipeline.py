"""The MSD-A release pipeline: import, the rows the release can feed, evaluation, tables.

Each row is the project's own template (``text_ff``, ``text_sklearn``, ``song_ff``,
``late_fusion``) under the row's namespace, with the node that builds its input from
raw files replaced by a node reading the release's ``X_*`` files
(``msd_a.inputs.<row>``). At song level the release's features are one row per song,
so the song-level templates see every song as its own artist (``artists`` -> ``songs``).
The rows the release cannot feed were switched off with their reason when the
session started (:func:`coldstart.rows.with_unavailable_rows_skipped`).
"""

from __future__ import annotations

import logging
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline, pipeline

from coldstart.rows import load_base_parameters, load_rows, skip_reason

from .nodes import assemble_import_report, import_artist_level, import_song_level, release_features

logger = logging.getLogger(__name__)

LEVEL_ITEMS = {"artist": "artists", "song": "songs"}
#: The node of each template that builds the row's input from raw files: the release
#: pipeline drops it and feeds the row from the release instead.
INPUT_NODES = {
    "text_ff": ("build_text_features", "features"),
    "text_sklearn": ("build_text_features", "features"),
    "song_ff": ("build_artist_vsm", "artist_inputs"),
}


def import_pipeline(levels: set[str]) -> Pipeline:
    """The levels of the release that are there, and the import report."""
    nodes = []
    for level, function in (("artist", import_artist_level), ("song", import_song_level)):
        if level not in levels:
            continue
        nodes.append(
            Node(
                function,
                ["params:release_dir", "params:msd_a", "params:seed"],
                [
                    LEVEL_ITEMS[level],
                    f"{level}_item_factors",
                    f"{level}_user_factors",
                    f"{level}_test_plays",
                    f"{level}_evaluated_users",
                    f"msd_a_{level}_import",
                ],
                name=f"import_msd_a_{level}_level",
            )
        )
    nodes.append(
        Node(
            assemble_import_report,
            {"parameters": "parameters", **{level: f"msd_a_{level}_import" for level in levels}},
            "msd_a_import_report",
            name="assemble_msd_a_import_report",
        )
    )
    return Pipeline(nodes)


def _release_input(namespace: str, level: str, suffix: str, output: str) -> Pipeline:
    """One node of row ``namespace`` reading ``X_*_<suffix>_<ds>`` into ``<namespace>.<output>``."""
    reader = update_wrapper(partial(release_features, level=level, suffix=suffix), release_features)
    template = Pipeline(
        [
            Node(
                reader,
                ["params:release_dir", "params:msd_a", "items"],
                output,
                name=f"read_{output}_from_release",
            )
        ]
    )
    return pipeline(
        template,
        namespace=namespace,
        inputs={"items": LEVEL_ITEMS[level]},
        parameters={"params:release_dir": "params:release_dir", "params:msd_a": "params:msd_a"},
    )


def row_pipeline(namespace: str, row: dict[str, Any], spec: dict[str, Any]) -> Pipeline:
    """One row fed by the release: its template, its input read from ``X_*`` files."""
    from coldstart.pipelines.fusion import pipeline as fusion
    from coldstart.pipelines.text import pipeline as text

    template, level = row["template"], row["table"]
    if template in ("text_ff", "text_sklearn"):
        built = text.row_pipeline(namespace, template)
    elif template == "song_ff":
        built = pipeline(
            fusion.song_ff_template(str(row.get("features"))),
            namespace=namespace,
            inputs={"artists": "songs", "songs": "songs", "song_item_factors": "song_item_factors"},
            parameters={"params:seed": "params:seed"},
        )
    elif template == "late_fusion":
        built = pipeline(
            fusion.late_fusion_template(),
            namespace=namespace,
            inputs={
                "artists": "songs",
                "songs": "songs",
                "song_item_factors": "song_item_factors",
                "artist_embeddings": f"{namespace}.release_artist_embeddings",
                "track_embeddings": f"{namespace}.release_track_embeddings",
            },
            parameters={"params:seed": "params:seed"},
        )
        return (
            built
            + _release_input(
                namespace, level, spec["artist_embeddings"], "release_artist_embeddings"
            )
            + _release_input(namespace, level, spec["track_embeddings"], "release_track_embeddings")
        )
    else:
        raise ValueError(f"Row '{namespace}': the release pipeline cannot build {template} rows")
    if template in INPUT_NODES and spec.get("features"):
        node_name, output = INPUT_NODES[template]
        kept = [node for node in built.nodes if node.name != f"{namespace}.{node_name}"]
        built = Pipeline(kept) + _release_input(namespace, level, spec["features"], output)
    return built


def create_release_pipeline() -> Pipeline:
    """Import, every row the release can feed, their evaluation, and the table of each
    level the release holds."""
    from coldstart.pipelines.evaluation.pipeline import baseline_rows, row_evaluation, table

    rows = load_rows()
    inputs = (load_base_parameters().get("msd_a") or {}).get("inputs") or {}
    enabled = {ns for ns, row in rows.items() if row.get("enabled", True)}
    # a level of the release that is not there skipped all its rows
    levels = {rows[ns]["table"] for ns in enabled}
    baselines = Pipeline([n for n in baseline_rows().nodes if n.namespace in enabled])
    built = [import_pipeline(levels), baselines]
    for namespace, row in rows.items():
        if not row.get("enabled", True):
            logger.info(
                "Row '%s' (%s) skipped: %s",
                namespace,
                row.get("approach", namespace),
                skip_reason(row),
            )
            continue
        if row["template"] not in ("random_factors", "upper_bound"):
            built.append(row_pipeline(namespace, row, dict(inputs.get(namespace) or {})))
        built.append(row_evaluation(namespace))
    built += [table(level) for level in sorted(levels)]
    return sum(built, Pipeline([])).tag("msd_a")
