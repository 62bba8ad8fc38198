# cert-rotator — `make help` lists the targets.
SHELL := /bin/bash
VENV  := target/venv
PY    := $(VENV)/bin/python
BED   := $(PY) tests/bed/bed.py

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: tests/bed/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/bed/requirements.txt
	touch $@

venv: $(VENV)/.installed ## create the test bed's Python venv (moto, boto3, dnslib, pytest)

# Tests build with the `failpoints` feature (the crash tests kill the CLI at named points); one
# feature set for build and test, so nothing compiles twice.
FEATURES := --features failpoints

build: ## build the library, both binaries and the tests (debug)
	cargo build --all-targets $(FEATURES)

test: venv build ## run every test on a fresh local bed, then stop it (the CI command)
	@set -o pipefail; { \
	  $(BED) run -- $(PY) -m pytest -q tests/bed && \
	  $(BED) run --plain -- $(PY) -m pytest -q -m fidelity tests/bed && \
	  $(BED) run -- cargo test --all-targets $(FEATURES); \
	} 2>&1 | tee target/test.log
	@$(PY) tests/bed/tally.py target/test.log

test-slow: venv build ## the slow safety cases (real waiter delays, a CA rejecting 30 % of nonces)
	PEBBLE_WFE_NONCEREJECT=30 $(BED) run -- cargo test $(FEATURES) --test slow_on_bed --test volume_on_bed -- --ignored --test-threads=1

bed-up: venv ## start the local bed (moto + fidelity, DNS, Pebble, ARI proxy); writes target/bed/env
	$(BED) up

bed-down: ## stop every process of the local bed
	@$(BED) down

bed-status: ## show the bed's processes
	@$(BED) status

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --all-targets --all-features -- -D warnings

demo: venv ## a real rotation on the local bed: before, rotate, after (then the bed stops)
	cargo build --bin cert-rotator
	$(BED) run -- $(PY) tests/bed/demo.py

.PHONY: help venv build test test-slow bed-up bed-down bed-status lint demo
