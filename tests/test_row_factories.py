"""A row's datasets come from dataset factories: a row is one parameter block.

Every dataset a row's pipelines read or write is named ``<row>.<name>`` and resolves
through a ``"{row}.<name>"`` pattern of ``conf/base/catalog_rows.yml`` or
``catalog_evaluation.yml``, in every environment; the patterns match nothing but rows'
datasets; and a row added as one block of parameters gets its files with no catalog
entry of its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
CONF = PROJECT / "conf"
ENVIRONMENTS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "local")

#: What each row-level name is stored as (type, file name), whichever row writes it.
STORED = {
    "model": ("coldstart.datasets.AtomicTensorFlowModelDataset", "model.keras"),
    "estimator": ("coldstart.datasets.SklearnModelDataset", "model.skops"),
    "vectorizer": ("coldstart.datasets.VectorizerDataset", "vectorizer.json"),
    "training_history": ("coldstart.datasets.AtomicJSONDataset", "training_history.json"),
    "test_item_factors": ("coldstart.datasets.NumpyDataset", "test_item_factors.npy"),
}
#: The documented example of docs/architecture.md ("Adding a row"), placed below a_text.
NEW_ROW = """
a_sem_wide:                 # the namespace: kedro run --namespaces=a_sem_wide
  row: {table: artist, template: text_ff, approach: a-sem-wide, input: Sem Bio,
        data_model: VSM, arch: FF, order: 25}
  features: {source: enriched, tfidf: *tfidf, tags: *tags}
  model: {<<: *ff_model, hidden_units: [4096, 2048]}
  training: *training
"""


def _catalog_and_pipelines(env: str, conf_source: Path | None = None):
    """The session's catalog and the pipelines wired from its parameters."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from coldstart.pipeline_registry import register_pipelines

    bootstrap_project(PROJECT)
    session = KedroSession.create(
        project_path=PROJECT,
        env=env,
        conf_source=str(conf_source) if conf_source else None,
        runtime_params={"data_root": "/nonexistent/data_root"},
    )
    context = session.load_context()  # RowsHooks: rows from this session's parameters
    return context.catalog, register_pipelines()


def _datasets(pipelines: dict) -> set[str]:
    names: set[str] = set()
    for pipe in pipelines.values():
        names |= {d for d in pipe.datasets() if not d.startswith("params:") and d != "parameters"}
    return names


def _base_rows() -> list[str]:
    """Every row declared in conf/base, read from the files (not from a session)."""
    from coldstart.rows import load_rows

    return list(load_rows(str(CONF)))


def _row_patterns(catalog) -> list[str]:
    return [p for p in catalog.config_resolver.list_patterns() if p.startswith("{row}.")]


@pytest.fixture(autouse=True)
def _rows_from_conf_after_each_test():
    from coldstart.rows import use_session_parameters

    yield
    use_session_parameters(None)


def test_no_environment_declares_a_row_dataset_by_hand():
    """Per-row entries were the second place a row had to be written: none is left."""
    from coldstart.rows import load_rows

    rows = set(load_rows())
    by_hand = [
        f"{path.relative_to(CONF)}: {key}"
        for path in sorted(CONF.glob("*/catalog*.yml"))
        for key in (yaml.safe_load(path.read_text()) or {})
        if "{" not in key and key.split(".", 1)[0] in rows
    ]
    assert not by_hand


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_row_dataset_resolves_from_a_factory_and_factories_match_only_rows(env: str):
    from coldstart.rows import load_rows

    catalog, pipelines = _catalog_and_pipelines(env)
    rows = set(load_rows())
    resolver = catalog.config_resolver
    patterns = _row_patterns(catalog)
    assert {f"{{row}}.{name}" for name in STORED} <= set(patterns)
    matched: dict[str, str] = {}
    for name in sorted(_datasets(pipelines)):
        pattern = resolver.match_dataset_pattern(name)
        namespace = name.split(".", 1)[0]
        if namespace in rows and "." in name:
            # a row's dataset: never an explicit entry, always a row factory
            assert name not in resolver.config, f"{env}: {name} is declared by hand"
            assert pattern in patterns, f"{env}: {name} resolves through {pattern!r}"
        if pattern in patterns:
            assert namespace in rows, f"{env}: {pattern!r} captures {name}, not a row's"
            matched[name] = pattern
    # msd_a wires its rows from the release's files; without a release here it skips them all
    assert matched or env == "msd_a", env
    for name in matched:
        layer = resolver.resolve_pattern(name)["metadata"]["kedro-viz"]["layer"]
        assert layer, name
    # every row of conf/base, in this environment, whether or not its pipeline is built
    for row in _base_rows():
        for dataset, (kind, filename) in STORED.items():
            config = resolver.resolve_pattern(f"{row}.{dataset}")
            assert config["type"] == kind, (env, row, dataset)
            assert config["versioned"] is True, (env, row, dataset)
            assert config["filepath"].startswith("/nonexistent/data_root/"), config["filepath"]
            assert config["filepath"].endswith(f"/{row}/{filename}"), config["filepath"]
    # each trained row's model: Keras rows `model`, scikit-learn rows `estimator`
    trained = {n.split(".", 1)[0] for n in matched if n.endswith((".model", ".estimator"))}
    for row in trained:
        logged = [n for n in matched if n.startswith(f"{row}.logged_")]
        for name in logged:
            flavor = resolver.resolve_pattern(name)["flavor"]
            sklearn = name.endswith(".logged_estimator")
            assert flavor == ("mlflow.sklearn" if sklearn else "mlflow.tensorflow"), name


def test_the_sklearn_rows_store_estimators_and_log_them_with_skops():
    catalog, pipelines = _catalog_and_pipelines("test")
    datasets = _datasets(pipelines)
    for row in ("text_rf", "ridge"):
        assert {f"{row}.estimator", f"{row}.logged_estimator"} <= datasets
        assert f"{row}.model" not in datasets
        logged = catalog.config_resolver.resolve_pattern(f"{row}.logged_estimator")
        assert logged["save_args"] == {"serialization_format": "skops"}
    assert "tags_itemknn.estimator" in datasets
    assert {"a_text.model", "a_text.logged_model", "audio.model"} <= datasets


def test_a_new_row_is_one_parameter_block(tmp_path: Path):
    """The documented example, added to a copy of conf/: its datasets resolve, none by hand."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    parameters = conf / "base" / "parameters_text.yml"
    text = parameters.read_text()
    anchor = "\na_sem:\n"
    assert anchor in text
    parameters.write_text(text.replace(anchor, NEW_ROW + anchor, 1))
    docs = (PROJECT / "docs" / "architecture.md").read_text()
    assert NEW_ROW.strip() in docs  # the test adds the block the docs show

    catalog, pipelines = _catalog_and_pipelines("test", conf_source=conf)
    datasets = {d for d in _datasets(pipelines) if d.startswith("a_sem_wide.")}
    assert {
        "a_sem_wide.model",
        "a_sem_wide.vectorizer",
        "a_sem_wide.training_history",
        "a_sem_wide.test_item_factors",
        "a_sem_wide.row_result",
        "a_sem_wide.logged_model",
    } <= datasets
    resolver = catalog.config_resolver
    for name in datasets:
        assert name not in resolver.config
        assert resolver.match_dataset_pattern(name) in _row_patterns(catalog), name
    model = resolver.resolve_pattern("a_sem_wide.model")
    assert model["filepath"] == "/nonexistent/data_root/06_models/rows/a_sem_wide/model.keras"
    table = {
        i
        for n in pipelines["__default__"].nodes
        if n.name == "assemble_table1_artist"
        for i in n.inputs
    }
    assert "a_sem_wide.row_result" in table
