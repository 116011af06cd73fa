# Quick start: `make demo` (set up, then run the CPU reproduction) and `make test`.
PYTHON ?= .venv/bin/python
# test files run in parallel (pytest-xdist), one file per worker (its module fixtures are built
# once), the longest files first (tests/conftest.py): one worker a core
TEST_WORKERS ?= 2
export PYTHONPATH := $(CURDIR):$(PYTHONPATH)

.PHONY: setup demo test lint clean

setup:
	@bash tools/setup_env.sh
	@bash tools/setup_slurm.sh
	@bash tools/setup_data.sh

demo: setup
	$(PYTHON) -m benchmarks reproduce --preset cpu --work-dir work_dirs/demo

test: setup
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile tests

lint: setup
	$(PYTHON) -m ruff check .

clean:
	rm -rf work_dirs .pytest_cache
