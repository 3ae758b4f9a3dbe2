"""Feature pipelines: Polars, point-in-time correct, one pure function per feature family."""
