"""Real bars through every step: Microsoft's daily OHLCV bars as pmdarima ships them in its
wheel (`pmdarima.datasets.load_msft`, 1986-03-13 to 2017-11-10; nothing is fetched), written
as the Yahoo-style CSV a user downloads, read through a sources file with the XNYS calendar,
then `market_data_job` and `training_job`, whose verdicts on this data are asserted."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pmdarima.datasets import load_msft

from scripts.harness.dagster_runs import run_job, run_market_data_job
from tests.trade2026_assets.declarations import DEFAULT, default_with, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.warehouse import WarehouseResource

TRAINING_SET = f"{DEFAULT}/training_set"
MODEL = f"{DEFAULT}/model"
BACKTEST = f"{DEFAULT}/backtest"
SOURCE = "pmdarima.datasets.load_msft (Microsoft daily bars, 1986-2017)"
SOURCES_FILE = """
sources:
  stocks:
    path: yahoo
    symbols: [MSFT]
    calendar: XNYS
    timezone: America/New_York
"""


@pytest.fixture(scope="module")
def msft() -> pl.DataFrame:
    return pl.from_pandas(load_msft())


def write_yahoo_csv(msft: pl.DataFrame, directory: Path) -> Path:
    """The bars as Yahoo Finance exports them: Date,Open,High,Low,Close,Adj Close,Volume."""
    directory.mkdir(parents=True)
    file = directory / "MSFT.csv"
    msft.select(
        "Date",
        "Open",
        "High",
        "Low",
        "Close",
        pl.col("Close").alias("Adj Close"),  # the dataset's prices are already adjusted
        "Volume",
    ).write_csv(file)
    return file


def test_msft_daily_bars_through_market_data_and_training(
    tmp_path: Path, msft: pl.DataFrame
) -> None:
    assert msft.height == 7983, SOURCE
    write_yahoo_csv(msft, tmp_path / "yahoo")
    (tmp_path / "sources.yaml").write_text(SOURCES_FILE)
    settings = AssetsSettings(
        home=tmp_path / "home",
        sources_file=tmp_path / "sources.yaml",
        feast_project=f"t26_real_{tmp_path.name.replace('-', '_')[-30:]}",
        strategies_dir=write_strategies(tmp_path / "strategies", {DEFAULT: default_with()}),
    )
    assert settings.universe == ["MSFT"]
    defs = build_definitions(settings)

    market = run_market_data_job(defs, ["MSFT"])

    assert market.success, market.failures
    blocking = (
        "no_missing_values",
        "prices_positive",
        "high_low_consistent",
        "volume_non_negative",
        "timestamps_strictly_increasing",
    )
    for name in blocking:
        assert market.check("market_bars", name).passed, name
    assert market.metadata("market_bars", "no_missing_values")["checked_rows"] == 7983
    # XNYS knows the closures (weekends, holidays, 9/11, Hurricane Sandy, state funerals):
    # what remains are two sessions the dataset really lacks.
    gaps = market.metadata("market_bars", "gaps_reported")
    assert not market.check("market_bars", "gaps_reported").passed
    assert gaps["failing_rows_by_symbol"] == {"MSFT": 2}
    assert gaps["missing_bars_by_symbol"] == {"MSFT": 2}
    assert "| 1998-10-29 |" in gaps["first_failing_rows"]
    assert "| 1999-11-16 |" in gaps["first_failing_rows"]
    assert "XNYS, America/New_York: MSFT" in gaps["rule"]

    stored = WarehouseResource(chdb_path=str(settings.warehouse_path)).query_arrow(
        "SELECT min(ts) AS first, max(ts) AS last, count() AS n FROM bars"
    )
    first, last, n = stored.to_pylist()[0].values()
    # Dates are New York's: midnight there is 05:00 UTC in winter.
    assert (first.isoformat(), last.isoformat(), n) == (
        "1986-03-13T05:00:00+00:00",
        "2017-11-10T05:00:00+00:00",
        7983,
    )
    assert market.materialized["indicators"] == {"MSFT"}
    online = market.metadata_of["online_features"]
    assert online["rows_written"] == 1
    indicator_set = settings.strategies()[DEFAULT].indicator_set
    assert online["latest_timestamp_by_row"] == {
        f"MSFT/{indicator_set}": "2017-11-10T05:00:00+00:00"
    }
    assert market.check("online_features", "online_offline_parity").passed
    assert market.check("online_features", "point_in_time").passed

    training = run_job(defs, TRAINING_JOB)

    # Next-day direction of a large-cap stock is close to a coin toss: the model is trained
    # and registered, but the AUC gate says it has no edge, and the backtest is not run.
    assert not training.success
    model = training.metadata_of[MODEL]
    assert training.metadata_of[TRAINING_SET]["rows"] == 7945
    assert model["gates_passed"] is False
    assert model["challenger"] is False
    assert training.check(TRAINING_SET, "no_leakage").passed
    # Real bars, recomputed at each sampled row from the bars up to it: point in time.
    assert training.check(TRAINING_SET, "point_in_time").passed
    # The 3 newest rows, the 6 split edges (the test split's last is a newest), 24 at random.
    assert training.metadata(TRAINING_SET, "point_in_time")["rows_checked"] == 3 + 5 + 24
    auc = training.metadata(MODEL, "auc_above_chance")
    assert not training.check(MODEL, "auc_above_chance").passed
    assert auc["wf_auc_lower"] < auc["threshold"]
    # The baseline gate is a near miss either way on this data: its verdict follows its
    # evidence.
    baseline = training.metadata(MODEL, "beats_majority_baseline")
    assert training.check(MODEL, "beats_majority_baseline").passed == (
        baseline["accuracy_gain_lower"] > baseline["threshold"]
    )
    assert BACKTEST not in training.materialized
