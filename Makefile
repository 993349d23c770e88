# Earful developer entry points. The two a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export HF_HUB_OFFLINE ?= 1
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen --no-sync

.PHONY: demo test setup services services-stop model native bench lint unit clean

setup: ## Install Python dependencies (locked) into .venv, with bytecode compiled
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv==0.13.8
	$(UV) sync --frozen --compile-bytecode --python 3.11

services: ## Start real Kafka (KRaft) and OpenSearch on 127.0.0.1
	deploy/local/services.sh start

services-stop:
	deploy/local/services.sh stop

model: setup ## Build the offline default model into ~/.cache/earful/models (once)
	$(RUN) earful models build

native: setup ## Compile detection with mypyc (~/.cache/earful/native; interpreted where no C compiler)
	$(RUN) python -m tooling.native

test: setup model native ## Everything: unit, agent and integration tests against real services
	deploy/local/with-services.sh $(RUN) pytest -ra

unit: setup ## Tests that need no services
	$(RUN) pytest -m "not integration" -q

demo: setup model native ## Real services, the worker, a replayed sample stream, alerts and the dashboard
	deploy/local/demo.sh

bench: setup model native ## Throughput figures (printed)
	deploy/local/with-services.sh $(RUN) python -m bench

lint: setup ## Ruff (lint + format), mypy strict, the layer contracts, declared dependencies
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) deptry .

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
