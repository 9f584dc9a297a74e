# Two commands on a fresh machine:
#   make demo       set up .venv, then run split -> tiny model -> train -> infer -> eval offline on examples/
#   make test       set up .venv, then run the whole test suite (slow tiny-model tests included)
# and for the edit loop:
#   make test-fast  the tests not marked `slow` (no model is built; well under a minute)
#   make lint       ruff format --check + ruff check (config in pyproject.toml)
#
# torch is installed first and on its own, from TORCH_INDEX: a bare `pip install torch` from PyPI pulls
# a multi-GB CUDA build on Linux. The default is the CPU wheel index; on a GPU box pick the CUDA build
# that matches the driver, e.g.
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
# and TORCH_INDEX= (empty) uses pip's configured index. A wheel pip can already reach without an index
# (its configured find-links, e.g. a local wheel folder) is taken first, with no network at all.

PYTHON      ?= python3
VENV        ?= .venv
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP          = $(VENV)/bin/python -m pip
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export HF_DATASETS_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: setup demo test test-fast lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	{ $(PIP) install -q --no-index --no-deps "$(TORCH)" 2>/dev/null && $(PIP) install -q "$(TORCH)"; } \
	  || $(PIP) install -q $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)" --extra-index-url https://pypi.org/simple) "$(TORCH)"
	$(PIP) install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh

# The engine tests need MariaDB and PostgreSQL: .ci/services.sh starts local throwaway servers
# (127.0.0.1, fixed ports, temp data dirs) and the trap stops them however pytest ends.
test: setup
	trap 'bash .ci/services.sh stop' EXIT; eval "$$(bash .ci/services.sh start)"; $(VENV)/bin/python -m pytest -q

test-fast: setup
	trap 'bash .ci/services.sh stop' EXIT; eval "$$(bash .ci/services.sh start)"; $(VENV)/bin/python -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) demo
