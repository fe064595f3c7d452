"""Factorization pipeline: WMF factors at song and artist level.

``factorization.backend`` picks the implementation: ``implicit`` (default) reads the
``.npz`` play matrices, ``spark`` the partitioned Parquet triplets that ingestion
then writes. Both give the same outputs under the same names.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import factorize, factorize_spark

LEVEL_ITEMS = {"song": "songs", "artist": "artists"}


def create_pipeline(**kwargs) -> Pipeline:
    from coldstart.rows import load_base_parameters

    backend = load_base_parameters().get("factorization", {}).get("backend", "implicit")
    if backend not in ("implicit", "spark"):
        raise ValueError(f"factorization.backend must be 'implicit' or 'spark', got {backend!r}")
    if backend == "spark":
        return Pipeline(
            [
                Node(
                    factorize_spark,
                    [
                        f"{level}_play_triplets@spark",
                        items,
                        "users",
                        "params:factorization.wmf",
                        "params:factorization.spark",
                        "params:seed",
                    ],
                    [f"{level}_user_factors", f"{level}_item_factors"],
                    name=f"factorize_{items}",
                )
                for level, items in LEVEL_ITEMS.items()
            ]
        )
    return Pipeline(
        [
            Node(
                factorize,
                [f"{level}_plays", items, "params:factorization.wmf", "params:seed"],
                [f"{level}_user_factors", f"{level}_item_factors"],
                name=f"factorize_{items}",
            )
            for level, items in LEVEL_ITEMS.items()
        ]
    )
