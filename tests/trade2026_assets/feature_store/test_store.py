"""The feature store on a SQL registry whose PostgreSQL is frozen."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from trade2026_assets.feature_store.store import REGISTRY_CONNECT_TIMEOUT_S, FeatureStoreConfig
from trade2026_assets.settings import AssetsSettings


def test_a_frozen_registry_database_fails_a_read_in_seconds(tmp_path: Path) -> None:
    frozen = socket.socket()  # listens, never accepts: a stopped server to its clients
    frozen.bind(("127.0.0.1", 0))
    frozen.listen(8)
    port = frozen.getsockname()[1]
    config = FeatureStoreConfig(
        repo_path=str(AssetsSettings().feature_repo),
        state_dir=str(tmp_path),
        registry_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/feast",
    )
    outcome: list[object] = []

    def open_store() -> None:
        try:
            outcome.append(config.store().list_feature_services())
        except Exception as exc:  # noqa: BLE001 - the outcome is the test's evidence
            outcome.append(exc)

    started = time.monotonic()
    opener = threading.Thread(target=open_store, daemon=True)
    opener.start()
    opener.join(4 * REGISTRY_CONNECT_TIMEOUT_S)
    frozen.close()
    assert not opener.is_alive(), "a registry read waited on a frozen database"
    assert isinstance(outcome[0], Exception), outcome
    assert "timeout" in str(outcome[0]).lower(), outcome[0]
    assert time.monotonic() - started < 4 * REGISTRY_CONNECT_TIMEOUT_S
