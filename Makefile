# cert-rotator — `make help` lists the targets.
SHELL := /bin/bash
VENV  := target/venv
PY    := $(VENV)/bin/python
BED   := $(PY) tests/bed/bed.py

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The bed's system packages, checked before anything builds: Pebble (Debian's `pebble`, the local
# ACME CA) and Python's venv module. As root they are installed with apt-get; otherwise make stops
# with the one command to run.
APT_PACKAGES = $(if $(shell command -v pebble),,pebble) $(if $(shell python3 -c 'import ensurepip, venv' 2>/dev/null && echo ok),,python3-venv)

prerequisites: ## install Pebble and python3-venv if missing (apt-get, as root)
	@missing="$(strip $(APT_PACKAGES))"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$missing (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing $$missing: run 'sudo apt-get install $$missing', then make again" >&2; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: tests/bed/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/bed/requirements.txt
	touch $@

venv: prerequisites $(VENV)/.installed ## create the test bed's Python venv (moto, boto3, dnslib, pytest)

# Build and deploy tools: AWS SAM CLI (with cfn-lint), cargo-lambda and zig, from PyPI.
TOOLS := target/venv-tools
WITH_TOOLS := PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH SAM_CLI_TELEMETRY=0

$(TOOLS)/.installed: .ci/tools-requirements.txt
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r .ci/tools-requirements.txt
	rustup target add aarch64-unknown-linux-gnu
	touch $@

tools: $(TOOLS)/.installed ## install sam, cfn-lint, cargo-lambda and zig (target/venv-tools) and the arm64 Rust target

# Tests build with the `failpoints` feature (the crash tests kill the CLI at named points); one
# feature set for build and test, so nothing compiles twice.
FEATURES := --features failpoints

build: ## build the library, both binaries and the tests (debug)
	cargo build --all-targets $(FEATURES)

test: prerequisites venv build ## run every test on a fresh local bed, then stop it (the CI command)
	@set -o pipefail; { \
	  $(BED) run -- $(PY) -m pytest -q tests/bed && \
	  $(BED) run --plain -- $(PY) -m pytest -q -m fidelity tests/bed && \
	  $(BED) run -- cargo test --all-targets $(FEATURES); \
	} 2>&1 | tee target/test.log
	@$(PY) tests/bed/tally.py target/test.log

test-slow: prerequisites venv build ## the slow safety cases (real waiter delays, a CA rejecting 30 % of nonces)
	PEBBLE_WFE_NONCEREJECT=30 $(BED) run -- cargo test $(FEATURES) --test slow_on_bed --test volume_on_bed -- --ignored --test-threads=1

bed-up: prerequisites venv ## start the local bed (moto + fidelity, DNS, Pebble, ARI proxy); writes target/bed/env
	$(BED) up

bed-down: ## stop every process of the local bed
	@$(BED) down

bed-status: ## show the bed's processes
	@$(BED) status

lint: tools ## rustfmt, clippy (warnings are errors), and sam validate --lint (cfn-lint) on template.yaml
	cargo fmt --all -- --check
	cargo clippy --all-targets --all-features -- -D warnings
	$(WITH_TOOLS) sam validate --lint --template template.yaml --region cn-north-1

# The release bootstrap per architecture: target/lambda/<arch>/cert-rotator-lambda/bootstrap.
release: tools ## cargo lambda build --release --arm64 (what the stack runs; about 10 min clean)
	$(WITH_TOOLS) cargo lambda build --release --arm64 --bin cert-rotator-lambda --lambda-dir target/lambda/arm64
	@ls -l target/lambda/arm64/cert-rotator-lambda/bootstrap

release-x86_64: tools ## the same for x86_64 (for size comparison; another 10 min clean)
	$(WITH_TOOLS) cargo lambda build --release --x86-64 --bin cert-rotator-lambda --lambda-dir target/lambda/x86_64
	@ls -l target/lambda/x86_64/cert-rotator-lambda/bootstrap

# sam build runs cargo-lambda itself (BuildMethod: rust-cargolambda), for arm64 as the template
# says; it reuses target/, so it takes seconds after `make release`. Rust builds are a SAM beta
# feature, hence --beta-features.
sam-build: tools ## sam build: the deployable artefact in .aws-sam/build, built by cargo-lambda
	$(WITH_TOOLS) sam build --beta-features --template template.yaml
	@ls -l .aws-sam/build/Rotator/bootstrap

deploy: sam-build ## sam deploy --guided: asks for the stack name, region (cn-north-1, ...) and domains
	$(WITH_TOOLS) sam deploy --guided --capabilities CAPABILITY_IAM

# The baseline the seed uses, for `make bench`: certbot with the dns-route53 plugin (PyPI).
CERTBOT := target/venv-certbot
$(CERTBOT)/.installed: tests/bed/requirements-certbot.txt
	python3 -m venv $(CERTBOT)
	$(CERTBOT)/bin/pip install --quiet --disable-pip-version-check -r tests/bed/requirements-certbot.txt
	touch $@

# Pebble sleeps 0-5 s before each validation, as a real CA takes its time; Route 53 changes stay
# PENDING 10 s (tests/bed/bench.py sets it). BENCH_NS, BENCH_CERTBOT_NS and BENCH_NOOP choose the
# sizes (defaults 1,5,20,50 / 1,5,20,50 / 100; the certbot loop at 50 takes about 15 minutes).
bench: venv release release-x86_64 $(CERTBOT)/.installed ## cert-rotator vs the seed's certbot loop, no-op cost, cold start, size, RSS (target/bench/)
	PEBBLE_VA_NOSLEEP=0 PEBBLE_VA_SLEEPTIME=5 $(BED) run -- $(PY) tests/bed/bench.py

EVENT ?= events/manual.json
invoke: venv tools build ## the Lambda handler under cargo lambda watch on the bed: make invoke EVENT=events/manual.json
	$(WITH_TOOLS) FEATURES="$(FEATURES)" $(BED) run -- $(PY) tests/bed/invoke.py $(EVENT)

demo: prerequisites venv ## a real rotation on the local bed: before, rotate, after (then the bed stops)
	cargo build --bin cert-rotator
	$(BED) run -- $(PY) tests/bed/demo.py

# The README's picture of the stack's dashboard (template.yaml Dashboard): six runs of the debug
# Lambda binary on a fresh bed, their EMF lines and durations (target/dashboard/metrics.json),
# drawn widget by widget with matplotlib. It builds nothing: `make build` makes the binary.
dashboard-picture: prerequisites venv ## docs/dashboard.png: the dashboard drawn from a scenario's metrics on a fresh bed
	@test -x target/debug/cert-rotator-lambda || { echo "no target/debug/cert-rotator-lambda: run 'make build' first" >&2; exit 1; }
	$(BED) run -- $(PY) tests/bed/dashboard.py

.PHONY: help prerequisites venv tools build test test-slow bed-up bed-down bed-status lint release release-x86_64 sam-build deploy invoke bench demo dashboard-picture
