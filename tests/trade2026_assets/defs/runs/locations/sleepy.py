"""A code location whose one asset takes long enough to be killed mid-way."""

import time

import dagster as dg


@dg.asset
def sleepy() -> None:
    time.sleep(120)


defs = dg.Definitions(assets=[sleepy])
