"""Project pipelines.

Each modelling pipeline (``text``, ``audio``, ``fusion``, ``peers``, ``known_artist``) is
registered together
with the evaluation of the rows it produces and the tables those rows belong to,
so ``kedro run --pipelines=fusion`` retrains *and* re-evaluates the fusion rows
(the other rows' results are read back from the catalog). ``evaluation`` alone
re-scores every row from the predictions in the catalog.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from coldstart.pipelines.evaluation.pipeline import row_evaluation, shared_inputs, table
from coldstart.rows import TABLES, load_base_parameters, load_rows

MODELLING = ("text", "audio", "fusion", "peers", "known_artist")


def _with_row_evaluation(modelling: Pipeline) -> Pipeline:
    rows = load_rows()
    outputs = modelling.all_outputs()
    produced = [ns for ns in rows if f"{ns}.test_item_factors" in outputs]
    levels = sorted({rows[ns]["table"] for ns in produced})
    if not produced:
        return modelling
    evaluation = sum(
        [
            shared_inputs(tuple(sorted({"artist", "song", *levels}))),
            *(row_evaluation(ns) for ns in produced),
            *(table(level) for level in levels),
        ],
        Pipeline([]),
    )
    return modelling + evaluation.tag("evaluation")


def table_pipeline(tables: Pipeline, level: str) -> Pipeline:
    """What one results table needs of ``tables``: its rows, their inputs, the run's reports.

    Kedro keeps the nodes upstream of the table's files, of the ingestion and
    enrichment reports, and of the table's rows' logged models; at artist level that
    leaves out the audio CNN, the song rows and their fusion (docs/study.md).
    """
    name = TABLES[level]
    rows = load_rows()
    wanted = {
        name,
        f"{name}_markdown",
        f"{name}_significance",
        f"{name}_figure",
        "ingestion_report",
        "enrichment_report",
        *(
            f"{ns}.{model}"
            for ns, row in rows.items()
            if row["table"] == level
            for model in ("logged_model", "logged_estimator")
        ),
    }
    return tables.to_outputs(*sorted(wanted & tables.all_outputs()))


def stage_pipelines() -> dict[str, Pipeline]:
    """``{name: create_pipeline()}`` of every package under ``coldstart.pipelines``.

    Not Kedro's ``find_pipelines``: under ``--pipelines=<name>`` it imports only
    the package of that name, and the composite pipelines (``tables``,
    ``__default__``) need them all.
    """
    import importlib
    import pkgutil

    import coldstart.pipelines as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "create_pipeline"):
            # every node carries its stage as a tag: `kedro run --tags=fusion`
            found[info.name] = module.create_pipeline().tag(info.name)
    return found


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``__default__`` goes from the raw files (the synthetic world is generated when
    absent) to both results tables and one MLflow run per table row, bundles the
    release model, places the world's new releases, and logs the release model as an
    MLflow pyfunc model registered as ``coldstart-releases``, moving its ``champion``
    alias when the release quality passes the gate
    (:func:`coldstart.pipelines.releases.pipeline.registration_pipeline`). ``tables``
    is the same without the releases: what each seed of the multi-seed study runs.
    ``tables_artist`` is the part of ``tables`` that Table 1 needs (``python -m
    coldstart.study --level artist``).
    """
    from coldstart.pipelines.releases.pipeline import (
        registration_pipeline,
        release_model_pipeline,
    )

    if isinstance(load_base_parameters().get("msd_a"), dict):
        # `kedro run --env=msd_a`: the paper's release replaces world, ingestion,
        # enrichment, factorization and audio (docs/msd_a.md)
        from coldstart.pipelines.msd_a.pipeline import create_release_pipeline

        release = create_release_pipeline()
        return {"__default__": release, "msd_a": release}
    pipelines = stage_pipelines()
    for name in MODELLING:
        if name in pipelines:
            pipelines[name] = _with_row_evaluation(pipelines[name])
    # both results tables and nothing else: one seed of the multi-seed study
    pipelines["tables"] = sum(
        (pipe for name, pipe in pipelines.items() if name != "releases"), Pipeline([])
    )
    # Table 1 alone: an affordable seed of the artist-level study
    pipelines["tables_artist"] = table_pipeline(pipelines["tables"], "artist")
    pipelines["__default__"] = sum(
        (pipe for name, pipe in pipelines.items() if name not in ("tables", "tables_artist")),
        release_model_pipeline().tag("releases") + registration_pipeline(),
    )
    return pipelines
