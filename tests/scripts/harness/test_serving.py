"""`ServingProcess.wait_ready` waits for every worker, not the first that answers."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scripts.harness.serving import ServingProcess


class TwoWorkers:
    """What `bentoml serve` with two workers answers while a deployment made after it
    started is loading: worker a has loaded it, worker b loads until `b_ready_at`; the
    connections alternate between them."""

    def __init__(self, b_ready_in_s: float) -> None:
        self.b_ready_at = time.monotonic() + b_ready_in_s
        self._next = itertools.cycle("ab")
        self._lock = threading.Lock()

    def listing(self) -> dict[str, Any]:
        with self._lock:
            worker = next(self._next)
        live = worker == "a" or time.monotonic() >= self.b_ready_at
        return {
            "worker": worker,
            "ready": live,
            "strategies": [
                {
                    "name": "alpha",
                    "live": {"model_version": "1"} if live else None,
                    "why_not_live": None if live else "slot 'alpha' (production): loading",
                    "follower": {"running": True},
                }
            ],
        }

    def b_ready(self) -> bool:
        return time.monotonic() >= self.b_ready_at


@pytest.fixture
def workers() -> Iterator[tuple[TwoWorkers, int]]:
    state = TwoWorkers(b_ready_in_s=1.0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"{}" if self.path == "/readyz" else json.dumps(state.listing()).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_wait_ready_returns_once_every_worker_has_loaded(workers: tuple[TwoWorkers, int]) -> None:
    state, port = workers
    ServingProcess(port=port).wait_ready(timeout=10)
    assert state.b_ready(), "wait_ready returned while worker b was still loading"


def test_wait_ready_says_how_many_workers_were_ready(workers: tuple[TwoWorkers, int]) -> None:
    _, port = workers
    with pytest.raises(TimeoutError, match=r"1 of 2 workers ready.*loading"):
        ServingProcess(port=port).wait_ready(timeout=0.5)
