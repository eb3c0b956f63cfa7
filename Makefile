# The two commands of the README: `make demo` (main job) and `make test` (whole suite).
# Both set everything up from nothing: a virtualenv in .venv, torch==2.13.0 (CPU) first,
# then the project with all extras at the versions of constraints.txt (the Dockerfile installs
# the same versions). `make lock` re-resolves constraints.txt after a pyproject.toml change.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := 2.13.0
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | sha1sum | cut -c1-12)

export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install lock demo test test-docker lint unit soak bench clean docs docs-serve docs-gen gpu-wheels gpu-verify

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build first: an unpinned torch would pull gigabytes of CUDA wheels.
	$(BIN)/python -m pip install -q torch==$(TORCH)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[all]'
	rm -f $(VENV)/.installed-*
	touch $@

# The admission core and the simulator's event loop compiled with mypyc (streams/compiled.py),
# built again whenever a source changed since; without a C compiler the pure-Python ones run.
install: $(STAMP)
	$(BIN)/python -m streams.compiled ensure

# Resolves torch + every extra afresh (nothing is installed) and writes the pinned set.
lock:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	mkdir -p .framegate
	$(BIN)/python -m pip install -q --dry-run --ignore-installed --report .framegate/lock.json \
		torch==$(TORCH) '.[all]'
	$(BIN)/python -c 'import json, sys; \
	report = json.load(open(".framegate/lock.json")); \
	pins = sorted((i["metadata"]["name"].lower(), i["metadata"]["version"].split("+")[0]) \
	              for i in report["install"] if i["metadata"]["name"] != "framegate"); \
	print("# Resolved by `make lock`: pip -c for `make install` (CI) and the Dockerfile."); \
	print("\n".join(f"{n}=={v}" for n, v in pins))' > $(CONSTRAINTS)

demo: install
	$(BIN)/framegate demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The integration suite against Apache Kafka and a ClickHouse server (testcontainers), on the
# `kafka` broker profile; says so and succeeds where no Docker engine answers.
test-docker: install
	$(BIN)/python -m tests.docker_suite $(ARGS)

unit: install
	$(BIN)/pytest tests/unit

soak: install
	$(BIN)/pytest -m soak -p no:cacheprovider

# Every benchmark records its figures (bench/recorded_figures.py) into a fresh file; the performance page
# is rendered from it. The GPU verification kit and its modules are not benchmarks: `make
# gpu-verify` runs the kit.
BENCH_SCRIPTS := $(filter-out bench/gpu_verify.py bench/gpu_checks.py bench/gpu_report.py bench/recorded_figures.py,$(wildcard bench/[!_]*.py))

bench: install
	rm -f .framegate/bench/records.jsonl
	for script in $(BENCH_SCRIPTS); do $(BIN)/python $$script || exit 1; done
	$(BIN)/python -m docs.gen performance

# The docs site (mkdocs.yml): built strict into site/, served on loopback while writing.
# docs-gen rewrites the pages made from the code (settings, CLI, metrics, Python API, JSON
# Schemas); run it after changing any of those, a test fails while one is stale.
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: install
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

docs-gen: install
	$(BIN)/python -m docs.gen

# The GPU verification kit (docs/gpu-verification.md). `gpu-wheels` fetches, here, the wheels a
# lent GPU machine lacks (bench/gpu_wheels.txt; CPython 3.12, manylinux2014 x86-64) into .whl/;
# `gpu-verify` runs the kit with this checkout's venv, or on a bare machine with its python3 and
# the wheels installed into $(GPU_SITE) (the doc's one command does both).
GPU_SITE ?= /tmp/framegate-gpu-site
GPU_OUT ?= gpu-report
GPU_PY ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY))

gpu-wheels:
	rm -rf .whl && mkdir -p .whl
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--platform manylinux2014_x86_64 -r bench/gpu_wheels.txt -d .whl
	ls .whl | wc -l && du -sh .whl

gpu-verify:
	PYTHONPATH=$(CURDIR)$(if $(wildcard $(GPU_SITE)),:$(GPU_SITE)) $(GPU_PY) bench/gpu_verify.py \
		--out $(GPU_OUT) $(GPU_ARGS)

clean:
	test ! -x $(BIN)/python || $(BIN)/python -m streams.compiled clean
	rm -rf $(VENV) .framegate .mypy_cache .pytest_cache .ruff_cache site .whl
