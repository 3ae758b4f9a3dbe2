"""Investigation agent: plans which evidence to gather before the scorer decides."""
