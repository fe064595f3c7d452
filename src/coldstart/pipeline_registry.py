"""Project pipelines.

Each modelling pipeline (``text``, ``audio``, ``fusion``) is registered together
with the evaluation of the rows it produces and the tables those rows belong to,
so ``kedro run --pipelines=fusion`` retrains *and* re-evaluates the fusion rows
(the other rows' results are read back from the catalog). ``evaluation`` alone
re-scores every row from the predictions in the catalog.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from coldstart.pipelines.evaluation.pipeline import row_evaluation, shared_inputs, table
from coldstart.rows import load_base_parameters, load_rows

MODELLING = ("text", "audio", "fusion", "peers")
#: The MLflow registry name of the release model a training run logs.
RELEASE_MODEL_NAME = "coldstart-releases"


def _with_row_evaluation(modelling: Pipeline) -> Pipeline:
    rows = load_rows()
    outputs = modelling.all_outputs()
    produced = [ns for ns in rows if f"{ns}.test_item_factors" in outputs]
    levels = sorted({rows[ns]["table"] for ns in produced})
    if not produced:
        return modelling
    evaluation = sum(
        [
            shared_inputs(),
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


def _release_training(training: Pipeline, inference: Pipeline) -> Pipeline:
    """``training`` as a kedro-mlflow ``PipelineML`` that logs the release model.

    kedro-mlflow turns every filtered run of a ``PipelineML`` (``--namespaces``,
    ``--tags``, ``--to-nodes``...) into another ``PipelineML`` and refuses it when
    the filtered nodes no longer make the release model. Such a partial run makes
    no release model to log, so here it is simply the filtered training pipeline.
    """
    from kedro_mlflow.pipeline.pipeline_ml import KedroMlflowPipelineMLError, PipelineML

    class ReleaseTraining(PipelineML):
        def _turn_pipeline_to_ml(self, pipeline: Pipeline) -> Pipeline:
            try:
                return super()._turn_pipeline_to_ml(pipeline)
            except KedroMlflowPipelineMLError:
                return Pipeline(pipeline.nodes)

        # kedro-viz draws every namespace of the default pipeline as a super-node: it
        # takes the namespace's nodes and the rest of the pipeline around them. Plain
        # pipelines are all it needs (it logs no model). kedro-mlflow answers the same
        # but warns ("BEWARE - ... no longer a 'PipelineML'") at each call, 38 lines
        # per `kedro viz build` that no user can act on.
        def only_nodes_with_namespaces(self, node_namespaces: list[str]) -> Pipeline:
            return self.training.only_nodes_with_namespaces(node_namespaces)

        def __sub__(self, other: Pipeline) -> Pipeline:
            return self.training - other

    return ReleaseTraining(
        nodes=training.nodes,
        inference=inference,
        input_name="release_items",
        log_model_kwargs={
            "name": "release_model",
            "registered_model_name": RELEASE_MODEL_NAME,
            # the inference node checks every field itself and names the one at fault;
            # a schema would drop unknown fields silently instead
            "signature": None,
        },
    )


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``__default__`` goes from the raw files (the synthetic world is generated when
    absent) to both results tables and one MLflow run per table row, bundles the
    release model, places the world's new releases, and -- as a kedro-mlflow
    ``PipelineML`` (what ``pipeline_ml_factory`` builds) -- logs the release model as
    an MLflow pyfunc model registered as ``coldstart-releases`` (its inference pipeline:
    :func:`coldstart.pipelines.releases.pipeline.inference_pipeline`). ``tables``
    is the same without the releases: what each seed of the multi-seed study runs.
    """
    from coldstart.pipelines.releases.pipeline import inference_pipeline, release_model_pipeline

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
    training = sum(
        (pipe for name, pipe in pipelines.items() if name != "tables"),
        release_model_pipeline().tag("releases"),
    )
    pipelines["__default__"] = _release_training(training, inference_pipeline())
    return pipelines
