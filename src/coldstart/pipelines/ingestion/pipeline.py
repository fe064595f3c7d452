"""Ingestion pipeline: raw contract files -> clean tables, split, play matrices."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assemble_report,
    build_play_matrices,
    read_biographies,
    read_play_triplets,
    read_tags,
    read_track_metadata,
    select_items,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
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
