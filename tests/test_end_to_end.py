"""The tiny world through a real Kedro session: raw files -> both tables -> MLflow runs.

One session run (the ``tiny_run`` fixture of conftest.py, a few minutes) is shared by
the end-to-end modules; it writes into a temporary ``data_root`` and MLflow store, never
into the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro_runs import run_session as _run

from coldstart.rows import TABLES, load_rows

pytestmark = pytest.mark.slow


def _enabled_rows(table: str) -> dict[str, dict]:
    return {
        ns: row
        for ns, row in load_rows().items()
        if row["table"] == table and row.get("enabled", True)
    }


def test_the_session_leaves_no_mlflow_run_active(tiny_run: dict) -> None:
    """A second session in the same process (a notebook, a test) must get its own run.

    kedro-mlflow reopens the run before every node; with ``nested: True`` each reopening
    stacked it once more and it stayed active after the session.
    """
    import mlflow

    assert mlflow.active_run() is None


#: Content rows that beat random on the tiny world by a margin no machine's arithmetic
#: undoes, and the Holm-adjusted p they must stay under. Measured (one tiny run, issue 25):
#: artist level, ridge +0.137 (p 3e-11) and tags-itemKnn +0.115 (p 1e-9), rows without a
#: network, so the same on every machine; song level, every row is a network and only
#: mm-lf-lin is ahead with power (+0.052, p 0.004), so its bound leaves room for another
#: CPU's training path. The other rows are level with random there (p > 0.01): the tiny
#: world cannot tell them apart, and asserting an order would assert noise.
CONTENT_BEATS_RANDOM = {
    "artist": {"ridge": 0.01, "tags-itemKnn": 0.01},
    "song": {"mm-lf-lin": 0.05},
    # Table 3 (issue 26; one tiny run): catalogue-mean +0.180 over random (Holm p 5e-29),
    # no network between the WMF and it
    "known": {"catalogue-mean": 0.01},
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_tables_have_every_row_and_content_beats_nothing(tiny_run: dict, table: str) -> None:
    reporting = Path(tiny_run["params"]["data_root"]) / "08_reporting"
    frame = pd.read_csv(reporting / f"{TABLES[table]}.csv")
    expected = {row["approach"] for row in _enabled_rows(table).values()}
    assert set(frame["approach"]) == expected
    markdown_rows = [
        line
        for line in (reporting / f"{TABLES[table]}.md").read_text().splitlines()
        if line.startswith("| ")
    ]
    assert len(markdown_rows) == len(frame) + 1  # the header, then one line per row
    scores = frame.set_index("approach")["map_at_500"]
    # The upper bound (the items' own WMF factors) is above random at both levels; the
    # tiny world has a handful of test artists, so random is high at artist level there.
    assert scores["upper-bound"] > scores["random"] + 0.1
    assert frame["n_users"].nunique() == 1 and frame["n_users"].iloc[0] > 0
    # Content beats random where the tiny world (6 test artists, 22 test songs, 300
    # users) has the power to show it, per user and Holm-adjusted over the table's pairs
    tests = pd.read_csv(reporting / f"{TABLES[table]}_significance.csv")
    for approach, alpha in CONTENT_BEATS_RANDOM[table].items():
        pair = tests[
            ((tests["a"] == approach) & (tests["b"] == "random"))
            | ((tests["a"] == "random") & (tests["b"] == approach))
        ]
        assert len(pair) == 1, f"no {approach} ~ random test in the {table} table"
        assert scores[approach] > scores["random"], (approach, scores.to_dict())
        assert pair["p_ttest_holm"].iloc[0] < alpha, pair.to_dict("records")


def test_the_run_records_the_machine_that_made_its_tables(tiny_run: dict) -> None:
    """``run_environment.json``: what the README's single-run line is made from."""
    from coldstart.determinism import describe_environment

    reporting = Path(tiny_run["params"]["data_root"]) / "08_reporting"
    environment = json.loads((reporting / "run_environment.json").read_text())
    assert environment["tables"] == [
        "table1_artist_markdown",
        "table2_song_markdown",
        "table3_known_artist_markdown",
    ]
    assert environment["cpu"] and environment["cores"] >= 1 and environment["deterministic"]
    assert {"python", "tensorflow", "keras", "numpy"} <= set(environment["versions"])
    assert environment["cpu"] in describe_environment(environment)


def test_one_nested_mlflow_run_per_row(tiny_run: dict) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tiny_run["params"]["mlflow_tracking_uri"])
    experiment = client.get_experiment_by_name("coldstart")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parents = {r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags}
    expected = sum(len(_enabled_rows(table)) for table in TABLES)
    assert len(children) == expected
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] in parents
        assert {"map_at_500", "map_at_500_active", "recall_at_500", "ndcg_at_500"} <= set(
            run.data.metrics
        )
        assert run.data.params["dataset"] == tiny_run["params"]["dataset_dir"]
        assert run.data.tags["git_commit"]
    # comparable side by side: one parameter key set, one scalar metric key set, unique names
    assert len({frozenset(r.data.params) for r in children}) == 1
    assert (
        len(
            {
                frozenset(k for k in r.data.metrics if not k.startswith("training."))
                for r in children
            }
        )
        == 1
    )
    names = [r.info.run_name for r in children]
    assert len(set(names)) == len(names) and {"table1/random", "table2/random"} <= set(names)
    trained = [r for r in children if r.data.params["epochs"] != "-"]
    assert len(trained) >= 10
    for run in trained:
        assert "training.val_loss" in run.data.metrics and run.data.params["n_params"].isdigit()
        seconds = (run.info.end_time - run.info.start_time) / 1000
        assert seconds >= float(run.data.params["train_seconds"]), run.info.run_name


def test_one_logged_model_per_trained_row_in_its_own_run(tiny_run: dict) -> None:
    import mlflow
    import numpy as np

    from coldstart.pipelines.evaluation.pipeline import LOGGED_MODEL_TEMPLATES

    mlflow.set_tracking_uri(tiny_run["params"]["mlflow_tracking_uri"])
    try:
        experiment = mlflow.get_experiment_by_name("coldstart")
        rows = mlflow.search_runs(
            [experiment.experiment_id], filter_string="tags.row != ''", output_format="list"
        )
        models = mlflow.search_logged_models(
            experiment_ids=[experiment.experiment_id], output_format="list"
        )
        trained = {
            run.info.run_id: run
            for run in rows
            if run.data.params["template"] in LOGGED_MODEL_TEMPLATES
        }
        expected = sum(
            row["template"] in LOGGED_MODEL_TEMPLATES
            for table in TABLES
            for row in _enabled_rows(table).values()
        )
        assert len(trained) == expected >= 10
        by_run = {}
        for model in models:
            if model.source_run_id in trained:
                by_run.setdefault(model.source_run_id, []).append(model)
        assert {run_id: len(found) for run_id, found in by_run.items()} == dict.fromkeys(trained, 1)
        flavours = set()
        for run_id, (model,) in by_run.items():
            assert model.name == trained[run_id].info.run_name.replace("/", "-")
            info = mlflow.models.get_model_info(f"models:/{model.model_id}")
            assert info.signature is not None and info.saved_input_example_info, model.name
            flavours |= set(info.flavors) - {"python_function"}
        assert flavours == {"tensorflow", "sklearn"}
        # a logged Keras row serves its own input example
        a_sem = next(m for m in models if m.name == "table1-a-sem")
        loaded = mlflow.pyfunc.load_model(f"models:/{a_sem.model_id}")
        spec = loaded.metadata.get_input_schema().inputs[0]
        prediction = loaded.predict(np.zeros((2, spec.shape[1]), dtype=np.float32))
        np.testing.assert_allclose(np.linalg.norm(prediction, axis=1), 1.0, rtol=1e-5)
    finally:
        mlflow.set_tracking_uri(None)


def test_ingestion_report_counts_the_injected_dirt(tiny_run: dict) -> None:
    reporting = Path(tiny_run["params"]["data_root"]) / "08_reporting"
    versions = sorted((reporting / "ingestion_report.json").iterdir())
    report = json.loads((versions[-1] / "ingestion_report.json").read_text())
    manifest = json.loads(
        (Path(tiny_run["params"]["dataset_dir"]) / "world_manifest.json").read_text()
    )
    dirt = manifest["dirt"]["triplets"]
    assert report["triplets"]["dropped"] == {
        "malformed_line": dirt["malformed_field_count"],
        "non_integer_count": dirt["malformed_play_count"],
        "non_positive_count": dirt["nonpositive_play_count"],
    }
    assert report["biographies"]["issues"]["malformed_json"] == len(
        manifest["dirt"]["biographies"]["invalid_json"]
    )
    assert report["biographies"]["issues"]["repaired_non_utf8"] == len(
        manifest["dirt"]["biographies"]["invalid_utf8"]
    )


def test_fusion_pipeline_reruns_only_the_fusion_rows(tiny_run: dict) -> None:
    reporting = Path(tiny_run["params"]["data_root"]) / "08_reporting" / "rows"
    before = {p.parent.name: len(list(p.iterdir())) for p in reporting.glob("*/row_result.json")}
    _run(tiny_run["params"], "fusion")
    after = {p.parent.name: len(list(p.iterdir())) for p in reporting.glob("*/row_result.json")}
    rerun = {ns for ns in after if after[ns] > before.get(ns, 0)}
    from coldstart.pipelines.fusion.pipeline import TEMPLATES

    # Table 2's fusion rows and Table 1's fused artist row (artist_fusion)
    fusion_rows = {
        ns
        for ns, row in load_rows().items()
        if row["template"] in TEMPLATES and row.get("enabled", True)
    }
    assert "a_fusion" in fusion_rows
    assert rerun == fusion_rows
    table = pd.read_csv(Path(tiny_run["params"]["data_root"]) / "08_reporting" / "table2_song.csv")
    assert set(table["approach"]) == {row["approach"] for row in _enabled_rows("song").values()}


def test_fusion_without_embeddings_names_what_is_missing(tmp_path: Path) -> None:
    from coldstart.hooks import MissingInputsError

    params = {
        "dataset_dir": str(tmp_path / "raw"),
        "data_root": str(tmp_path / "data"),
        "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlruns.db'}",
        "mlflow_artifact_location": str(tmp_path / "mlartifacts"),
    }
    with pytest.raises(MissingInputsError) as error:
        _run(params, "fusion")
    message = str(error.value)
    assert "a_sem.artist_embeddings" in message and "audio.track_embeddings" in message
    assert "(made by: text)" in message and "(made by: audio)" in message
    # one command that makes them all, not a circular list (evaluation needs fusion)
    assert "Make them with `kedro run` (every stage, once)" in message
    assert "`kedro run --pipelines=fusion` reruns only its own part" in message


def test_missing_inputs_hint_names_one_non_circular_command() -> None:
    from coldstart.hooks import _missing_inputs_hint

    assert _missing_inputs_hint({"text"}, {"fusion"}).startswith(
        "Make them with `kedro run --pipelines=text`"
    )
    assert "`kedro run` (every stage" in _missing_inputs_hint({"evaluation"}, {"fusion"})
    assert "`kedro run` (every stage" in _missing_inputs_hint({"text", "audio"}, {"fusion"})
