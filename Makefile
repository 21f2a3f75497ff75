# The two commands of the README: `make demo` (the pipeline end to end) and `make test` (every test).
# Both set up what is missing on a fresh Debian machine, start the local stack, and build first.
SHELL := bash
.DEFAULT_GOAL := help
VENV := .local/venv
BROWSER := tests/browser

.PHONY: help demo test faults audit up down status build lint venv browser bench deploy-check

help:
	@echo "make demo    set up, start the local stack and run the pipeline end to end"
	@echo "make test    set up, start the local stack, lint, and run every test"
	@echo "make up | down | status    the local stack (PostgreSQL, Kafka, S3) on 127.0.0.1"
	@echo "make lint    cargo fmt --check, clippy with warnings denied, and no module import cycles (deploy/modules.sh)"
	@echo "make browser    Chromium and playwright-core for the dashboard test (make test does it)"
	@echo "make faults    the full fault suite (crashes, outages, a full disk) with its table (RELIABILITY.md)"
	@echo "make audit    the dependency audit of make test (cargo-deny), against the newest RustSec advisories from GitHub when reachable"
	@echo "make bench    the benchmark suite on the local stack, release build (BENCHMARKS.md)"
	@echo "make deploy-check    render and validate deploy/k8s and deploy/compose.yaml (docs/OPERATIONS.md)"

demo: up build venv
	bash deploy/local/demo.sh

test: up lint build venv browser
	bash deploy/test.sh

faults: up build
	bash deploy/faults.sh

audit:
	bash deploy/audit.sh --latest

bench: up venv
	bash benches/run.sh

deploy-check: venv
	bash deploy/k8s/check.sh

up:
	bash deploy/local/stack.sh up

down:
	bash deploy/local/stack.sh down

status:
	bash deploy/local/stack.sh status

# One dev profile for everything: the tests run the same binaries the demo does (the examples too:
# clients/python/tests/test_spool_rust.py runs the Rust producer example).
build:
	cargo build --workspace --bins --tests --examples

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	bash deploy/modules.sh

venv: $(VENV)/.installed

# The Python producer package is installed as users install it (from its path, not editable), and
# again whenever its sources change.
PYCLIENT := clients/python/pyproject.toml $(wildcard clients/python/murron_producer/*.py clients/python/murron_producer/_proto/*.py)

$(VENV)/.installed: tests/interop/requirements.txt $(PYCLIENT)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
	rm -rf clients/python/build
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps './clients/python[grpc]'
	touch $@

# Headless Chromium and playwright-core, for the dashboard test (tests/tests/dashboard.rs).
browser: $(BROWSER)/node_modules/.installed

$(BROWSER)/node_modules/.installed: $(BROWSER)/package.json $(BROWSER)/package-lock.json deploy/local/browser.sh
	bash deploy/local/browser.sh
	touch $@
