"""The world pipeline."""
