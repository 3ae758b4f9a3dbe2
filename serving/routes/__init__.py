"""Routers, one per resource: ``health`` (liveness / readiness), ``metrics``, ``score``."""
