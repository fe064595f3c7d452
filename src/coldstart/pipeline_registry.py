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
from coldstart.rows import load_base_parameters, load_rows

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
    pipelines["__default__"] = sum(
        (pipe for name, pipe in pipelines.items() if name != "tables"),
        release_model_pipeline().tag("releases") + registration_pipeline(),
    )
    return pipelines
