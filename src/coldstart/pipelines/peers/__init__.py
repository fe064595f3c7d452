"""Peer rows of Tables 1 and 2: cold-start methods published after the paper (docs/peers.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
