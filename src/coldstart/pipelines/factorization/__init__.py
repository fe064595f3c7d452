"""The factorization pipeline."""
