"""Several server processes on one port, each with its own `SO_REUSEPORT` socket.

uvicorn's `--workers` shares one listening socket, and whichever worker wakes first accepts:
a client with a few long-lived connections (a load balancer, a benchmark, a serving fleet)
can end up with every connection on one worker while the others idle. With a socket per
worker the kernel spreads new connections across them by hash.

The supervisor starts the workers, forwards SIGTERM/SIGINT to them, and exits when they
have; a worker that dies on its own takes the service down with it (exit code 1), so a
process manager restarts the whole, rather than a half-served port lingering.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from types import FrameType

from registry_service.config import RegistrySettings

logger = logging.getLogger(__name__)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _worker(settings_json: str) -> None:
    import uvicorn

    from registry_service.main import create_app

    settings = RegistrySettings.model_validate_json(settings_json)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[reuse_port_socket(settings.host, settings.port)])


def serve_workers(settings: RegistrySettings) -> int:
    """Run `settings.workers` server processes on one port; return the exit code."""
    # Bind once here first: a port in use fails now, with a message, not in every worker.
    try:
        reuse_port_socket(settings.host, settings.port).close()
    except OSError as exc:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    context = multiprocessing.get_context("spawn")
    payload = settings.model_dump_json()
    workers = [
        context.Process(target=_worker, args=(payload,), name=f"registry-worker-{i}")
        for i in range(settings.workers)
    ]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        del signum  # SIGTERM and SIGINT both mean a graceful stop of every worker
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                worker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.start()
    logger.info("serving on %s:%d with %d workers", settings.host, settings.port, len(workers))
    code = 0
    while any(worker.is_alive() for worker in workers):
        if not stopping and any(w.exitcode is not None for w in workers):
            logger.error("a worker exited on its own; stopping the others")
            code = 1
            stop(signal.SIGTERM, None)
        time.sleep(0.2)
    for worker in workers:
        worker.join()
    return code
