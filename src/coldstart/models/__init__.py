"""Keras model builders and training helpers (plain modules, no Kedro)."""
