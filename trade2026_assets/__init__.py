"""The Trade2026 Dagster code location and the domain code it builds on: shared market
data (bars, indicators, online features: `assets/`) and, per declared strategy
(`strategy/`), its training set, model and backtest (`defs/ml/`) and its auto-swap sensor
and deployed strategy (`defs/deploy/`), assembled in `definitions.py`.

Every module here is safe to import: nothing reads the environment or connects to anything
until `definitions.defs()` is called by Dagster.
"""
