# The two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
BIN := .venv/bin

.PHONY: demo test install install-bench services lint format lock bench clean-local

install: .venv/.installed-dev.lock
.venv/.installed-dev.lock: requirements/dev.lock pyproject.toml scripts/bootstrap.sh
	./scripts/bootstrap.sh requirements/dev.lock

install-bench: .venv/.installed-bench.lock
.venv/.installed-bench.lock: requirements/bench.lock pyproject.toml scripts/bootstrap.sh
	./scripts/bootstrap.sh requirements/bench.lock

services: install
	$(BIN)/geocommerce services up
	$(BIN)/geocommerce db upgrade

## Run the service with demo data on http://127.0.0.1:8000 until Ctrl-C.
demo: services
	$(BIN)/geocommerce demo

## Set everything up (no dataset download) and run lint and the whole test suite.
test: services lint
	$(BIN)/pytest -n auto --timeout=900 -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .

## Re-resolve the locked, hash-pinned requirements after editing pyproject.toml.
lock:
	python3 -m uv pip compile pyproject.toml --group dev --universal --python-version 3.11 --generate-hashes -q -o requirements/dev.lock
	python3 -m uv pip compile pyproject.toml --group dev --group bench --universal --python-version 3.11 --generate-hashes -q -o requirements/bench.lock

bench: install-bench services
	@echo "see bench/RESULTS.md for the benchmark commands"

clean-local:
	-$(BIN)/geocommerce services down
	rm -rf .local
