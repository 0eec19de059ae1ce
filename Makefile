# Two commands: `make demo` (index the Python docs, search them, stream an answer) and `make test`.
# Both set everything up on first run and are quick on the next one.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# The editable install maps each module by its path, so adding, moving or removing a module needs a
# reinstall: a directory's time changes exactly then (not when a file in it is edited).
NATIVE_SRC := $(shell find cpp_ext -type f) pyproject.toml $(shell find retrieval -type d -not -name __pycache__)

.PHONY: demo test native clean

demo: indexes/demo/manifest.json
	$(VENV)/bin/retrieval search indexes/demo "how do I read a file line by line" -k 5 --mode hybrid
	$(VENV)/bin/retrieval search indexes/demo "parse command line arguments" -k 3 --mode bm25
	$(VENV)/bin/retrieval search indexes/demo "run code concurrently" -k 3 --mode dense
	$(VENV)/bin/retrieval ask indexes/demo "How do I read a file line by line in Python?" --show-sources

# The demo bundle (the Python stdlib docs, keyword + dense), rebuilt only when the code changed.
indexes/demo/manifest.json: $(VENV)/.native
	$(VENV)/bin/retrieval index demo --out indexes/demo --overwrite

test: $(VENV)/.native $(VENV)/.postgresql
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
$(VENV)/.native: $(VENV)/.tools $(VENV)/.llama $(NATIVE_SRC)
	$(PIP) install -q --no-build-isolation -e ".[models,generate,service,postgres,ray,langchain,llama-index,haystack,tracing,test,bench]"
	touch $@

# llama-cpp-python (pinned in pyproject's `generate` extra) ships only as source: it builds
# llama.cpp (~5 min, once) in its own isolated build environment, with portable flags.
$(VENV)/.llama: $(VENV)/.tools
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) install -q "$$($(PY) -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["generate"] if d.startswith("llama-cpp-python")))')"
	touch $@

# The PostgreSQL tests start a throwaway server from the Debian package's binaries.
$(VENV)/.postgresql: $(VENV)/.tools
	test -x /usr/lib/postgresql/15/bin/initdb || (apt-get update && apt-get install -y postgresql-15)
	touch $@

clean:
	rm -rf build $(VENV)
