"""The Dagster code location's definitions by domain (Dagster's `defs/` layout):
`market_data` (the shared bars, indicators and online features, with their checks), `ml`
(each strategy's training set, model and backtest), `deploy` (each strategy's deployment and
its auto-swap sensor), `runs` (dead-run monitoring), the schedules and the resources.
`trade2026_assets.definitions` assembles them, once per declared strategy where they are per
strategy. Check evidence (`evidence`) and in-run lineage (`lineage`) serve every domain."""
