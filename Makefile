# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv/ first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check demo demo-stop bench dev-server clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

# Lint, then types, then tests: the two checkers take seconds, the suite minutes.
# What each checks is in pyproject.toml ([tool.ruff], [tool.mypy] files).
# Two pytest workers, each with its own servers; a file's tests stay together on one (PYTEST_WORKERS=0: none).
PYTEST_WORKERS ?= 2
test: check
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/python -m demo $(if $(KEEP),--keep,)

# Stops what `make demo KEEP=1` left running.
demo-stop:
	$(BIN)/python -m demo --stop

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

dev-server: $(STAMP)
	$(BIN)/python starter.py dev-server

clean:
	rm -rf $(VENV) .temporal .pytest_cache .mypy_cache .ruff_cache
