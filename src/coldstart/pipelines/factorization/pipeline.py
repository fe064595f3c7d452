"""Factorization pipeline: WMF factors at song and artist level."""

from kedro.pipeline import Node, Pipeline

from .nodes import factorize


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                factorize,
                ["song_plays", "songs", "params:factorization.wmf", "params:seed"],
                ["song_user_factors", "song_item_factors"],
                name="factorize_songs",
            ),
            Node(
                factorize,
                ["artist_plays", "artists", "params:factorization.wmf", "params:seed"],
                ["artist_user_factors", "artist_item_factors"],
                name="factorize_artists",
            ),
        ]
    )
