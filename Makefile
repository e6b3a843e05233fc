# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv/ first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo demo-stop bench dev-server clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) .temporal .pytest_cache
