"""Following the registry when it is away, and over NATS when it speaks."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import xgboost as xgb

from registry_service.client import RegistryClient
from scripts.harness.registry import registry_process
from scripts.harness.services import NATS_TEST_URL, delete_stream, free_port
from scripts.harness.serving import serving_process
from scripts.harness.strategy_models import register_models, strategy_entity
from serving.follower import RegistryFollower
from serving.live_model import Deployment, LiveModel, ModelLoadError
from trade2026_assets.feature_catalog import DEFAULT_FEATURES as FEATURES
from trade2026_assets.ml.classifiers import XgboostClassifier
from trade2026_assets.strategy.declaration import DeploymentConfig


def small_model() -> LiveModel:
    rows = np.random.default_rng(0).normal(size=(100, len(FEATURES))).astype(np.float32)
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(rows, label=rows[:, 0] > 0, feature_names=list(FEATURES)),
        num_boost_round=2,
    )
    deployment = Deployment(
        deployment_id="d-1",
        entity_id="e-1",
        entity_name="default_ml_strategy",
        entity_version="1.0.0",
        config=DeploymentConfig(model_uri="models:/default_ml_strategy/1"),
        activated_at=None,
        swap_id=None,
    )
    model = XgboostClassifier.wrap(booster, FEATURES)
    return LiveModel(deployment, model, "1", datetime.now(UTC), deployment.rule)


def never_called(_: Deployment) -> LiveModel:
    raise ModelLoadError("the registry is away: nothing should be loaded")


def test_an_unreachable_registry_keeps_the_last_model_serving() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    follower = RegistryFollower(
        RegistryClient(dead, timeout=1.0),
        environment="production",
        slot="default_ml_strategy",
        consumer="test",
        loader=never_called,
    )
    model = small_model()
    follower.live = model
    follower.start()
    follower.poll_once()
    assert follower.live is model
    described = follower.describe()
    follower.stop()
    assert described["ready"] is True
    assert described["registry"]["reachable"] is False
    assert "ConnectError" in described["registry"]["error"]
    assert described["live"]["model_version"] == "1"


def test_a_swap_reaches_every_worker_over_nats_before_any_poll(tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:10]
    stream, prefix = f"T26TEST_{token}", f"t26test.{token}"
    uris = register_models(tmp_path, 2)
    registry_env = {
        "NATS_URL": NATS_TEST_URL,
        "REGISTRY_NATS_STREAM": stream,
        "REGISTRY_NATS_SUBJECT_PREFIX": prefix,
        "REGISTRY_RELAY_INTERVAL_SECONDS": "0.05",
    }
    try:
        with (
            registry_process(tmp_path, free_port(), registry_env) as (registry, key),
            RegistryClient(registry.url, api_key=key) as client,
        ):
            first, second = (strategy_entity(client, f"1.0.{i}", u) for i, u in enumerate(uris))
            client.deploy(entity_id=first, environment="production", deployed_by="tests")
            client.deploy(entity_id=second, environment="staging", deployed_by="tests")
            serving_env = {
                # A poll a minute: only an event can bring the swap in within seconds.
                "SERVING_POLL_INTERVAL_S": "60",
                "SERVING_NATS_URL": NATS_TEST_URL,
                "SERVING_NATS_SUBJECT_PREFIX": prefix,
            }
            with serving_process(
                tmp_path, port=free_port(), registry_url=registry.url, api_key=key,
                extra_env=serving_env,
            ) as serving:  # fmt: skip
                serving.wait_ready()
                time.sleep(2)  # the workers' event subscriptions are in place
                swap = client.swap(
                    from_entity_id=first, to_entity_id=second, reason="nats", initiated_by="t"
                )
                deadline = time.monotonic() + 10
                while len(acks := client.get_swap(str(swap.swap_id)).acks) < 2:
                    assert time.monotonic() < deadline, "the swap did not arrive by event"
                    time.sleep(0.05)
                assert all(ack.success for ack in acks)
                assert max(ack.propagation_ms or 0 for ack in acks) < 2000
    finally:
        delete_stream(stream)


def test_a_nats_outage_is_one_line_per_state_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    nats_server = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    follower = RegistryFollower(
        RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=1.0),
        environment="production",
        slot="default_ml_strategy",
        consumer="test",
        loader=never_called,
        nats_url=f"nats://127.0.0.1:{port}",
    )
    caplog.set_level(logging.DEBUG)
    try:
        follower.start()
        deadline = time.monotonic() + 10
        while follower.status.nats != "connected":
            assert time.monotonic() < deadline, follower.status.nats
            time.sleep(0.05)
        nats_server.kill()
        nats_server.wait(10)
        time.sleep(3)  # the connection's end: a few state changes, a line each
        assert follower.status.nats.startswith("unreachable"), follower.status.nats
        changes = nats_lines(caplog.records)
        assert 1 <= len(changes) <= 4, changes
        assert [r for r in caplog.records if r.exc_info] == []
        caplog.clear()
        time.sleep(6)  # reconnect attempts every 2 s, each failing the same way
        assert nats_lines(caplog.records) == []
        assert [r for r in caplog.records if r.exc_info] == []
    finally:
        if nats_server.poll() is None:
            nats_server.kill()
        follower.stop()
    # A stopped follower is not a healthy one: readiness says so.
    assert follower.describe()["follower"]["running"] is False
    assert not follower.healthy()


def nats_lines(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage() for r in records if "NATS" in r.getMessage() or r.name.startswith("nats")
    ]


def test_the_nats_password_stays_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    nats_server = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(port), "--user", "serving",
         "--pass", "s3cr3t-pw"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    follower = RegistryFollower(
        RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=1.0),
        environment="production",
        slot="default_ml_strategy",
        consumer="test",
        loader=never_called,
        nats_url=f"nats://serving:s3cr3t-pw@127.0.0.1:{port}",
    )
    caplog.set_level(logging.DEBUG)
    try:
        follower.start()
        deadline = time.monotonic() + 10
        while follower.status.nats != "connected":
            assert time.monotonic() < deadline, follower.status.nats
            time.sleep(0.05)
    finally:
        nats_server.kill()
        nats_server.wait(10)
        follower.stop()
    lines = nats_lines(caplog.records)
    assert any(f"nats://127.0.0.1:{port}" in line for line in lines), lines
    assert not any("s3cr3t-pw" in record.getMessage() for record in caplog.records)


def test_a_frozen_tracking_server_fails_the_load_in_seconds(tmp_path: Path) -> None:
    # A listening socket that never accepts: what a stopped (SIGSTOP) server looks like
    # to a client, whose connection is taken by the kernel and never answered.
    frozen = socket.socket()
    frozen.bind(("127.0.0.1", 0))
    frozen.listen(64)
    tracking = f"http://127.0.0.1:{frozen.getsockname()[1]}"
    try:
        with (
            registry_process(tmp_path, free_port()) as (registry, key),
            RegistryClient(registry.url, api_key=key) as client,
        ):
            entity = strategy_entity(client, "1.0.0", "models:/default_ml_strategy/1")
            client.deploy(entity_id=entity, environment="production", deployed_by="tests")
            serving_env = {
                "SERVING_MLFLOW_TRACKING_URI": tracking,
                "SERVING_MLFLOW_TIMEOUT_S": "1",
                "SERVING_MLFLOW_RETRIES": "1",
            }
            started = time.monotonic()
            with serving_process(
                tmp_path, port=free_port(), registry_url=registry.url, api_key=key,
                extra_env=serving_env,
            ) as serving:  # fmt: skip
                # Each worker loads what is live before it serves: unbounded, MLflow's
                # defaults would hold that for minutes.
                serving.wait_up(timeout=90)
                listed = httpx.get(f"{serving.url}/strategies", timeout=5).json()
                assert time.monotonic() - started < 90
                (strategy,) = listed["strategies"]
                assert strategy["live"] is None
                assert "cannot be served" in strategy["why_not_live"], strategy
                assert (
                    "Timeout" in strategy["why_not_live"] or "timed out" in strategy["why_not_live"]
                ), strategy
    finally:
        frozen.close()
