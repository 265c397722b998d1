"""Deploying a strategy: its auto-swap sensor (`sensor.build_auto_swap_sensor`) and the
`deployed_strategy` asset it records (`deployed_strategy.deployed_strategy_spec`).

One sensor per declared strategy: `candidates` reads the evidence from the event log,
`policy` decides, `registry_steps` and `aliases` act, `sensor` ties a tick together. This
file imports nothing, so that `policy` (no Dagster) can be imported without Dagster.
"""
