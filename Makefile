# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fastgd-installed
# Set FASTGD_PEERS=1 to also install PyTorch (the local CPU build) and scikit-learn and run
# the parity tests against them (pandas: DataFrame input of fastgd.sklearn); CI sets it, a
# user's `make test` need not download them.
FASTGD_PEERS ?=

.PHONY: demo test build clean bench peers

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) setup.py pyproject.toml $(shell find fastgd -name '*.pyx' -o -name '*.pxd') $(wildcard csrc/*.h)
	$(PY) -m pip install -q -e ".[test,plot]"
	@touch $(STAMP)

build: $(STAMP)

peers: $(STAMP)
	@if [ -n "$(FASTGD_PEERS)" ]; then $(PY) -m pip install -q "torch==2.13.0" scikit-learn pandas; fi

demo: $(STAMP)
	$(PY) -m fastgd demo --out demo_out

test: $(STAMP) peers
	$(PY) -m pytest tests benchmarks --benchmark-disable -q

bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=param:size,group

clean:
	rm -rf build $(VENV) *.egg-info
	find fastgd \( -name '*.so' -o -name '_*.c' \) -delete
