# Two commands: `make run` (set up + main job on the default synthetic world)
# and `make test` (set up + the test suite). Both create .venv from the lock file.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run run-tiny test test-fast lint viz viz-build mlflow-ui serve results study study-peers study-peers-explore bench clean-data

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: setup  ## the default synthetic world, both results tables, one MLflow run per row
	$(BIN)/kedro run

run-tiny: setup  ## the same pipelines on the tiny world (kedro run --env=test)
	$(BIN)/kedro run --env=test

test: setup
	$(BIN)/python -m pytest

test-fast: setup  ## the suite without the `slow` end-to-end runs (a quick check; `make test` is the full one)
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks notebooks

viz: setup  ## lineage in the browser
	$(BIN)/kedro viz run

viz-build: setup  ## static lineage site in ./build, made afresh (kedro package builds in dist/)
	rm -rf build
	$(BIN)/kedro viz build

mlflow-ui: setup  ## browse the runs of the project's store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns.db --port 5000

study: setup  ## both tables over 5 seeds, read across seeds (docs/study.md); resumes if stopped
	$(BIN)/python -m coldstart.study --k 5

study-peers: setup  ## Table 1 alone over 8 seeds: the project's rows against every peer (docs/peers.md)
	$(BIN)/python -m coldstart.study --level artist --name peers8-confirm --seeds 3017,3018,3019,3020,3021,3022,3023,3024

study-peers-explore: setup  ## the 8 seeds the beyond-the-paper candidates were picked on (docs/peers.md)
	$(BIN)/python -m coldstart.study --level artist --name peers8 --k 8

results: setup  ## copy the last run's tables (data/08_reporting) and the study into the README
	$(BIN)/python -m coldstart.readme_results

serve: setup  ## the release model aliased champion on http://127.0.0.1:5001 (docs/releases.md)
	PATH="$(abspath $(BIN)):$$PATH" MLFLOW_TRACKING_URI=sqlite:///mlruns.db \
	  MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false $(BIN)/mlflow models serve \
	  -m models:/coldstart-releases@champion --env-manager local --host 127.0.0.1 --port 5001

bench: setup  ## the evaluation, ingestion and top-N benchmarks of the README's performance section
	$(BIN)/python benchmarks/bench_evaluation.py --users 100000 --items 20000 --factors 200
	$(BIN)/python benchmarks/bench_item_knn_evaluation.py --users 1000000
	$(BIN)/python benchmarks/bench_ingestion.py --lines 10000000 --workdir data/benchmarks
	$(BIN)/python benchmarks/bench_recommend.py --breakdown --faiss

clean-data:  ## remove generated data and runs (keeps the code)
	find data -mindepth 2 ! -name .gitkeep -delete 2>/dev/null || true
	rm -rf mlruns.db mlruns mlartifacts
