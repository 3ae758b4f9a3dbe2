"""Pipelines: the marketplace simulator, ingest with data contracts, batch scoring."""
