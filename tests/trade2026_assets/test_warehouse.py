"""The embedded chDB warehouse: atomic partition replacement, bound parameters, and several
processes taking turns on one data directory."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import pytest

from trade2026_assets.synthetic import synthetic_bars
from trade2026_assets.technical_indicators import IndicatorParams, compute_indicators
from trade2026_assets.warehouse import (
    BARS,
    FEATURES,
    SERVING_FEATURES,
    TRAINING_SETS,
    WarehouseError,
    WarehouseResource,
    _ChdbSession,
    quote_identifier,
)

TS = pa.timestamp("ms", tz="UTC")


# The tables as an earlier version created them: a warehouse of that version must keep
# working after an upgrade.
OLD_FEATURES_DDL = """
    CREATE TABLE IF NOT EXISTS features (
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
        close Float64,
        ret_1 Float64,
        log_ret_1 Float64,
        volatility Float64,
        rsi Float64,
        macd Float64,
        macd_signal Float64,
        macd_hist Float64,
        bb_upper Float64,
        bb_middle Float64,
        bb_lower Float64,
        indicator_set LowCardinality(String)
    )
    ENGINE = MergeTree
    PARTITION BY symbol
    ORDER BY (symbol, ts)
"""
OLD_TRAINING_SETS_DDL = """
    CREATE TABLE IF NOT EXISTS training_sets (
        training_set LowCardinality(String),
        split LowCardinality(String),
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
        close Float64,
        ret_1 Float64,
        ret_1_lag1 Float64,
        ret_1_lag2 Float64,
        volatility Float64,
        rsi Float64,
        macd_norm Float64,
        macd_signal_norm Float64,
        macd_hist_norm Float64,
        bb_pctb Float64,
        bb_width Float64,
        label UInt8
    )
    ENGINE = MergeTree
    PARTITION BY training_set
    ORDER BY (training_set, split, symbol, ts)
"""
OLD_SERVING_FEATURES_DDL = """
    CREATE TABLE IF NOT EXISTS serving_features (
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
        close Float64,
        rsi Float64,
        macd Float64,
        macd_signal Float64,
        macd_histogram Float64,
        bb_upper Float64,
        bb_middle Float64,
        bb_lower Float64,
        ret_1 Float64,
        ret_1_lag1 Float64,
        ret_1_lag2 Float64,
        volatility Float64,
        macd_norm Float64,
        macd_signal_norm Float64,
        macd_hist_norm Float64,
        bb_pctb Float64,
        bb_width Float64,
        indicator_set LowCardinality(String),
        created_at DateTime64(3, 'UTC')
    )
    ENGINE = MergeTree
    PARTITION BY symbol
    ORDER BY (symbol, ts)
"""


def bars_table(symbol: str, n: int, *, price: float = 100.0, start_ms: int = 0) -> pa.Table:
    return pa.table(
        {
            "symbol": [symbol] * n,
            "seq": pa.array(range(n), type=pa.uint32()),
            "ts": pa.array([start_ms + i * 60_000 for i in range(n)], type=pa.int64()).cast(TS),
            "open": [price] * n,
            "high": [price + 1] * n,
            "low": [price - 1] * n,
            "close": [price] * n,
            "volume": [10.0] * n,
        }
    )


def counts(warehouse: WarehouseResource) -> dict[str, int]:
    table = warehouse.query_arrow(
        "SELECT symbol, count() AS n FROM bars GROUP BY symbol ORDER BY symbol"
    )
    return dict(zip(table["symbol"].to_pylist(), table["n"].to_pylist(), strict=True))


# A ClickHouse server cannot be installed on the development machine; when one is given,
# the same tests run against it too, each in a database of its own.
CLICKHOUSE_TEST_URL = os.environ.get("TRADE2026_TEST_CLICKHOUSE_URL", "")


@contextmanager
def server_database(url: str) -> Iterator[str]:
    import clickhouse_connect

    parts = urlsplit(url)
    name = f"t26_test_{uuid.uuid4().hex[:12]}"
    admin = clickhouse_connect.get_client(
        host=parts.hostname,
        port=parts.port or 8123,
        username=parts.username or "default",
        password=parts.password or "",
        connect_timeout=10,
    )
    admin.command("CREATE DATABASE {name:Identifier}", parameters={"name": name})
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))
    finally:
        admin.command("DROP DATABASE IF EXISTS {name:Identifier}", parameters={"name": name})
        admin.close()


@pytest.fixture(params=["chdb", "clickhouse-server"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WarehouseResource]:
    if request.param == "chdb":
        resource = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
        resource.ensure_schema()
        yield resource
        return
    if not CLICKHOUSE_TEST_URL:
        pytest.skip("no ClickHouse server here: set TRADE2026_TEST_CLICKHOUSE_URL to run")
    with server_database(CLICKHOUSE_TEST_URL) as url:
        resource = WarehouseResource(clickhouse_url=url)
        resource.ensure_schema()
        yield resource


def test_rematerializing_replaces_a_partition_and_leaves_others(
    warehouse: WarehouseResource,
) -> None:
    both = pa.concat_tables([bars_table("AAA", 10), bars_table("BBB", 5)])
    assert warehouse.replace_partitions(table=BARS, data=both, partitions=["AAA", "BBB"]) == 15
    warehouse.replace_partitions(
        table=BARS, data=bars_table("AAA", 7, price=50), partitions=["AAA"]
    )
    warehouse.replace_partitions(
        table=BARS, data=bars_table("AAA", 7, price=50), partitions=["AAA"]
    )
    assert counts(warehouse) == {"AAA": 7, "BBB": 5}
    prices = warehouse.query_arrow(
        "SELECT DISTINCT close FROM bars WHERE symbol = {s:String}", {"s": "AAA"}
    )
    assert prices["close"].to_pylist() == [50.0]


def test_a_failed_write_leaves_the_previous_data_and_no_staging_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    warehouse.ensure_schema()
    warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 10), partitions=["AAA"])
    # Fault injected after the rows reached the staging table, before the swap.
    real_insert = _ChdbSession.insert_arrow

    def insert_then_fail(self: _ChdbSession, table: str, data: pa.Table) -> None:
        real_insert(self, table, data)
        raise WarehouseError("injected fault after the staging insert")

    monkeypatch.setattr(_ChdbSession, "insert_arrow", insert_then_fail)
    with pytest.raises(WarehouseError, match="injected"):
        warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 3), partitions=["AAA"])
    monkeypatch.undo()
    assert counts(warehouse) == {"AAA": 10}
    tables = warehouse.query_arrow(
        "SELECT name FROM system.tables WHERE database = currentDatabase()"
    )
    assert sorted(tables["name"].to_pylist()) == [
        "bars",
        "data_versions",
        "features",
        "indicator_sets",
        "serving_features",
        "training_sets",
    ]


def test_staging_tables_of_a_killed_writer_are_dropped(tmp_path: Path) -> None:
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    warehouse.ensure_schema()
    with warehouse.session() as session:  # what a writer killed mid-write leaves behind
        session.command("CREATE TABLE bars_staging_deadbeef AS bars")
    warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 2), partitions=["AAA"])
    names = warehouse.query_arrow(
        "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"
    )
    assert "bars_staging_deadbeef" not in names["name"].to_pylist()
    assert counts(warehouse) == {"AAA": 2}


def test_values_that_do_not_fit_the_column_are_refused_before_storing(
    warehouse: WarehouseResource,
) -> None:
    warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 10), partitions=["AAA"])
    broken = bars_table("AAA", 3).set_column(2, "ts", pa.array(["x", "y", "z"]))
    with pytest.raises(WarehouseError, match=r"bars\.ts: cannot store string"):
        warehouse.replace_partitions(table=BARS, data=broken, partitions=["AAA"])
    assert counts(warehouse) == {"AAA": 10}


def test_inserts_match_columns_by_name(warehouse: WarehouseResource) -> None:
    shuffled = bars_table("AAA", 3, price=100).select(
        ["volume", "close", "low", "high", "open", "ts", "seq", "symbol"]
    )
    with warehouse.session() as session:
        session.insert_arrow("bars", shuffled)
    stored = warehouse.query_arrow("SELECT open, high, low, volume FROM bars ORDER BY seq LIMIT 1")
    assert stored.to_pylist() == [{"open": 100.0, "high": 101.0, "low": 99.0, "volume": 10.0}]


def test_a_partition_without_rows_is_emptied(warehouse: WarehouseResource) -> None:
    warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 4), partitions=["AAA"])
    warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 0), partitions=["AAA"])
    assert counts(warehouse) == {}


def test_rows_outside_the_declared_partitions_are_refused(warehouse: WarehouseResource) -> None:
    with pytest.raises(WarehouseError, match="undeclared partitions"):
        warehouse.replace_partitions(table=BARS, data=bars_table("AAA", 2), partitions=["BBB"])
    with pytest.raises(WarehouseError, match="lacks columns"):
        warehouse.replace_partitions(
            table=BARS, data=bars_table("AAA", 2).drop_columns(["volume"]), partitions=["AAA"]
        )


def test_a_staged_write_can_publish_some_of_its_partitions(
    warehouse: WarehouseResource,
) -> None:
    """What a per-symbol audit publishes: the partitions that passed; the others keep
    their published rows."""
    warehouse.replace_partitions(
        table=BARS,
        data=pa.concat_tables([bars_table("AAA", 3), bars_table("BBB", 4)]),
        partitions=["AAA", "BBB"],
    )
    with warehouse.staged(table=BARS, partitions=["AAA", "BBB"]) as staged:
        staged.insert(pa.concat_tables([bars_table("AAA", 5), bars_table("BBB", 6)]))
        with pytest.raises(WarehouseError, match=r"undeclared partitions \['CCC'\]"):
            staged.publish(partitions=["AAA", "CCC"])
        staged.publish(partitions=["AAA"])
    assert counts(warehouse) == {"AAA": 5, "BBB": 4}


def test_values_are_bound_not_spliced(warehouse: WarehouseResource) -> None:
    awkward = "O'BR\\IEN"
    warehouse.replace_partitions(table=BARS, data=bars_table(awkward, 3), partitions=[awkward])
    found = warehouse.query_arrow(
        "SELECT count() AS n FROM bars"
        " WHERE symbol IN {s:Array(String)} AND ts >= {t:DateTime64(3)}",
        {"s": [awkward, "x') OR 1=1 --"], "t": datetime(1970, 1, 1, tzinfo=UTC)},
    )
    assert found["n"].to_pylist() == [3]
    with pytest.raises(WarehouseError):
        quote_identifier("bars; DROP TABLE bars")


def test_a_busy_warehouse_times_out_with_a_clear_error(tmp_path: Path) -> None:
    resource = WarehouseResource(chdb_path=str(tmp_path / "wh"), lock_timeout_seconds=0.3)
    lock_path = tmp_path / "wh.lock"
    with lock_path.open("a") as held:
        # Another process holding the lock looks like this to us (flock is per open file).
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(WarehouseError, match="stayed busy"):
            resource.query_arrow("SELECT 1")
    assert resource.query_arrow("SELECT 1 AS one")["one"].to_pylist() == [1]


def _writer(path: str, symbol: str, rounds: int, start: multiprocessing.synchronize.Event) -> None:
    warehouse = WarehouseResource(chdb_path=path, lock_timeout_seconds=120)
    start.wait(30)
    for i in range(rounds):
        data = bars_table(symbol, 1_000 + i, price=100 + i)
        warehouse.replace_partitions(table=BARS, data=data, partitions=[symbol])
        warehouse.query_arrow("SELECT count() FROM bars")


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "shared")
    WarehouseResource(chdb_path=path).ensure_schema()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    rounds = 8
    workers = [
        context.Process(target=_writer, args=(path, symbol, rounds, start))
        for symbol in ("PROC1", "PROC2")
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(180)
    assert [worker.exitcode for worker in workers] == [0, 0]
    # Each process's last write is what is stored; nothing duplicated, nothing lost.
    assert counts(WarehouseResource(chdb_path=path)) == {
        "PROC1": 1_000 + rounds - 1,
        "PROC2": 1_000 + rounds - 1,
    }
    assert os.path.exists(path + ".lock")


def indicator_rows(symbol: str, params: IndicatorParams, n: int = 120) -> pl.DataFrame:
    bars = synthetic_bars(symbol, n_bars=n).select("symbol", "ts", "close", "high", "low", "volume")
    return compute_indicators(bars, params)


def test_a_warehouse_created_with_the_old_tables_is_upgraded(tmp_path: Path) -> None:
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    with warehouse.session() as session:
        for ddl in (OLD_FEATURES_DDL, OLD_TRAINING_SETS_DDL, OLD_SERVING_FEATURES_DDL):
            session.command(ddl)
        session.command(
            "INSERT INTO features (symbol, ts, close, indicator_set)"
            " VALUES ('OLD', '2024-01-02 00:00:00', 100.0, 'old-set')"
        )
    warehouse.ensure_schema()
    warehouse.ensure_schema()  # idempotent
    for spec in (FEATURES, TRAINING_SETS, SERVING_FEATURES):
        columns = warehouse.query_arrow(
            "SELECT name FROM system.columns WHERE database = currentDatabase()"
            " AND table = {t:String}",
            {"t": spec.name},
        )["name"].to_pylist()
        assert set(spec.columns) <= set(columns), spec.name
    rows = indicator_rows("NEW", IndicatorParams())
    warehouse.replace_partitions(table=FEATURES, data=rows.to_arrow(), partitions=["NEW"])
    stored = warehouse.query_frame(
        "SELECT symbol, ts, high, low, volume, atr FROM features ORDER BY symbol, ts"
    )
    new = stored.filter(pl.col("symbol") == "NEW")
    assert new["atr"].to_list() == rows["atr"].to_list()
    assert new["volume"].to_list() == rows["volume"].to_list()
    # Rows stored before the upgrade stay readable (the new columns read their default).
    old = stored.filter(pl.col("symbol") == "OLD")
    assert old.select("high", "low", "volume", "atr").row(0) == (0.0, 0.0, 0.0, 0.0)


def test_a_write_into_an_old_table_gets_its_new_columns_first(tmp_path: Path) -> None:
    # A staged write creates its staging table from the table itself: the table must have
    # gained its new columns before (no ensure_schema call in between).
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    with warehouse.session() as session:
        session.command(OLD_FEATURES_DDL)
    rows = indicator_rows("AAA", IndicatorParams())
    assert (
        warehouse.replace_partitions(table=FEATURES, data=rows.to_arrow(), partitions=["AAA"])
        == rows.height
    )


def test_two_indicator_sets_of_one_symbol_are_stored_side_by_side(
    warehouse: WarehouseResource,
) -> None:
    seed, fast = IndicatorParams(), IndicatorParams(rsi_period=5, atr_period=7)
    both = pl.concat(
        [indicator_rows("AAA", seed), indicator_rows("AAA", fast)], how="vertical_relaxed"
    )
    warehouse.replace_partitions(table=FEATURES, data=both.to_arrow(), partitions=["AAA"])
    for params in (seed, fast):
        stored = warehouse.query_frame(
            "SELECT ts, rsi, atr FROM features WHERE symbol = 'AAA'"
            " AND indicator_set = {s:String} ORDER BY ts",
            {"s": params.indicator_set()},
        )
        expected = indicator_rows("AAA", params)
        assert stored["rsi"].to_list() == expected["rsi"].to_list()
        assert stored["atr"].to_list() == expected["atr"].to_list()
    # A run replaces every set of its symbol: here, one set instead of two.
    warehouse.replace_partitions(
        table=FEATURES, data=indicator_rows("AAA", fast).to_arrow(), partitions=["AAA"]
    )
    sets = warehouse.query_frame("SELECT DISTINCT indicator_set FROM features")
    assert sets["indicator_set"].cast(pl.String).to_list() == [fast.indicator_set()]
