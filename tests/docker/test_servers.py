"""The production profile's servers with the configuration compose gives them, run here on
ports of their own: Redis (ACL users), NATS (users and permissions) and MLflow (basic auth)
let in only the clients they should, for only what those clients do."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import redis
from nats.errors import NoServersError

from scripts.harness.services import free_port
from tests.docker.conftest import DOCKER


@pytest.fixture
def redis_server(secret_config: dict[str, Any], tmp_path: Path) -> Iterator[int]:
    """redis-server started by the compose service's own command, on a port of its own."""
    service = secret_config["services"]["redis"]
    shell, flag, script = service["command"]
    port = free_port()
    # compose escapes `$` as `$$` in what it renders; the container's shell sees one.
    local = f' --port {port} --dir {tmp_path} --appendonly no --save ""'
    script = script.replace("$$", "$") + local
    process = subprocess.Popen(
        [shell, flag, script],
        env={"PATH": os.environ["PATH"], **service["environment"]},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=port, socket_timeout=2).ping()
            except redis.AuthenticationError:
                break  # up, and asking for a user
            except redis.ConnectionError:
                assert process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
            else:
                break
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def feast_client(connection_string: str, port: int) -> Any:
    """The Redis client Feast's online store makes from a connection string."""
    from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig

    local = connection_string.replace("redis:6379", f"127.0.0.1:{port}")
    config = RedisOnlineStoreConfig(connection_string=local)
    return RedisOnlineStore()._get_client(config)


def test_redis_lets_the_run_workers_write_and_serving_only_read(
    redis_server: int, secret_config: dict[str, Any]
) -> None:
    services = secret_config["services"]
    anonymous = redis.Redis(port=redis_server, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("x")
    writer = feast_client(
        services["dagster-daemon"]["environment"]["FEAST_REDIS_CONNECTION_STRING"], redis_server
    )
    writer.hset("t26:features", mapping={"rsi": "51.5"})
    for reader_service in ("serving", "feast"):
        reader = feast_client(
            services[reader_service]["environment"]["FEAST_REDIS_CONNECTION_STRING"],
            redis_server,
        )
        assert reader.hgetall("t26:features") == {b"rsi": b"51.5"}
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.hset("t26:features", mapping={"rsi": "0"})
    # Not even the writer may wipe or reconfigure the server.
    for command in (("FLUSHALL",), ("CONFIG", "SET", "dir", "/tmp")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            writer.execute_command(*command)
    # The health check authenticates.
    check = services["redis"]["healthcheck"]["test"][1].replace("$$", "$")
    healthy = subprocess.run(
        ["sh", "-c", check.replace("redis-cli", f"redis-cli -p {redis_server}")],
        env={"PATH": os.environ["PATH"], **services["redis"]["environment"]}, timeout=10,
    )  # fmt: skip
    assert healthy.returncode == 0


@pytest.fixture
def nats_server(secret_config: dict[str, Any], tmp_path: Path) -> Iterator[int]:
    """nats-server on docker/nats.conf with the compose service's environment."""
    service = secret_config["services"]["nats"]
    assert service["command"] == ["-c", "/etc/nats/nats.conf"]
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text((DOCKER / "nats.conf").read_text().replace('"/data"', f'"{tmp_path}"'))
    assert str(tmp_path) in conf.read_text()
    process = subprocess.Popen(
        ["nats-server", "-c", str(conf), "-p", str(port), "-m", str(free_port())],
        env={"PATH": os.environ["PATH"], **service["environment"]},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_nats_lets_the_registry_publish_and_serving_only_subscribe(
    nats_server: int, secret_config: dict[str, Any]
) -> None:
    services = secret_config["services"]
    registry_url = services["registry"]["environment"]["NATS_URL"]
    serving_url = services["serving"]["environment"]["SERVING_NATS_URL"]

    def local(url: str) -> str:
        return url.replace("@nats:4222", f"@127.0.0.1:{nats_server}")

    async def exercise() -> None:
        registry = await nats.connect(local(registry_url), connect_timeout=2,
                                      max_reconnect_attempts=0)  # fmt: skip
        with pytest.raises((NoServersError, nats.errors.Error)):
            await nats.connect(f"nats://127.0.0.1:{nats_server}", connect_timeout=2,
                               max_reconnect_attempts=0, allow_reconnect=False)  # fmt: skip
        serving = await nats.connect(local(serving_url), connect_timeout=2,
                                     max_reconnect_attempts=0)  # fmt: skip
        # The registry's relay makes its stream and publishes; serving's follower hears it.
        js = registry.jetstream(timeout=5)
        await js.add_stream(name="T26_DOCKER_TEST", subjects=["trade2026.registry.>"])
        heard = await serving.subscribe("trade2026.registry.swap.>")
        # The subscription reaches the server before anything is published.
        await serving.flush()
        await js.publish("trade2026.registry.swap.created", b"{}")
        assert (await heard.next_msg(timeout=5)).data == b"{}"
        # Serving publishes nothing: its message never reaches a subscriber.
        spy = await registry.subscribe("trade2026.registry.>")
        await registry.flush()
        await serving.publish("trade2026.registry.swap.created", b"forged")
        await serving.flush()
        with pytest.raises(nats.errors.TimeoutError):
            await spy.next_msg(timeout=1)
        await serving.close()
        await registry.close()

    asyncio.run(exercise())


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_mlflow_asks_every_client_for_a_user_and_serving_only_reads(
    secret_config: dict[str, Any], tmp_path: Path
) -> None:
    """The entrypoint's `mlflow` role (basic-auth app, serving's user made first), on a
    SQLite backend here instead of PostgreSQL."""
    service = secret_config["services"]["mlflow"]
    port = free_port()
    ini = tmp_path / "mlflow-auth.ini"
    ini.write_text(
        (DOCKER / "mlflow-auth.ini")
        .read_text()
        .replace("sqlite:////var/lib/trade2026/mlflow-auth/", f"sqlite:///{tmp_path}/")
    )
    assert str(tmp_path) in ini.read_text()
    env = {
        **service["environment"],
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_ALLOWED_HOSTS": f"127.0.0.1:{port}",
        "MLFLOW_WORKERS": "1",
    }
    log = (tmp_path / "mlflow.log").open("wb")
    process = subprocess.Popen(
        ["sh", str(DOCKER / "entrypoint.sh"), "mlflow", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    admin = basic("admin", service["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"])
    serving = basic("serving", service["environment"]["MLFLOW_SERVING_PASSWORD"])
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=10"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "mlflow.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "mlflow.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break  # the health check needs no user
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert httpx.get(search, timeout=30).status_code == 401
        assert httpx.get(search, headers=basic("serving", "wrong"), timeout=30).status_code == 401
        # The platform (admin) writes; serving reads it and cannot change it. (MLflow lets
        # any user create experiments and models of its own.)
        api = f"{url}/api/2.0/mlflow"
        made = httpx.post(f"{api}/experiments/create", json={"name": "t26-docker"},
                          headers=admin, timeout=30)  # fmt: skip
        assert made.status_code == 200, made.text
        model = httpx.post(f"{api}/registered-models/create", json={"name": "t26-model"},
                           headers=admin, timeout=30)  # fmt: skip
        assert model.status_code == 200, model.text
        found = httpx.get(search, headers=serving, timeout=30)
        assert found.status_code == 200, found.text
        assert "t26-docker" in found.text
        read = httpx.get(f"{api}/registered-models/get", params={"name": "t26-model"},
                         headers=serving, timeout=30)  # fmt: skip
        assert read.status_code == 200, read.text
        experiment = made.json()["experiment_id"]
        for path, body in (
            ("experiments/delete", {"experiment_id": experiment}),
            ("registered-models/update", {"name": "t26-model", "description": "forged"}),
            ("model-versions/create", {"name": "t26-model", "source": "/tmp/x"}),
        ):
            refused = httpx.post(f"{api}/{path}", json=body, headers=serving, timeout=30)
            assert refused.status_code == 403, (path, refused.text)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(timeout=20)
        log.close()
        shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)
