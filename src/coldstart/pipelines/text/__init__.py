"""Text pipeline: artist text embeddings and the rows of Table 1 (paper §3, §6.2)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
