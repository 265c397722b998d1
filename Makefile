# Front door. `make demo` and `make test` bootstrap everything they need from a bare
# Python 3.11: a pinned uv in .tools/, then the locked environment in .venv/.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never

TRADE2026_HOME ?= $(CURDIR)/.trade2026
DAGSTER_HOME ?= $(TRADE2026_HOME)/dagster
DAGSTER_PORT ?= 3070

.PHONY: demo up down dagster dagster-instance test lint typecheck docs unit bench bento lock clean

demo: $(VENV)/.synced
	$(VENV)/bin/python scripts/demo.py

# The whole embedded stack in the background (Dagster UI + daemon, registry, serving, MLflow
# UI) on the same state as `make demo`; prints the URLs. `make down` stops it.
up: $(VENV)/.synced
	TRADE2026_HOME="$(TRADE2026_HOME)" DAGSTER_HOME="$(DAGSTER_HOME)" DAGSTER_PORT="$(DAGSTER_PORT)" \
		$(VENV)/bin/python scripts/stack.py up

down: $(VENV)/.synced
	TRADE2026_HOME="$(TRADE2026_HOME)" $(VENV)/bin/python scripts/stack.py down

# The Dagster UI on the same state as `make demo` (port 3000 is left to serving).
dagster: dagster-instance
	TRADE2026_HOME="$(TRADE2026_HOME)" DAGSTER_HOME="$(DAGSTER_HOME)" \
		$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(DAGSTER_PORT)

# The embedded instance's dagster.yaml (run monitoring on), also written by `make up`/`demo`.
dagster-instance: $(VENV)/.synced
	$(VENV)/bin/python scripts/dagster_instance.py "$(DAGSTER_HOME)"

test: lint typecheck docs unit

# A Bento of the serving service: the project's wheel and locked requirements, then
# `bentoml build` (which wants uv on PATH) into $(TRADE2026_HOME)/bentoml.
bento: $(VENV)/.synced
	rm -rf serving/build
	$(UV) build --wheel --out-dir serving/build
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --format requirements-txt \
		--output-file serving/build/requirements.txt
	cd serving && PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" BENTOML_HOME="$(TRADE2026_HOME)/bentoml" \
		BENTOML_DO_NOT_TRACK=true ../$(VENV)/bin/bentoml build

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

# The documentation site, strict: a broken link or anchor, or a page left out of the nav, fails.
# Built into a temporary directory and removed; `.venv/bin/mkdocs serve` previews it. No
# --quiet: it hides the warnings that --strict counts, and the build would pass.
docs: $(VENV)/.synced
	site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict \
		--site-dir "$$site"; status=$$?; rm -rf "$$site"; exit $$status

unit: $(VENV)/.synced
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.synced
	command -v wrk >/dev/null || apt-get install -y -q wrk
	$(VENV)/bin/python -m bench.registry_load $(BENCH_ARGS)
	$(VENV)/bin/python -m bench.swap_latency $(BENCH_ARGS_SWAP)
	$(VENV)/bin/python -m bench.indicators $(BENCH_ARGS_INDICATORS)
	$(VENV)/bin/python -m bench.training $(BENCH_ARGS_TRAINING)
	$(VENV)/bin/python -m bench.online_features $(BENCH_ARGS_ONLINE)
	$(VENV)/bin/python -m bench.serving $(BENCH_ARGS_SERVING)
	$(VENV)/bin/python -m bench.auto_swap $(BENCH_ARGS_AUTO_SWAP)

lock: $(UV)
	$(UV) lock

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode --python $(PYTHON)
	touch $@

clean:
	rm -rf $(TOOLS) $(VENV) .pytest_cache .mypy_cache .ruff_cache
