"""The audio pipeline: CQT feature store, the track CNN (``audio`` row) and T'."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
