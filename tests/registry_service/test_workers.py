"""`serve --workers N`: N processes on one port, connections spread across them by the
kernel (SO_REUSEPORT), a port in use refused with a message, and a clean stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from scripts.harness.registry import RegistryProcess
from scripts.harness.services import free_port


def established_on(process: psutil.Process, port: int) -> int:
    return sum(
        1
        for c in process.net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )


def test_connections_spread_over_the_workers(tmp_path: Path) -> None:
    port = free_port()
    env = {"TRADE2026_HOME": str(tmp_path), "REGISTRY_RELAY_IN_PROCESS": "false"}
    with RegistryProcess(port=port, env=env, workers=2) as server:
        assert server.process is not None
        supervisor = psutil.Process(server.process.pid)
        workers = [
            child
            for child in supervisor.children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        assert len(workers) == 2
        clients = [httpx.Client(base_url=server.url, timeout=5) for _ in range(32)]
        try:
            for client in clients:  # keep-alive: each client holds one connection
                assert client.get("/health").status_code == 200
            per_worker = [established_on(worker, port) for worker in workers]
            assert sum(per_worker) == 32
            # The kernel hashes connections over the sockets: both workers get a share
            # (all 32 on one worker has odds of 2 in 2**32).
            assert min(per_worker) > 0, per_worker
        finally:
            for client in clients:
                client.close()
    assert all(not worker.is_running() or worker.status() == "zombie" for worker in workers)


def test_a_port_in_use_is_refused_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "registry_service",
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env={**os.environ, "TRADE2026_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
