# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Threads are set, never left to library defaults: OpenMP oversubscription on 2 shared cores is ruinous.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

install: $(STAMP)

## demo: run the house-price example through all ten stages (a second run comes from the cache). --no-fail: the
## demo shows the verdict either way; a slower machine missing the latency constraint (exit 3) is no failed setup
demo: $(STAMP)
	cd examples/house-prices && ../../$(BIN)/cairn run --no-fail

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,boosters,explain,mlflow,onnx,s3,dask]'
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	touch $@

## test: install what the tests need (Chromium included) and run them, one test file per worker process at a time
## (TEST_WORKERS of them; 2 for the 2-core CI machine, `make test TEST_WORKERS=0` runs them in this process); the 25
## slowest are listed, so a slow CI run says where its time went
TEST_WORKERS ?= 2
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

## bench: the heavy cases and the benchmarks against peers
bench: $(TEST_STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m pytest -q -m bench
	$(BIN)/python bench/spine.py

## lint: ruff's checks (the code is wrapped by hand at 120 columns, not by a formatter), the import contracts
## between the layers (pyproject.toml [tool.importlinter]), mypy --strict on the typed packages and bandit (medium
## severity and up; each finding silenced in the code says why, after `# nosec`). pip-audit is not run: it needs
## PyPI's JSON API (or OSV), which this build machine cannot reach
lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	PYTHONPATH=src $(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/bandit -q -r src -ll

clean:
	rm -rf $(VENV) examples/house-prices/.cairn .pytest_cache
