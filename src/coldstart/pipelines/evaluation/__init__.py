"""The evaluation pipeline."""
