"""Real-time scoring endpoint (FastAPI) and the analyst investigation view."""
