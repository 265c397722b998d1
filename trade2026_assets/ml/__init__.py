"""Training sets, the model families (`classifiers`), their metrics and the backtest; no
Dagster."""
