"""World pipeline: the seeded synthetic dataset that stands in for MSD-A."""

from kedro.pipeline import Node, Pipeline

from .nodes import ensure_raw_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                ensure_raw_dataset,
                inputs=[
                    "params:dataset_dir",
                    "params:world",
                    "params:releases_dir",
                    "params:generate_world",
                    "params:default_dataset_dir",
                ],
                outputs=[
                    "raw_triplets",
                    "raw_track_metadata",
                    "raw_biographies",
                    "raw_tags",
                    "raw_audio_dir",
                    "raw_knowledge_base",
                    "raw_releases_dir",
                ],
                name="ensure_raw_dataset",
            )
        ]
    )
