"""Ingestion pipeline: raw contract files -> clean tables, split, play matrices."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assemble_report,
    build_play_matrices,
    play_triplets_table,
    read_biographies,
    read_play_triplets,
    read_tags,
    read_track_metadata,
    select_items,
)


def spark_triplets() -> Pipeline:
    """The play matrices as partitioned Parquet triplets, for the Spark factorization."""
    return Pipeline(
        [
            Node(
                play_triplets_table,
                f"{level}_plays",
                f"{level}_play_triplets@pandas",
                name=f"write_{level}_play_triplets",
            )
            for level in ("song", "artist")
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    from coldstart.rows import load_base_parameters

    backend = load_base_parameters().get("factorization", {}).get("backend", "implicit")
    triplets = spark_triplets() if backend == "spark" else Pipeline([])
    return triplets + Pipeline(
        [
            Node(
                read_play_triplets,
                ["raw_triplets", "params:ingestion"],
                ["play_triplets", "triplets_report"],
                name="read_play_triplets",
            ),
            Node(
                read_track_metadata,
                ["raw_track_metadata", "raw_audio_dir"],
                ["tracks", "tracks_report"],
                name="read_track_metadata",
            ),
            Node(
                read_biographies,
                ["raw_biographies", "params:ingestion"],
                ["biographies", "biographies_report"],
                name="read_biographies",
            ),
            Node(
                read_tags,
                ["raw_tags", "params:ingestion"],
                ["tags", "tags_report"],
                name="read_tags",
            ),
            Node(
                select_items,
                [
                    "tracks",
                    "biographies",
                    "tags",
                    "play_triplets",
                    "params:ingestion",
                    "params:seed",
                ],
                ["artists", "artist_tags", "songs", "catalogue_report"],
                name="select_items_and_split",
            ),
            Node(
                build_play_matrices,
                ["play_triplets", "songs", "artists"],
                ["users", "song_plays", "artist_plays", "matrices_report"],
                name="build_play_matrices",
            ),
            Node(
                assemble_report,
                [
                    "triplets_report",
                    "tracks_report",
                    "biographies_report",
                    "tags_report",
                    "catalogue_report",
                    "matrices_report",
                ],
                "ingestion_report",
                name="assemble_ingestion_report",
            ),
        ]
    )
