"""`deployed_strategy`: what the registry has live, recorded by the auto-swap sensor.

No run computes it: the sensor reports a materialization each time a model goes live (or a
swap is rolled back), so the asset graph carries lineage from the live strategy back to the
bars its model was trained on.
"""

from __future__ import annotations

import dagster as dg

DEPLOYED_STRATEGY_SPEC = dg.AssetSpec(
    "deployed_strategy",
    deps=["xgb_model", "online_features"],
    group_name="ml",
    kinds={"bentoml"},
    description="The strategy live in the registry's production slot and served by BentoML: "
    "the swap that put it there, its registry entity and deployment, the model version and "
    "how long serving took to follow. Recorded by `auto_swap_sensor`.",
)
