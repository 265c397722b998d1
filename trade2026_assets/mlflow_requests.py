"""Bounds on the MLflow client's HTTP requests to a tracking server.

MLflow reads them from the environment at every request; its defaults (a 120 s timeout,
7 retries of a read that timed out, with doubling back-off) let a frozen tracking server
hold a caller for over a quarter of an hour.
"""

from __future__ import annotations

import os

TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
BACKOFF_FACTOR = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"


def bound_mlflow_requests(*, timeout_s: int, max_retries: int) -> None:
    """Every MLflow request of this process waits at most `timeout_s` for the server,
    retried `max_retries` times a second apart, doubling."""
    if timeout_s < 1 or max_retries < 0:
        raise ValueError(f"timeout_s >= 1 and max_retries >= 0: {timeout_s}, {max_retries}")
    os.environ[TIMEOUT] = str(timeout_s)
    os.environ[MAX_RETRIES] = str(max_retries)
    os.environ[BACKOFF_FACTOR] = "1"
