# Quick start: `make demo` (set up, then run the CPU reproduction) and `make test`.
PYTHON ?= .venv/bin/python
# tests run in parallel (pytest-xdist), those sharing a module fixture in one worker (conftest.py): much of a test's time is spent
# waiting for the training processes it starts, so two workers keep two cores busy
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
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup tests

lint: setup
	$(PYTHON) -m ruff check .

clean:
	rm -rf work_dirs .pytest_cache
