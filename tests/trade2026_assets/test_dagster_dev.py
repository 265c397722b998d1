"""`dagster dev` from the README: the UI lists the assets and their checks, and a backfill of
the whole universe launched through it runs as one run that the daemon and a run worker
carry out against the embedded warehouse."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.dagster_dev import DagsterDev, new_dagster_home
from tests.trade2026_assets.test_definitions import ALL_ASSETS
from trade2026_assets.warehouse import WarehouseResource

REPO = Path(__file__).resolve().parents[2]

ASSETS_QUERY = """
{ assetNodes { assetKey { path } isPartitioned
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }
"""
LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
  runsOrError { ... on Runs { results { runId status } } }
}
"""


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    home = tmp_path / "home"
    dagster_home = new_dagster_home(home)
    env = {
        "TRADE2026_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "TRADE2026_SYNTHETIC_BARS": "400",
        "TRADE2026_SYMBOLS": "AAA,BBB,CCC",
    }
    with DagsterDev(env, log_file=tmp_path / "dagster-dev.log") as dev:
        dev.home = home  # type: ignore[attr-defined]
        yield dev


def test_ui_shows_assets_with_checks_and_backfills_the_universe_in_one_run(
    dagster_dev: DagsterDev,
) -> None:
    nodes = {
        "/".join(node["assetKey"]["path"]): node
        for node in dagster_dev.graphql(ASSETS_QUERY)["assetNodes"]
    }
    assert set(nodes) == ALL_ASSETS
    assert nodes["market_bars"]["isPartitioned"]
    assert nodes["indicators"]["isPartitioned"]
    bar_checks = {
        c["name"]: c["blocking"] for c in nodes["market_bars"]["assetChecksOrError"]["checks"]
    }
    assert bar_checks["no_missing_values"] is True
    assert bar_checks["gaps_reported"] is False
    assert len(nodes["indicators"]["assetChecksOrError"]["checks"]) == 4
    online_checks = {
        c["name"]: c["blocking"] for c in nodes["online_features"]["assetChecksOrError"]["checks"]
    }
    assert online_checks == {"online_offline_parity": True, "point_in_time": True}

    launched = dagster_dev.graphql(
        LAUNCH_BACKFILL,
        p={
            "assetSelection": [
                {"path": ["market_bars"]},
                {"path": ["indicators"]},
                {"path": ["online_features"]},
            ],
            "allPartitions": True,
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 240
    while True:
        state = dagster_dev.graphql(BACKFILL_STATUS, id=launched["backfillId"])
        status = state["partitionBackfillOrError"]["status"]
        if status not in {"REQUESTED", "IN_PROGRESS"}:
            break
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert status == "COMPLETED_SUCCESS", state
    runs = state["runsOrError"]["results"]
    assert [run["status"] for run in runs] == ["SUCCESS"]  # one run for three symbols

    home: Path = dagster_dev.home  # type: ignore[attr-defined]
    stored = WarehouseResource(chdb_path=str(home / "warehouse")).query_arrow(
        "SELECT uniqExact(symbol) AS symbols, count() AS rows FROM features"
    )
    assert stored.to_pylist() == [{"symbols": 3, "rows": 3 * (400 - 33)}]
    online = (home / "feature_store" / "online.db").stat()
    assert online.st_size > 0  # the same run filled the online store
