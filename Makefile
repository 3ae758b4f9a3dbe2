# scamguard: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,dagster]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install scamguard with its pinned dependencies

demo: install ## Simulate the marketplace, ingest, build features, train, batch-score; print a summary
	$(BIN)/scamguard demo

test: install ## Run the test suite
	$(BIN)/python -m pytest -q

bench: install ## Benchmarks: features at 1M users (~6 min), SMS text (~21 min), serving vs mlflow (~8 min)
	$(BIN)/python benchmarks/features_bench.py
	$(BIN)/python benchmarks/text_bench.py --threads 1
	$(BIN)/python benchmarks/serve_bench.py

daily: install ## The daily job for yesterday (DATE=YYYY-MM-DD for another day)
	$(BIN)/scamguard daily $(if $(DATE),--date $(DATE),)

monitor: install ## Monitor one day: make monitor DATE=YYYY-MM-DD (report under data/monitoring/)
	$(BIN)/scamguard monitor --date $(DATE)

drill: install ## The variant drill of docs/results/monitoring.md (20,000 users, seed 0; ~40 min)
	$(BIN)/python benchmarks/monitoring_drill.py --seed 0 --out data/drill0

lint: install ## Ruff and mypy (the packages, benchmarks and tests)
	$(BIN)/ruff check .
	$(BIN)/mypy scamguard features models pipelines serving monitoring agent benchmarks tests

serve: install ## Start the scoring endpoint on 127.0.0.1:8000
	$(BIN)/scamguard serve

clean: ## Remove the data dir and caches (keeps .venv)
	rm -rf data .pytest_cache .ruff_cache .mypy_cache

.PHONY: help install demo test bench daily monitor drill lint serve clean
