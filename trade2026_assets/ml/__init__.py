"""Training sets, models and backtests."""
