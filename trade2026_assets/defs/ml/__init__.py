"""Per strategy: `<name>/training_set` → `<name>/model` → `<name>/backtest`, with gates."""
