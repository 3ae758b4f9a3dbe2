"""scamguard: scam detection for a two-sided work marketplace (settings, CLI, raw-table schema)."""
