"""The fusion pipeline."""
