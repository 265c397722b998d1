"""`make up` / `make down`: the interactive stack starts in the background, answers on the
printed URLs, and stops with nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from dagster._core.instance.config import dagster_instance_config

from scripts.harness.services import free_port

REPO = Path(__file__).resolve().parents[2]


def stack(command: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "scripts/stack.py", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_up_starts_every_service_and_down_stops_them(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("DAGSTER", "REGISTRY", "SERVING", "MLFLOW")}
    env = {
        **os.environ,
        "TRADE2026_HOME": str(tmp_path),
        **{f"{name}_PORT": str(port) for name, port in ports.items()},
    }
    env.pop("DAGSTER_HOME", None)
    try:
        started = stack("up", env)
        for name, probe in (
            ("DAGSTER", "/server_info"),
            ("REGISTRY", "/ready"),
            ("SERVING", "/livez"),
            ("MLFLOW", "/health"),
        ):
            url = f"http://127.0.0.1:{ports[name]}"
            assert url in started
            assert httpx.get(url + probe, timeout=10).status_code == 200, name
        # Serving follows the registry with the local key; nothing is live yet.
        model = httpx.get(f"http://127.0.0.1:{ports['SERVING']}/v1/model", timeout=10).json()
        assert model["registry"]["reachable"] is True, model
        # Every URL it prints is a page that answers (the registry's is its docs page).
        printed = sorted(set(re.findall(r"http://127\.0\.0\.1:\d+\S*", started)))
        assert f"http://127.0.0.1:{ports['REGISTRY']}/api/v1/docs" in printed, started
        assert len(printed) == 4, printed
        for url in printed:
            assert httpx.get(url, timeout=30).status_code == 200, url
        # A shell that exports other ports (here: none) still sees the stack it started.
        elsewhere = {k: v for k, v in env.items() if not k.endswith("_PORT")}
        for line in stack("status", elsewhere).splitlines():
            assert " running " in line, line
            [port] = re.findall(r"http://127\.0\.0\.1:(\d+)", line)
            assert int(port) in ports.values(), line
        again = stack("up", elsewhere)
        assert again.count("already running") == 4, again
        assert set(re.findall(r"http://127\.0\.0\.1:\d+\S*", again)) == set(printed), again
        # The daemon monitors the runs (Dagster's own schema validates the instance).
        settings, _ = dagster_instance_config(str(tmp_path / "dagster"), "dagster.yaml")
        assert settings["run_monitoring"]["enabled"] is True
        assert stack("status", env).count(" running ") == 4
    finally:
        stopped = stack("down", {k: v for k, v in env.items() if not k.endswith("_PORT")})
    assert stopped.count(" stopped") == 4
    for port in ports.values():
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"port {port} still answers after make down")
    assert (tmp_path / "logs" / "dagster.log").exists()
    assert not list((tmp_path / "run").glob("*.pid"))


def test_status_tells_a_port_answered_by_a_process_it_did_not_start(tmp_path: Path) -> None:
    # E.g. serving workers that outlived a killed `bentoml serve`: the pid file says
    # stopped, but something still answers on serving's port.
    port = free_port()
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        env = {**os.environ, "TRADE2026_HOME": str(tmp_path), "SERVING_PORT": str(port)}
        for other in ("DAGSTER", "REGISTRY", "MLFLOW"):
            env[f"{other}_PORT"] = str(free_port())
        [serving] = [line for line in stack("status", env).splitlines() if "serving" in line]
        assert "stopped, but its port answers" in serving, serving
    finally:
        squatter.kill()
        squatter.wait(10)
