"""The warehouse: one resource, two back ends, the same ClickHouse SQL.

* Embedded (default): chDB, ClickHouse in-process, with its data directory under the state
  directory. chDB admits one process per data directory and one directory per process, so
  every operation opens a short-lived session while holding a process-wide lock and an
  exclusive `flock` on a sibling lock file; the Dagster webserver, daemon, run workers and
  tests then take turns instead of failing.
* Server: a ClickHouse server through clickhouse-connect, when `clickhouse_url` is set.

All values travel as bound query parameters (`{name:Type}`). Frames move as Arrow tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from trade2026_assets.feature_catalog import DEFAULT_FEATURES, FEATURE_NAMES
from trade2026_assets.feature_store.frame import CREATED_COLUMN, TIMESTAMP_COLUMN, VIEW_FIELDS
from trade2026_assets.processes import alive
from trade2026_assets.technical_indicators import BAR_COLUMNS, OUTPUT_COLUMNS

# chDB holds one embedded server per process: every session in this process goes through it.
_PROCESS_LOCK = threading.RLock()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


# The Dagster concurrency pool of the assets that write the warehouse: an instance that
# limits it to one run at a time (`concurrency: pools: granularity: run`) keeps one run's
# steps from reading what another run published in between.
WAREHOUSE_POOL = "warehouse"


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or refused an operation."""


class UnfinishedPublication(WarehouseError):
    """A partition's last publication did not finish: what it holds is not known."""


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table: its name, its DDL and its column order (the order inserts use)."""

    name: str
    columns: tuple[str, ...]
    ddl: str
    # Arrow type of each column that is not Float64 (symbol columns are dictionary-encoded).
    types: tuple[tuple[str, pa.DataType], ...] = ()
    # The column the table is partitioned by (`replace_partitions` swaps its values).
    partition_column: str = "symbol"
    # (column, ClickHouse type) of columns added since the table was first created: a
    # warehouse created by an earlier version gains them (`schema_statements`).
    added_columns: tuple[tuple[str, str], ...] = ()

    def arrow_type(self, column: str) -> pa.DataType:
        return dict(self.types).get(column, pa.float64())

    def schema_statements(self) -> list[str]:
        """Create the table if it is missing, and add the columns a table created by an
        earlier version lacks (existing rows read the type's default)."""
        return [
            self.ddl,
            *(
                "ALTER TABLE "
                + quote_identifier(self.name)
                + " ADD COLUMN IF NOT EXISTS "
                + quote_identifier(column)
                + " "
                + column_type
                for column, column_type in self.added_columns
            ),
        ]


def _float_columns(names: Sequence[str], column_type: str = "Float64") -> str:
    return ",\n".join(f"        {name} {column_type}" for name in names)


BARS = TableSpec(
    name="bars",
    columns=("symbol", "seq", "ts", "open", "high", "low", "close", "volume"),
    types=(("symbol", pa.string()), ("seq", pa.uint32()), ("ts", pa.timestamp("ms", tz="UTC"))),
    # Prices stay Nullable so that what a source delivered is stored as it was, and the
    # checks, not the insert, report the defect. One partition per symbol makes
    # re-materializing a symbol one atomic REPLACE PARTITION.
    ddl="""
    CREATE TABLE IF NOT EXISTS bars (
        symbol LowCardinality(String),
        seq UInt32,
        ts DateTime64(3, 'UTC'),
        open Nullable(Float64),
        high Nullable(Float64),
        low Nullable(Float64),
        close Nullable(Float64),
        volume Nullable(Float64)
    )
    ENGINE = MergeTree
    PARTITION BY symbol
    ORDER BY (symbol, ts, seq)
    """,
)

FEATURES = TableSpec(
    name="features",
    columns=("symbol", "ts", *BAR_COLUMNS, *OUTPUT_COLUMNS, "indicator_set"),
    types=(
        ("symbol", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("indicator_set", pa.string()),
    ),
    # A symbol's partition holds every indicator set its strategies need, side by side.
    ddl=f"""
    CREATE TABLE IF NOT EXISTS features (
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
{_float_columns((*BAR_COLUMNS, *OUTPUT_COLUMNS))},
        indicator_set LowCardinality(String)
    )
    ENGINE = MergeTree
    PARTITION BY symbol
    ORDER BY (symbol, indicator_set, ts)
    """,
    added_columns=tuple((name, "Float64") for name in ("high", "low", "volume", "atr")),
)

INDICATOR_SETS = TableSpec(
    name="indicator_sets",
    columns=("indicator_set", "definition", "talib_version", "created_at"),
    ddl="""
    CREATE TABLE IF NOT EXISTS indicator_sets (
        indicator_set String,
        definition String,
        talib_version String,
        created_at DateTime64(3, 'UTC')
    )
    ENGINE = ReplacingMergeTree(created_at)
    ORDER BY indicator_set
    """,
)

TRAINING_SETS = TableSpec(
    name="training_sets",
    # Every catalog feature, whichever a strategy reads: one table serves every strategy.
    columns=("training_set", "split", "symbol", "ts", "close", *FEATURE_NAMES, "label"),
    types=(
        ("training_set", pa.string()),
        ("split", pa.string()),
        ("symbol", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("label", pa.uint8()),
    ),
    partition_column="training_set",
    # One partition per content hash: a set is written once and never changes. A feature
    # the set's strategy does not read may be undefined on its rows (a longer lookback).
    ddl=f"""
    CREATE TABLE IF NOT EXISTS training_sets (
        training_set LowCardinality(String),
        split LowCardinality(String),
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
        close Float64,
{_float_columns(FEATURE_NAMES, "Nullable(Float64)")},
        label UInt8
    )
    ENGINE = MergeTree
    PARTITION BY training_set
    ORDER BY (training_set, split, symbol, ts)
    """,
    added_columns=tuple(
        (name, "Nullable(Float64)") for name in FEATURE_NAMES if name not in DEFAULT_FEATURES
    ),
)

SERVING_FEATURES = TableSpec(
    name="serving_features",
    columns=("symbol", TIMESTAMP_COLUMN, *VIEW_FIELDS, "indicator_set", CREATED_COLUMN),
    types=(
        ("symbol", pa.string()),
        (TIMESTAMP_COLUMN, pa.timestamp("ms", tz="UTC")),
        ("indicator_set", pa.string()),
        (CREATED_COLUMN, pa.timestamp("ms", tz="UTC")),
    ),
    # The Feast offline source of the production profile (the embedded one reads the same
    # rows from Parquet files): what the online store is materialized from.
    ddl=f"""
    CREATE TABLE IF NOT EXISTS serving_features (
        symbol LowCardinality(String),
        ts DateTime64(3, 'UTC'),
{_float_columns(VIEW_FIELDS)},
        indicator_set LowCardinality(String),
        created_at DateTime64(3, 'UTC')
    )
    ENGINE = MergeTree
    PARTITION BY symbol
    ORDER BY (symbol, indicator_set, ts)
    """,
    added_columns=tuple(
        (name, "Float64") for name in ("atr", "momentum_5", "momentum_20", "range_atr", "volume_z")
    ),
)

DATA_VERSIONS = TableSpec(
    name="data_versions",
    columns=(
        "asset",
        "partition",
        "data_version",
        "inputs",
        "run_id",
        "complete",
        "revision",
        "published_at",
    ),
    types=(
        ("asset", pa.string()),
        ("partition", pa.string()),
        ("data_version", pa.string()),
        ("inputs", pa.map_(pa.string(), pa.string())),
        ("run_id", pa.string()),
        ("complete", pa.uint8()),
        ("revision", pa.uint64()),
        ("published_at", pa.timestamp("ms", tz="UTC")),
    ),
    partition_column="asset",
    # What each published partition holds (a content hash) and the versions of the inputs it
    # was derived from: a step compares them before it combines an upstream with a downstream.
    # A publication is recorded twice: unfinished before the data is swapped in, complete
    # after. A writer killed (or failing) in between leaves the unfinished record, and every
    # reader refuses that partition until it is published again: no record claims data that
    # is not there, and no step can pass stale data off as current.
    ddl="""
    CREATE TABLE IF NOT EXISTS data_versions (
        asset LowCardinality(String),
        partition String,
        data_version String,
        inputs Map(String, String),
        run_id String,
        complete UInt8,
        revision UInt64,
        published_at DateTime64(3, 'UTC')
    )
    ENGINE = ReplacingMergeTree(revision)
    ORDER BY (asset, partition)
    """,
)

TABLES = (BARS, FEATURES, SERVING_FEATURES, INDICATOR_SETS, TRAINING_SETS, DATA_VERSIONS)
_VERSIONS_SQL = """
SELECT partition, data_version, inputs, run_id, complete FROM data_versions FINAL
WHERE asset = {asset:String} AND partition IN {partitions:Array(String)}
"""


@dataclass(frozen=True)
class Published:
    """A partition's recorded content hash and the versions of the inputs it came from."""

    data_version: str
    inputs: Mapping[str, str]


def read_versions(
    session: WarehouseSession, asset: str, partitions: Sequence[str]
) -> dict[str, Published]:
    """The recorded versions of `asset`'s partitions (absent ones were never recorded).
    Read in the session that reads the data, so both describe the same publication.
    Raises UnfinishedPublication for a partition whose last publication did not finish."""
    session.command(DATA_VERSIONS.ddl)
    rows = session.query_arrow(
        _VERSIONS_SQL, {"asset": asset, "partitions": list(partitions)}
    ).to_pylist()
    unfinished = sorted(
        f"{row['partition']} (run {row['run_id']})" for row in rows if not row["complete"]
    )
    if unfinished:
        raise UnfinishedPublication(
            f"{asset}: the last publication of {', '.join(unfinished)} did not finish (its "
            "writer died or failed mid-way), so what they hold is not known: re-materialize "
            f"{asset} for them"
        )
    return {
        str(row["partition"]): Published(str(row["data_version"]), dict(row["inputs"] or []))
        for row in rows
    }


def _versions_table(
    asset: str, versions: Mapping[str, Published], run_id: str, *, complete: bool
) -> pa.Table:
    now = datetime.now(UTC)
    names = sorted(versions)
    return pa.table(
        {
            "asset": [asset] * len(names),
            "partition": names,
            "data_version": [versions[name].data_version for name in names],
            "inputs": pa.array(
                [sorted(versions[name].inputs.items()) for name in names],
                type=pa.map_(pa.string(), pa.string()),
            ),
            "run_id": [run_id] * len(names),
            "complete": pa.array([int(complete)] * len(names), type=pa.uint8()),
            "revision": pa.array([time.time_ns()] * len(names), type=pa.uint64()),
            "published_at": pa.array([now] * len(names), type=pa.timestamp("ms", tz="UTC")),
        }
    )


def to_frame(table: pa.Table) -> pl.DataFrame:
    """A query's Arrow result as a polars frame (zero-copy where the types allow)."""
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise WarehouseError(f"expected a table, got {type(frame).__name__}")
    return frame


def quote_identifier(name: str) -> str:
    """Backtick-quote a table name where ClickHouse cannot bind it.

    `CREATE TABLE … AS t` and `ALTER TABLE … REPLACE PARTITION … FROM t` accept no
    `{t:Identifier}` parameter, so such names (ours: a table's constant name or a generated
    staging name) are checked against a strict identifier pattern; values are always bound.
    """
    if not _IDENTIFIER.fullmatch(name):
        raise WarehouseError(f"not a plain table name: {name!r}")
    return "`" + name + "`"


def _chdb_param(value: object) -> str:
    """Render a parameter in ClickHouse's text format, which is what chDB's binding expects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quoted(item) for item in value) + "]"
    raise WarehouseError(f"unsupported query parameter type: {type(value).__name__}")


def _quoted(item: object) -> str:
    if isinstance(item, str):
        return "'" + item.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return _chdb_param(item)


class WarehouseSession(Protocol):
    """What assets and checks use: statements, Arrow reads and Arrow inserts."""

    def command(self, sql: str, params: Mapping[str, object] | None = None) -> None: ...

    def query_arrow(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table: ...

    def insert_arrow(self, table: str, data: pa.Table) -> None: ...


class _ChdbSession:
    def __init__(self, session: Any) -> None:
        self._session = session

    def command(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        self._run(sql, "CSV", params)

    def query_arrow(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        result = self._run(sql, "ArrowTable", params)
        if not isinstance(result, pa.Table):
            raise WarehouseError(f"chDB returned {type(result).__name__}, not an Arrow table")
        return result

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        # chDB's Python() table function reads the Arrow table straight from this frame's
        # local variable `data`: no copy through a file or a pickle. Columns are matched by
        # name (an INSERT … SELECT * would match them by position).
        columns = ", ".join(quote_identifier(name) for name in data.column_names)
        self._run(
            # Only identifiers are spliced, each checked by quote_identifier; no values.
            "INSERT INTO {table:Identifier} ("  # noqa: S608
            + columns
            + ") SELECT "
            + columns
            + " FROM Python(data)",
            "CSV",
            {"table": table},
        )

    def _run(self, sql: str, fmt: str, params: Mapping[str, object] | None) -> object:
        bound = {key: _chdb_param(value) for key, value in (params or {}).items()}
        try:
            return self._session.query(sql, fmt, params=bound or None)
        except RuntimeError as exc:  # chDB raises ChdbError, a RuntimeError
            raise WarehouseError(str(exc).strip()) from exc


class _ServerSession:
    def __init__(self, client: Any) -> None:
        self._client = client

    def command(self, sql: str, params: Mapping[str, object] | None = None) -> None:
        self._client.command(sql, parameters=dict(params or {}))

    def query_arrow(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        result = self._client.query_arrow(sql, parameters=dict(params or {}))
        if not isinstance(result, pa.Table):
            raise WarehouseError(f"ClickHouse returned {type(result).__name__}, not Arrow")
        return result

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self._client.insert_arrow(table, data)


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Bars, indicators and training sets live here (ClickHouse SQL on chDB or a server)."""

    chdb_path: str = Field(
        default=".trade2026/warehouse",
        description="Data directory of the embedded chDB warehouse (used when no URL is set).",
    )
    clickhouse_url: str = Field(
        default="",
        description="ClickHouse server, e.g. http://user:password@host:8123/trade2026. "
        "Empty means the embedded chDB warehouse.",
    )
    cache_dir: str = Field(
        default="",
        description="Local directory for Arrow copies of immutable tables (training sets, "
        "by content hash); empty disables the cache.",
    )
    lock_timeout_seconds: float = Field(
        default=600.0,
        description="How long an operation waits for another process's chDB session to end.",
    )

    @property
    def embedded(self) -> bool:
        return not self.clickhouse_url

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        """One short-lived session; on chDB, exclusive across threads and processes."""
        if not self.embedded:
            client = self._server_client()
            try:
                yield _ServerSession(client)
            finally:
                client.close()
            return
        with self._chdb_exclusive():
            chdb_session = self._open_chdb()
            try:
                yield _ChdbSession(chdb_session)
            finally:
                chdb_session.close()

    def ensure_schema(self) -> None:
        with self.session() as session:
            for table in TABLES:
                for statement in table.schema_statements():
                    session.command(statement)

    def query_arrow(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        with self.session() as session:
            return session.query_arrow(sql, params)

    def query_frame(self, sql: str, params: Mapping[str, object] | None = None) -> pl.DataFrame:
        return to_frame(self.query_arrow(sql, params))

    def replace_partitions(
        self, *, table: TableSpec, data: pa.Table, partitions: Sequence[str]
    ) -> int:
        """Make each partition (symbol) hold exactly the rows of `data` for it.

        The rows go to a staging table first; each partition is then swapped in with one
        atomic `REPLACE PARTITION`. A failed insert leaves every partition as it was, and a
        re-run replaces rather than duplicates. Partitions with no rows are dropped.
        """
        with self.staged(table=table, partitions=partitions) as staged:
            rows = staged.insert(data)
            staged.publish()
        return rows

    @contextmanager
    def staged(self, *, table: TableSpec, partitions: Sequence[str]) -> Iterator[StagedWrite]:
        """A staging copy of `table` for a write-audit-publish: insert into it, check it
        (its name goes where the table's would in a query), then `publish()` swaps the
        staged partitions in. Leaving the block without publishing leaves the table
        exactly as it was; the staging table is dropped either way."""
        staged = StagedWrite(self, table, list(partitions))
        with self.session() as session:
            for statement in table.schema_statements():
                session.command(statement)
            self._drop_abandoned_staging(session, table)
            session.command(
                "CREATE TABLE "
                + quote_identifier(staged.name)
                + " AS "
                + quote_identifier(table.name)
            )
        try:
            yield staged
        finally:
            # Clean up, but let the error that broke the write be the one reported.
            with contextlib.suppress(WarehouseError), self.session() as session:
                session.command(
                    "DROP TABLE IF EXISTS {staging:Identifier}", {"staging": staged.name}
                )

    def _drop_abandoned_staging(self, session: WarehouseSession, table: TableSpec) -> None:
        """Staging tables of writers that died mid-write (a killed process) are dropped.
        On chDB a staging table names its writer's process, so one whose process is gone is
        abandoned; on a server other hosts may be mid-write, so only hour-old ones go."""
        abandoned = session.query_arrow(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
            " AND startsWith(name, {prefix:String})"
            " AND metadata_modification_time <= now() - toIntervalSecond({age:UInt32})",
            {"prefix": table.name + "_staging_", "age": 0 if self.embedded else 3600},
        )
        for name in abandoned.column("name").to_pylist():
            if self.embedded and _writer_alive(str(name)):
                continue
            session.command("DROP TABLE IF EXISTS {staging:Identifier}", {"staging": name})

    # -- embedded back end -------------------------------------------------------------

    @contextmanager
    def _chdb_exclusive(self) -> Iterator[None]:
        data_dir = Path(self.chdb_path).resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        lock_path = data_dir.with_name(data_dir.name + ".lock")
        deadline = time.monotonic() + self.lock_timeout_seconds
        with _PROCESS_LOCK, lock_path.open("a") as lock_file:
            delay = 0.005
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WarehouseError(
                            f"chDB warehouse {data_dir} stayed busy for "
                            f"{self.lock_timeout_seconds:g} s (lock {lock_path})"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _open_chdb(self) -> Any:
        from chdb import session as chdb_session  # heavy import, deferred to first use

        # A process outside our lock (a chDB shell, say) can still hold the directory:
        # retry briefly, then say so.
        attempts = 6
        for attempt in range(attempts):
            try:
                return chdb_session.Session(str(Path(self.chdb_path).resolve()))  # type: ignore[no-untyped-call]
            except RuntimeError as exc:
                if attempt == attempts - 1:
                    raise WarehouseError(
                        f"cannot open chDB warehouse {self.chdb_path}: {exc}"
                    ) from exc
                time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    # -- server back end ---------------------------------------------------------------

    def _server_client(self) -> Any:
        import clickhouse_connect

        parts = urlsplit(self.clickhouse_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise WarehouseError(
                "CLICKHOUSE_URL must look like http://user:password@host:8123/database"
            )
        return clickhouse_connect.get_client(
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            # Credentials arrive percent-encoded in a URL (a password may hold '@' or ':').
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=parts.path.strip("/") or "default",
            secure=parts.scheme == "https",
            connect_timeout=10,
            send_receive_timeout=300,
        )


class StagedWrite:
    """Rows written aside for one table, checked, then published (see
    `WarehouseResource.staged`)."""

    def __init__(self, warehouse: WarehouseResource, table: TableSpec, partitions: list[str]):
        self.warehouse = warehouse
        self.table = table
        self.partitions = partitions
        # The writer's process id: on chDB, a staging table whose process is gone is
        # abandoned (see _drop_abandoned_staging).
        self.name = f"{table.name}_staging_{os.getpid()}_{uuid.uuid4().hex}"
        self.present: set[str] = set()
        self.rows = 0
        self.published = False
        self._record: tuple[str, dict[str, Published], str] = ("", {}, "")

    def insert(self, data: pa.Table) -> int:
        """Add rows to the staging table (in as many calls as the writer likes)."""
        missing = set(self.table.columns) - set(data.column_names)
        if missing:
            raise WarehouseError(f"{self.table.name}: frame lacks columns {sorted(missing)}")
        data = conform(self.table, data)
        column = data.column(self.table.partition_column)
        present = {str(s) for s in pc.unique(column).to_pylist()}
        unexpected = present - set(self.partitions)
        if unexpected:
            raise WarehouseError(
                f"{self.table.name}: rows for undeclared partitions {sorted(unexpected)}"
            )
        if data.num_rows:
            with self.warehouse.session() as session:
                session.insert_arrow(self.name, data)
        self.present |= present
        self.rows += int(data.num_rows)
        return int(data.num_rows)

    def publish(
        self,
        *,
        versions: Mapping[str, Published] | None = None,
        asset: str = "",
        run_id: str = "",
        finish: bool = True,
        partitions: Sequence[str] | None = None,
    ) -> None:
        """Swap every staged partition into the table, one atomic REPLACE PARTITION each
        (a declared partition without rows is dropped); only `partitions` if given (the
        others' audit failed: they stay as published). `versions` are recorded as an
        unfinished publication first and as a complete one once every swap is done."""
        chosen = self.partitions if partitions is None else list(partitions)
        undeclared = sorted(set(chosen) - set(self.partitions))
        if undeclared:
            raise WarehouseError(f"{self.table.name}: undeclared partitions {undeclared}")
        target = quote_identifier(self.table.name)
        replace_sql = (
            "ALTER TABLE "
            + target
            + " REPLACE PARTITION {p:String} FROM "
            + quote_identifier(self.name)
        )
        drop_sql = "ALTER TABLE " + target + " DROP PARTITION {p:String}"
        with self.warehouse.session() as session:
            if versions:
                session.command(DATA_VERSIONS.ddl)
                record = _versions_table(asset, versions, run_id, complete=False)
                session.insert_arrow(DATA_VERSIONS.name, conform(DATA_VERSIONS, record))
            for partition in chosen:
                if partition in self.present:
                    session.command(replace_sql, {"p": partition})
                else:
                    session.command(drop_sql, {"p": partition})
        self.published = True
        self._record = (asset, dict(versions or {}), run_id)
        if finish:
            self.finish()

    def finish(self) -> None:
        """Record the publication as complete (`publish(finish=False)` leaves that to the
        writer, when more than this table makes up the publication)."""
        asset, versions, run_id = self._record
        if versions:
            record = _versions_table(asset, versions, run_id, complete=True)
            with self.warehouse.session() as session:
                session.insert_arrow(DATA_VERSIONS.name, conform(DATA_VERSIONS, record))


def _writer_alive(staging_name: str) -> bool:
    """Whether the process a staging table names (`<table>_staging_<pid>_<hex>`) still runs."""
    match = re.search(r"_staging_(\d+)_[0-9a-f]{32}$", staging_name)
    if match is None:
        return False
    return alive(int(match.group(1)))


def conform(table: TableSpec, data: pa.Table) -> pa.Table:
    """The frame's columns in the table's order and types, or a clear error: ClickHouse would
    otherwise coerce what it cannot parse (a bad timestamp into 1970) without a word."""
    columns = []
    # One chunk per column: chDB ingests a contiguous table about twice as fast.
    data = data.select(list(table.columns)).combine_chunks()
    for name in table.columns:
        column = data.column(name)
        target = table.arrow_type(name)
        if pa.types.is_dictionary(column.type) and pa.types.is_string(target):
            column = column.cast(pa.dictionary(pa.int32(), pa.string()))
            columns.append(column)
            continue
        try:
            column = column.cast(target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise WarehouseError(
                f"{table.name}.{name}: cannot store {column.type} as {target}: {exc}"
            ) from exc
        if pa.types.is_string(target):
            # chDB ingests LowCardinality several times faster from dictionary arrays.
            column = column.dictionary_encode()
        columns.append(column)
    return pa.table(columns, names=list(table.columns))
