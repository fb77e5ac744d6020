# Every target sets itself up: a fresh machine needs only python3 and make.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export SAM_CLI_TELEMETRY := 0
UV_VERSION := 0.13.9
SAM_VERSION := 1.170.0
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
EXAMPLE := examples/acme
DEMO_START ?= 2026-11-23

.PHONY: setup demo check-example run-demo simulate-example test lint validate sam ci clean bench

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet

# The README's first command: the main job on the bundled example, through the real handlers.
demo: setup check-example run-demo

run-demo: setup
	$(UV) run ew demo --example $(EXAMPLE) --date $(DEMO_START)

check-example: setup
	$(UV) run ew check --sheet $(EXAMPLE)/registry.csv --rules $(EXAMPLE)/rules.txt --voice $(EXAMPLE)/voice.txt

simulate-example: setup
	$(UV) run ew simulate --sheet $(EXAMPLE)/registry.csv --rules $(EXAMPLE)/rules.txt \
		--voice $(EXAMPLE)/voice.txt --acks $(EXAMPLE)/acks.csv --start $(DEMO_START) --days 21 \
		--timezone Europe/London --holidays GB-ENG --admin ops@acme.example

# The README's second command: every test.
test: setup
	$(UV) run pytest

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

# SAM CLI lives in its own tool environment: its pins would drag boto3 and pydantic back in ours.
sam:
	@command -v sam >/dev/null 2>&1 || $(UV) tool install --quiet "aws-sam-cli==$(SAM_VERSION)"

validate: setup sam
	PATH="$$HOME/.local/bin:$$PATH" sam validate --lint --region us-east-1

ci: lint validate test

# DESIGN.md §11's daily-tick benchmark: 1,000 / 10,000 / 100,000 rows on in-process AWS (moto).
# Slow (moto dominates at 100,000 rows): see benchmarks/README.md, or pass ARGS=--quick.
bench: setup
	$(UV) run python benchmarks/daily_tick.py $(ARGS)

# DESIGN.md §11's ack-handler benchmark: cold import, a cold container's import + first request, and
# 200 signed clicks on LocalCloud (moto + fake Slack). About 30 s; see benchmarks/README.md.
.PHONY: bench-ack
bench-ack: setup
	$(UV) run python benchmarks/ack_handler.py $(ARGS)

clean:
	rm -rf .venv .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Issue 13's figures (benchmarks/README.md). bench-300k: the daily tick at 10,000, 100,000 and 300,000
# rows (several minutes and a few GB: run it alone). bench-cold: ack-handler's cold start as Lambda runs
# it: python3.13 on the layer layers/shared/Makefile builds (x86 wheels, for this machine), byte-compiled
# for 3.13 (a no-op where the Makefile already does it), with boto3 as the runtime ships it. On a
# machine with pyenv: PYENV_VERSION=3.11.7:3.13.0 make bench-cold
.PHONY: bench-300k bench-cold
bench-300k: setup
	$(UV) run python benchmarks/daily_tick.py --sizes 10000,100000,300000 $(ARGS)

PY313 ?= python3.13
COLD_DIR ?= /tmp/ew-cold-start
bench-cold: setup
	rm -rf $(COLD_DIR) && mkdir -p $(COLD_DIR)
	$(MAKE) -C layers/shared build-SharedLayer ARTIFACTS_DIR=$(COLD_DIR)/layer \
		PLATFORM=manylinux2014_x86_64 PYTHON=$(PY313) STRIP=strip
	$(PY313) -m compileall -q -j 0 --invalidation-mode unchecked-hash -x '/(pypdf|docx|openpyxl)/' \
		$(COLD_DIR)/layer/python
	$(PY313) -m pip install -q --disable-pip-version-check --no-compile --target $(COLD_DIR)/runtime \
		"boto3==$$(sed -n '/^name = "boto3"/{n;s/version = "\(.*\)"/\1/p}' uv.lock)"
	$(PY313) -m compileall -q -j 0 --invalidation-mode unchecked-hash $(COLD_DIR)/runtime
	$(UV) run python benchmarks/ack_handler.py --layer $(COLD_DIR)/layer/python --runtime $(COLD_DIR)/runtime \
		--python "$$(command -v $(PY313))" --no-site $(ARGS)
