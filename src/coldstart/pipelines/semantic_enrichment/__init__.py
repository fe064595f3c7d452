"""The semantic_enrichment pipeline: entity linking + knowledge-base facts appended to biographies."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
