"""A `bentoml serve` of the production profile's kind: API keys required; and its workers
end with it, however it ends."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry_service.auth import hash_key, new_key
from scripts.harness.services import free_port
from scripts.harness.serving import ServingProcess

ROW = [0.001, 0.0005, -0.002, 0.004, 55.0, 0.001, 0.0008, 0.0002, 0.6, 0.03]


def serving_with_keys(home: Path, keys: str) -> ServingProcess:
    env = {
        "TRADE2026_HOME": str(home),
        "BENTOML_HOME": str(home / "bentoml"),
        # No registry: the service is up but has no model, which is enough here.
        "SERVING_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
        "SERVING_REQUIRE_API_KEY": "true",
        "SERVING_API_KEYS": keys,
    }
    return ServingProcess(port=free_port(), env=env, log_file=home / "serving.log")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServingProcess, str, str]]:
    home = tmp_path_factory.mktemp("serving-keys")
    predict, _ = new_key()
    metrics, _ = new_key()
    entries = f"{hash_key(predict)}:predict,{hash_key(metrics)}:metrics"
    with serving_with_keys(home, entries) as serving:
        serving.wait_up()
        yield serving, predict, metrics


def test_api_keys_guard_every_route_but_the_probes(
    keyed: tuple[ServingProcess, str, str],
) -> None:
    serving, predict, metrics = keyed

    def call(method: str, path: str, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {"features": [ROW]} if path == "/predict" else {"symbols": ["SYNA"]}
        return httpx.request(
            method,
            f"{serving.url}{path}",
            headers=headers,
            json=body if method == "POST" else None,
            timeout=10,
        )

    for method, path in (("POST", "/predict"), ("POST", "/signal"), ("GET", "/v1/model")):
        assert call(method, path).status_code == 401, path
        assert call(method, path, "t26_deadbeef_not-a-key").status_code == 401, path
        assert call(method, path, metrics).status_code == 403, path
        # With the key the gate lets it through (no model yet: the service's own 503).
        assert call(method, path, predict).status_code in (200, 503), path
    refused = call("POST", "/predict")
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "API key" in refused.json()["error"]
    assert call("GET", "/metrics").status_code == 401
    assert call("GET", "/metrics", predict).status_code == 403
    assert call("GET", "/metrics", metrics).status_code == 200
    # Probes and the API's description answer anyone.
    assert call("GET", "/livez").status_code == 200
    assert call("GET", "/readyz").status_code == 503  # no model: not ready, but answered
    assert call("GET", "/docs.json").status_code == 200


def test_a_required_key_without_keys_is_refused_at_start(tmp_path: Path) -> None:
    serving = serving_with_keys(tmp_path, "")
    with serving, pytest.raises(RuntimeError, match="exited"):
        serving.wait_up(timeout=120)
    log = (tmp_path / "serving.log").read_text()
    assert "SERVING_API_KEYS names no key" in log


def test_killing_bentoml_serve_ends_its_workers(
    keyed: tuple[ServingProcess, str, str],
) -> None:
    serving, _, _ = keyed
    assert serving.process is not None
    workers = _children(serving.process.pid)
    assert len(workers) >= 2, workers
    # As an OOM killer or `kill -9` of the process group would: no chance to clean up.
    os.killpg(serving.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while alive := [pid for pid in workers if _running(pid)]:
        assert time.monotonic() < deadline, f"workers {alive} outlived bentoml serve"
        time.sleep(0.1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{serving.url}/livez", timeout=2)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
