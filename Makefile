# The two commands: `make demo` and `make test`. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: triton-venv venv test test-fast pytest lint format demo bench bench-sources soak bench-gpu clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,dev,triton,nwb]'
	touch $(STAMP)

venv: $(STAMP)

# The Triton test server's own venv: Debian's python3 (PyTriton's Python-backend stub embeds libpython
# 3.11 and fails to load models under the pyenv CPython of .venv) with PyTriton's real tritonserver.
TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
TRITON_PKGS := nvidia-pytriton==0.7.0 onnxruntime 'numpy<2'

$(TRITON_STAMP): Makefile
	test -x $(TRITON_VENV)/bin/python || /usr/bin/python3 -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet $(TRITON_PKGS)
	touch $(TRITON_STAMP)

triton-venv: $(TRITON_STAMP)

test: venv lint pytest

pytest: venv triton-venv
	$(PY) -m pytest -q

# everything but the tests marked slow (over ~15 s each: soak, fault timings, benchmarks), two workers
# (tests of one file stay on one worker: the window tests share an X display): < 3 min on 2 cores
test-fast: venv triton-venv lint
	$(PY) -m pytest -q -m "not slow" -n 2 --dist loadfile

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy pipeline

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: venv
	$(PY) -m tools.demo

bench: venv
	test -f out/bench.mp4 || $(VENV)/bin/infant-stream synth video --out out/bench.mp4 --frames 300 --width 1280 --height 720 --seed 7
	$(PY) -m tools.bench --source out/bench.mp4 --model models/infant-seg.onnx --frames 300

# several sources in one pipeline: files (batch 1 vs across sources) and live cameras, one with a dead camera
bench-sources: venv
	test -f out/sources.mp4 || $(VENV)/bin/infant-stream synth video --out out/sources.mp4 --frames 200 --width 640 --height 480 --seed 7
	$(PY) -m tools.multi_bench --source out/sources.mp4 --model models/infant-seg.onnx --frames 100 --counts 2,4

# 30 minutes of the real CLI with every sink: RSS growth and p99 latency creep (docs/benchmarks.md)
soak: venv
	$(PY) -m tools.soak --duration 1800 --check

# GPU machines: every backend/precision/batch in one call, one table (see docs/gpu.md)
bench-gpu: venv
	$(PY) -m tools.gpu_bench

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache $(TRITON_VENV)
