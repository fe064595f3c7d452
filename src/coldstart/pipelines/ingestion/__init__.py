"""The ingestion pipeline."""
