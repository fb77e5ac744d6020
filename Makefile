# Every target sets itself up: a fresh machine needs only python3 and make.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export SAM_CLI_TELEMETRY := 0
# Python's bytecode cache, kept under .venv/ rather than beside the sources, even where the shell turns it
# off (PYTHONDONTWRITEBYTECODE): without it every process, each test worker included, compiles the
# ~1,500 modules it imports again (seconds of CPU each). Not inside .venv: on a fresh machine the pip
# that installs uv writes here before `uv sync` creates .venv, which uv then refuses as "not a valid
# Python environment".
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/.pycache
UV_VERSION := 0.13.9
SAM_VERSION := 1.170.0
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
EXAMPLE := examples/acme
DEMO_START ?= 2026-11-23

.PHONY: setup demo check-example run-demo simulate-example test lint validate sam ci clean bench try \
	build layer-size lint-workflows layer-requirements bench-imports

# Lambda's runtime is python3.13: `sam build` needs that interpreter on PATH (it refuses to build a
# python3.13 function without it) and the layer is byte-compiled by it. The first python3.13 that runs,
# on PATH or installed by pyenv (whose shim fails unless PYENV_VERSION names 3.13), resolved to the
# real binary so SAM's own lookup finds it too.
PYTHON313 := $(shell for p in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 \
	2>/dev/null | sort -V | tail -1); do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13); \
	print(sys.executable)' 2>/dev/null && break; done)

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet

# The README's first command: the main job on the bundled example, through the real handlers.
demo: setup check-example run-demo

run-demo: setup
	$(UV) run ew demo --example $(EXAMPLE) --date $(DEMO_START)

# The whole product in your browser, on the example: http://127.0.0.1:8765/ (Ctrl-C to stop).
try: setup
	$(UV) run ew serve --example $(EXAMPLE) --date $(DEMO_START)

check-example: setup
	$(UV) run ew check --sheet $(EXAMPLE)/registry.csv --rules $(EXAMPLE)/rules.txt --voice $(EXAMPLE)/voice.txt

simulate-example: setup
	$(UV) run ew simulate --sheet $(EXAMPLE)/registry.csv --rules $(EXAMPLE)/rules.txt \
		--voice $(EXAMPLE)/voice.txt --acks $(EXAMPLE)/acks.csv --start $(DEMO_START) --days 21 \
		--timezone Europe/London --holidays GB-ENG --admin ops@acme.example

# The README's second command: every test, on every core (pytest-xdist; tests are independent).
test: setup
	$(UV) run pytest -n auto

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

# SAM CLI lives in its own tool environment: its pins would drag boto3 and pydantic back in ours.
sam:
	@command -v sam >/dev/null 2>&1 || $(UV) tool install --quiet "aws-sam-cli==$(SAM_VERSION)"

validate: setup sam
	PATH="$$HOME/.local/bin:$$PATH" sam validate --lint --region us-east-1

# `sam build`: the functions' code and the shared layer (layers/shared/Makefile) into .aws-sam/build,
# what `sam deploy` ships. No Docker: the layer's arm64 wheels come from PyPI, checked by hash.
build: setup sam
	@test -n "$(PYTHON313)" || { echo "python3.13 (Lambda's runtime) is not installed: sam build needs it" \
		"(pyenv install 3.13, or your distribution's python3.13)"; exit 2; }
	PATH="$(dir $(PYTHON313)):$$HOME/.local/bin:$$PATH" sam build

# DESIGN.md §11: the built layer under 50 MB unzipped.
layer-size: setup
	$(UV) run python benchmarks/layer_size.py .aws-sam/build/SharedLayer --limit-mb 50

# GitHub workflows: zizmor (security audit, offline) and actionlint (with shellcheck on run: scripts),
# all three pinned in uv.lock. Both must report nothing.
lint-workflows: setup
	$(UV) run zizmor --offline --no-progress .github/workflows
	$(UV) run sh -c 'sc=$$(command -v shellcheck) && actionlint -shellcheck="$$sc"'

# The layer installs exactly uv.lock's runtime closure, by hash, less what the Lambda runtime provides.
# Run after changing dependencies (tests/unit/test_sam_template.py fails until the file is in step).
layer-requirements: setup
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt \
		--no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer \
		--output-file layers/shared/requirements.txt --quiet

ci: lint lint-workflows validate build layer-size test

# DESIGN.md §11's daily-tick benchmark: 1,000 / 10,000 / 100,000 rows on in-process AWS (moto).
# Slow (moto dominates at 100,000 rows): see benchmarks/README.md, or pass ARGS=--quick.
bench: setup
	$(UV) run python benchmarks/daily_tick.py $(ARGS)

# DESIGN.md §11's ack-handler benchmark: cold import, a cold container's import + first request, and
# 200 signed clicks on LocalCloud (moto + fake Slack). About 30 s; see benchmarks/README.md.
.PHONY: bench-ack
bench-ack: setup
	$(UV) run python benchmarks/ack_handler.py $(ARGS)

# Cold `import app` of each handler from the built layer, with and without its .pyc (python3.13,
# fresh interpreters, median of ARGS --runs). Builds first. See benchmarks/README.md.
bench-imports: build
	$(UV) run python benchmarks/handler_imports.py --python "$(PYTHON313)" $(ARGS)
# drive-sync over a 100,000-row sheet served by the Google stand-in, each run the real handler in a fresh
# interpreter (first sync, unchanged, one cell changed). About 3 minutes; see benchmarks/README.md.
.PHONY: bench-drive-sync
bench-drive-sync: setup
	$(UV) run python benchmarks/drive_sync.py $(ARGS)

# The weekly digest's and the monthly summary's own work over 10,000 and 100,000 items with a year of
# pings (about a minute; see benchmarks/README.md).
.PHONY: bench-digest
bench-digest: setup
	$(UV) run python benchmarks/digest.py $(ARGS)

# The example inbox (examples/acme/inbox: a forwarded mail with a PDF, a DOCX, an XLSX, a text notice) is
# generated, so it can be rebuilt byte for byte; `ew extract` reads any of them.
.PHONY: example-inbox bench-extract
example-inbox: setup
	$(UV) run python -m ew_local.sample_documents

# `ew extract` per example document, and the largest mail intake-parser reads within 512 MB / 60 s
# (benchmarks/README.md). ARGS=--quick for a short run.
bench-extract: setup
	$(UV) run python benchmarks/extract.py $(ARGS)

clean:
	rm -rf .venv .pycache .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Issue 13's figures (benchmarks/README.md). bench-300k: the daily tick at 10,000, 100,000 and 300,000
# rows (several minutes and a few GB: run it alone). bench-cold: ack-handler's cold start as Lambda runs
# it: python3.13 on the layer layers/shared/Makefile builds (x86 wheels, for this machine), byte-compiled
# for 3.13 (a no-op where the Makefile already does it), with boto3 as the runtime ships it. On a
# python3.13: the one `make build` finds (PATH or pyenv; PY313=... for another). compileall runs without the
# PYTHONPYCACHEPREFIX this Makefile exports, or the .pyc land in .pycache where the child never looks.
.PHONY: bench-300k bench-cold
bench-300k: setup
	$(UV) run python benchmarks/daily_tick.py --sizes 10000,100000,300000 $(ARGS)

PY313 ?= $(PYTHON313)
COLD_DIR ?= /tmp/ew-cold-start
bench-cold: setup
	rm -rf $(COLD_DIR) && mkdir -p $(COLD_DIR)
	$(MAKE) -C layers/shared build-SharedLayer ARTIFACTS_DIR=$(COLD_DIR)/layer \
		PLATFORM=manylinux2014_x86_64 PYTHON=$(PY313) STRIP=strip
	env -u PYTHONPYCACHEPREFIX $(PY313) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		-x '/(pypdf|docx|openpyxl)/' $(COLD_DIR)/layer/python
	$(PY313) -m pip install -q --disable-pip-version-check --no-compile --target $(COLD_DIR)/runtime \
		"boto3==$$(sed -n '/^name = "boto3"/{n;s/version = "\(.*\)"/\1/p}' uv.lock)"
	env -u PYTHONPYCACHEPREFIX $(PY313) -m compileall -q -j 0 --invalidation-mode unchecked-hash $(COLD_DIR)/runtime
	$(UV) run python benchmarks/ack_handler.py --layer $(COLD_DIR)/layer/python --runtime $(COLD_DIR)/runtime \
		--python "$$(command -v $(PY313))" --no-site $(ARGS)
