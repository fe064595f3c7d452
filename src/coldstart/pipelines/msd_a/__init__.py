"""The MSD-A release pipeline: the paper's own splits, factors and features (docs/msd_a.md).

Not a stage of the project's default pipelines (this package exports no
``create_pipeline``, so :func:`coldstart.pipeline_registry.stage_pipelines` leaves it
out): ``kedro run --env=msd_a`` registers it alone, in place of the world, ingestion,
enrichment, factorization and audio stages, whose outputs the release already holds.
"""
