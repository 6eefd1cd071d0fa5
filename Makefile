# The two commands of the README: `make demo` and `make test`. Each sets up a virtual
# environment in .venv (or VENV=...) with stylert built from this checkout.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is only for export and the benchmarks' PyTorch baseline. The pinned CPU build
# keeps pip from pulling a multi-GB CUDA build; on other machines use for example
# TORCH="torch --index-url https://download.pytorch.org/whl/cpu".
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q '.[export,dev]'

demo: setup
	mkdir -p out
	$(BIN)/stylert live --source demo --output out/demo.mp4 \
	  --json out/demo.json

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/adain_kernel.py

# The bundled default packages, exported from export/defaults (CPU variants; their torch
# backend reads export/defaults itself). Run after retraining a default.
packages: setup
	for k in ae adain stylegan; do \
	  $(BIN)/stylert export $$k -o runtime/packages/$$k --precision fp32,int8 --no-torch-weights --force || exit 1; \
	done

clean:
	rm -rf build $(VENV)
