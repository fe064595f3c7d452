"""The releases pipeline: recommend new artists and tracks that have no history."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
