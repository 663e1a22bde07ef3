# The two commands a newcomer types: `make demo` and `make test`. Both install first if needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := test,hdf5,plot,train
DEMO_DIR ?= demo-out

.PHONY: install demo test test-fast bench fuzz clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m sim demo --out $(DEMO_DIR)
	$(PY) -m sim line-demo --out $(DEMO_DIR)/line

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[$(EXTRAS),bench]"
	$(PY) -m bench

fuzz: $(STAMP)
	$(PY) -m bench.fuzz --per-decoder $${FUZZ_PER_DECODER:-100000}

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
