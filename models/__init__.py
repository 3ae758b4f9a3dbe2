"""Risk models: training, calibration, decisions, MLflow registry."""
