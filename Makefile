# Set-up on a fresh machine: `make demo` or `make test` (each creates .venv if missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint emit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: the local CPU build (an unpinned torch pulls CUDA wheels).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[torch,jax,plot,data,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/glep derive systems/coupled_oscillators.py
	$(BIN)/glep rules systems/coupled_oscillators.py
	$(BIN)/glep check systems/coupled_oscillators.py

test: $(STAMP)
	$(BIN)/glep emit --check
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

emit: $(STAMP)
	$(BIN)/glep emit systems/*.py

bench: $(STAMP)
	$(BIN)/python bench/derive_scale.py
	$(BIN)/python bench/simulate.py

clean:
	rm -rf $(VENV)
