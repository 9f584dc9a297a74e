# Two commands on a fresh machine:
#   make demo   set up .venv, then run split -> tiny model -> train -> infer -> eval offline on examples/
#   make test   set up .venv, then run the test suite
# torch is installed first and on its own: `pip install torch==2.13.0` takes the CPU wheel where one
# is provided locally; asking for a bare `torch` later would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PIP     = $(VENV)/bin/python -m pip
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export HF_DATASETS_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: setup demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

test: setup
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) demo
