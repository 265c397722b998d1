"""`FeatureStoreConfig`: opens the Feast feature store of `feature_repo/` for one profile.
Imports no Dagster: serving opens the store with it, and the Dagster resource
(`feature_store.resource.FeatureStoreResource`) is this configuration as a resource.

* Embedded (`offline="files"`): offline rows are Parquet files under `state_dir`, which the
  `indicators` asset exports; registry file and SQLite online store under `state_dir` too.
* Production (`offline="clickhouse"`): offline rows are the warehouse's `serving_features`
  table on the ClickHouse server; the yaml's `${ENV}` values name the servers.

Either way `redis_connection` puts the online store on Redis and `registry_url` puts the
registry in a SQL database (PostgreSQL). The profile's yaml in `feature_repo/` is the
starting point, so the `feast` CLI and Dagster read the same configuration. Feast itself is
imported only when a store is opened.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from trade2026_assets.feature_store.frame import FEATURE_VIEW
from trade2026_assets.settings import AssetsSettings

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    from trade2026_assets.feature_store.definitions import RepoObjects

EMBEDDED_YAML = "feature_store.yaml"
PRODUCTION_YAML = "feature_store.production.yaml"
_PROJECT = re.compile(r"[A-Za-z0-9_]{1,64}")
# What os.path.expandvars leaves of a variable the environment does not set.
_UNSET = re.compile(r"\$\{(\w+)\}")


# Bounds on a PostgreSQL registry: without them a frozen server holds whoever opens the
# store (a run, a serving worker's start) for good. Its queries are small; a long one is
# a server in trouble.
REGISTRY_CONNECT_TIMEOUT_S = 5
REGISTRY_STATEMENT_TIMEOUT_MS = 15_000


def sql_registry_engine(url: str) -> dict[str, Any]:
    """`create_engine` arguments of Feast's SQL registry at `url`."""
    engine: dict[str, Any] = {"echo": False, "pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine["connect_args"] = {
            "connect_timeout": REGISTRY_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={REGISTRY_STATEMENT_TIMEOUT_MS}",
        }
    return engine


class FeatureStoreError(RuntimeError):
    """The feature store is misconfigured or refused an operation."""


class FeatureStoreConfig(BaseModel):
    """The Feast feature store of one profile, opened on first use and kept."""

    model_config = ConfigDict(extra="forbid")

    repo_path: str = Field(description="The Feast repository directory (`feature_repo/`).")
    state_dir: str = Field(
        description="Embedded state: registry file, SQLite online store, Parquet offline rows."
    )
    project: str = Field(
        default="trade2026",
        description="Feast project: namespaces the registry and the online store's keys.",
    )
    offline: Literal["files", "clickhouse"] = Field(
        default="files",
        description="'files': Parquet under state_dir (embedded); 'clickhouse': the "
        "warehouse's `serving_features` table on a ClickHouse server (production yaml).",
    )
    redis_connection: str = Field(
        default="",
        description="Feast Redis connection string (host:port[,password=…]); empty keeps "
        "the online store in SQLite under state_dir.",
    )
    registry_url: str = Field(
        default="",
        description="SQLAlchemy URL of a SQL registry (PostgreSQL); empty keeps the "
        "registry in a file under state_dir.",
    )

    _store: Any = PrivateAttr(default=None)

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not _PROJECT.fullmatch(value):
            raise ValueError(f"Feast project names use A-Z, a-z, 0-9 and '_': {value!r}")
        return value

    @property
    def offline_dir(self) -> Path:
        """Where the embedded profile's offline rows live: one Parquet file per symbol."""
        return Path(self.state_dir).resolve() / "offline" / FEATURE_VIEW

    @property
    def online_kind(self) -> str:
        return "redis" if self.redis_connection else "sqlite"

    def repo_config(self) -> RepoConfig:
        """The profile's yaml from `repo_path` (with `${ENV}` expanded), with this resource's
        state directory, project, online store and registry put in."""
        from feast.repo_config import RepoConfig

        repo = Path(self.repo_path).resolve()
        name = EMBEDDED_YAML if self.offline == "files" else PRODUCTION_YAML
        try:
            text = (repo / name).read_text(encoding="utf-8")
        except OSError as exc:
            raise FeatureStoreError(
                f"cannot read the feature store config {repo / name}: {exc}"
            ) from exc
        expanded = os.path.expandvars(text)
        unset = sorted(set(_UNSET.findall(expanded)))
        if unset:
            raise FeatureStoreError(f"{repo / name} needs the environment variables {unset}")
        raw: dict[str, Any] = yaml.safe_load(expanded)
        state = Path(self.state_dir).resolve()
        raw["project"] = self.project
        if self.registry_url:
            raw["registry"] = {
                "registry_type": "sql",
                "path": self.registry_url,
                "cache_ttl_seconds": 60,
                "sqlalchemy_config_kwargs": sql_registry_engine(self.registry_url),
            }
        elif self.offline == "files":
            raw["registry"] = str(state / "registry.db")
        if self.redis_connection:
            raw["online_store"] = {
                "type": "redis",
                "connection_string": self.redis_connection,
                # Feast's Redis store skips a write whose bar time is not newer than the
                # stored one: a latest bar rewritten with new values (new indicator
                # parameters, corrected bars) would keep its old online values.
                "skip_dedup": True,
            }
        elif self.offline == "files":
            raw["online_store"] = {"type": "sqlite", "path": str(state / "online.db")}
        try:
            config = RepoConfig(**raw)
        except ValidationError as exc:
            raise FeatureStoreError(f"invalid feature store config {repo / name}: {exc}") from exc
        config.repo_path = repo
        return config

    def repo_objects(self, services: Mapping[str, Sequence[str]]) -> RepoObjects:
        """The repository's objects with one feature service per strategy (`services`:
        service name → the model's features, in order)."""
        from trade2026_assets.feature_store.definitions import (
            clickhouse_source,
            parquet_source,
            repo_objects,
        )

        if self.offline == "files":
            return repo_objects(parquet_source(str(self.offline_dir)), services)
        return repo_objects(clickhouse_source(), services)

    def store(self) -> FeatureStore:
        """The feature store, opened on first use and kept for this resource instance."""
        if self._store is None:
            from feast import FeatureStore

            Path(self.state_dir).mkdir(parents=True, exist_ok=True)
            self._store = FeatureStore(config=self.repo_config(), repo_path=self.repo_path)
        store: FeatureStore = self._store
        return store

    def apply(self, services: Mapping[str, Sequence[str]]) -> RepoObjects:
        """Register the repository's objects (idempotent, like `feast apply`), with the
        feature services of `services` (see `repo_objects`)."""
        objects = self.repo_objects(services)
        if self.offline == "files":
            self.offline_dir.mkdir(parents=True, exist_ok=True)
        self.store().apply(objects.all())
        return objects

    def teardown(self) -> None:
        """Remove this project's online rows and registry entries (tests, `make clean`)."""
        self.store().teardown()  # type: ignore[no-untyped-call]

    def export_offline(
        self, frame: pl.DataFrame, symbols: Sequence[str], directory: Path | None = None
    ) -> int:
        """Embedded profile: replace each of `symbols`' Parquet file with its rows in
        `frame` (`serving_frame` rows); a symbol without rows loses its file. Each file is
        written aside and renamed into place, so a materialization reading the directory
        sees whole files only. `directory` stages the files elsewhere instead (see
        `publish_offline`). Returns the files written."""
        if self.offline != "files":
            return 0
        target_dir = directory or self.offline_dir
        target_dir.mkdir(parents=True, exist_ok=True)
        written = 0
        # Every file has the same schema: the symbol as a plain string, never a dictionary
        # whose categories differ from file to file.
        frame = frame.with_columns(pl.col("symbol").cast(pl.String))
        by_symbol = frame.partition_by("symbol", as_dict=True)
        for symbol in symbols:
            target = target_dir / f"{symbol}.parquet"
            rows = by_symbol.get((symbol,))
            if rows is None or rows.is_empty():
                target.unlink(missing_ok=True)
                continue
            partial = target.with_name(f".{target.name}.partial")
            rows.write_parquet(partial, statistics=True)
            partial.replace(target)
            written += 1
        return written

    def staging_dir(self, name: str) -> Path:
        """A directory beside the offline rows where a run stages its files."""
        return self.offline_dir.parent / f".staging-{name}"

    def publish_offline(self, staged: Path, symbols: Sequence[str]) -> None:
        """Move the staged files of `symbols` into place (one rename each); a symbol with no
        staged file loses its published one. The staging directory is removed."""
        self.offline_dir.mkdir(parents=True, exist_ok=True)
        for symbol in symbols:
            source = staged / f"{symbol}.parquet"
            target = self.offline_dir / f"{symbol}.parquet"
            if source.exists():
                source.replace(target)
            else:
                target.unlink(missing_ok=True)
        shutil.rmtree(staged, ignore_errors=True)


def feature_store_fields(
    settings: AssetsSettings, *, secret: Callable[[str], Any]
) -> dict[str, Any]:
    """The fields of the feature store this environment selects: ClickHouse offline rows
    when CLICKHOUSE_URL is set, Redis and a SQL registry when their variables are.
    `secret(name)` gives a connection string's value, or "" when unset (Dagster passes an
    EnvVar, read at run time; serving reads the environment)."""
    return {
        "repo_path": str(settings.feature_repo),
        "state_dir": str(settings.feature_store_dir.resolve()),
        "project": settings.feast_project,
        "offline": "clickhouse" if os.environ.get("CLICKHOUSE_URL") else "files",
        "redis_connection": secret("FEAST_REDIS_CONNECTION_STRING"),
        "registry_url": secret("FEAST_REGISTRY_URL"),
    }


def feature_store_config(
    settings: AssetsSettings, *, secret: Callable[[str], str]
) -> FeatureStoreConfig:
    """The feature store this environment selects (see `feature_store_fields`)."""
    return FeatureStoreConfig(**feature_store_fields(settings, secret=secret))
