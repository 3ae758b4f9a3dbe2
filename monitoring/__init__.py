"""Monitoring: drift, data quality, performance and latency."""
