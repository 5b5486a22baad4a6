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
	$(BIN)/pip install --quiet -e '.[torch,plot,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/glep derive systems/coupled_oscillators.py
	$(BIN)/glep emit systems/coupled_oscillators.py --out $(VENV)/demo
	$(BIN)/python -c "import sys; sys.path.insert(0, '$(VENV)/demo'); import coupled_oscillators_numpy as m; z = m.simulate(m.INITIAL_STATE, m.PARAM_VALUES); print('simulated', z.shape, 'final state', z[-1].round(4))"

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
