# Kuroco Billing: `make run` for the demo, `make test` for the suite.
#
# Every recipe runs as one bash script (.ONESHELL) with -euo pipefail, so a
# failing line stops it and `make run` can trap Ctrl-C for its two processes.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
EMULATOR_PORT ?= 12111
SITE_URL := http://$(HOST):$(PORT)
EMULATOR_URL := http://127.0.0.1:$(EMULATOR_PORT)
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x tests/platform"`.
PYTEST_ARGS ?=
# Extra bench arguments, e.g. `make bench BENCH_ARGS="--checkout"` or "--events 400".
BENCH_ARGS ?=

.PHONY: help run tutorial test lint bench screenshots install install-dev clean

help:
	@echo "make run    start the Stripe emulator and the app with demo data ($(SITE_URL)/demo/)"
	@echo "make tutorial  the same, with Stripe left to set up by hand (README: the Kuroco tutorial)"
	@echo "make test   run the whole test suite (SQLite unless DATABASE_URL is set)"
	@echo "make lint   ruff check + import-linter contracts"
	@echo "make bench  webhook load against the speed floor (bench/webhook_load.py; BENCH_ARGS=--checkout)"
	@echo "make screenshots  retake the README's admin screenshots (docs/screenshots/, Chromium)"
	@echo "make clean  remove the demo database and the emulator's state"

# --- The virtualenv: created once, reinstalled only when pyproject.toml changes --------

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

# --- make run, make tutorial ------------------------------------------------------

# One recipe for both. `make tutorial` seeds no Stripe part and keeps its own database
# and emulator state, so the tutorial starts from an empty Stripe account even after
# `make run` (and `make run` keeps its demo).
run: SEED_FLAGS :=
run: EMULATOR_STATE := var/emulator-state.json
run: DEMO_DATABASE :=
tutorial: SEED_FLAGS := --tutorial
tutorial: EMULATOR_STATE := var/tutorial-emulator-state.json
tutorial: DEMO_DATABASE := var/tutorial.sqlite3

# Variables the demo needs, exported only when neither the environment nor .env
# sets them (an exported variable would hide the .env value from the settings).
define export_default
if [[ -z "$${$(1)+set}" ]] && ! grep -Eq '^[[:space:]]*(export[[:space:]]+)?$(1)=' .env 2>/dev/null; then
	export $(1)="$(2)"
fi
endef

run tutorial: $(VENV)/.installed-run
	@$(call export_default,DEBUG,1)
	$(call export_default,STRIPE_API_BASE,$(EMULATOR_URL))
	$(call export_default,DEMO_SITE_URL,$(SITE_URL))
	$(if $(DEMO_DATABASE),$(call export_default,DATABASE_URL,sqlite:///$(CURDIR)/$(DEMO_DATABASE)))
	for address in "$(HOST):$(PORT)" "127.0.0.1:$(EMULATOR_PORT)"; do
		if $(PY) -m kuroco_billing.devtools.net busy "$$address"; then
			echo "Port $$address is already in use (another \`make run\`?). Stop it first." >&2
			exit 1
		fi
	done
	mkdir -p var
	emulator_pid="" server_pid=""
	stop() {  # the server first, so nothing calls the emulator while it stops
		# A second Ctrl-C must not cut the clean-up short (the emulator would live on).
		trap '' INT TERM
		for pid in "$$server_pid" "$$emulator_pid"; do
			if [[ -n "$$pid" ]] && kill -0 "$$pid" 2>/dev/null; then
				kill "$$pid" 2>/dev/null || true
				wait "$$pid" 2>/dev/null || true
			fi
		done
	}
	trap stop EXIT
	trap 'trap "" INT; echo; echo "Stopping."; exit 130' INT
	trap 'exit 143' TERM
	echo "Starting the Stripe emulator on $(EMULATOR_URL) (log: var/emulator.log)"
	$(PY) -m stripe_emulator --port $(EMULATOR_PORT) --state $(EMULATOR_STATE) \
		>var/emulator.log 2>&1 &
	emulator_pid=$$!
	if ! $(PY) -m kuroco_billing.devtools.net wait "$(EMULATOR_URL)/v1/account" \
			--timeout 30 --pid "$$emulator_pid"; then
		echo "The Stripe emulator did not start; its log:" >&2
		tail -n 30 var/emulator.log >&2 || true
		exit 1
	fi
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo $(SEED_FLAGS)
	$(PY) -m kuroco_billing.devtools.banner "$(SITE_URL)" "$(EMULATOR_URL)"
	# In the background so that `wait` returns on Ctrl-C (or kill) at once and the
	# EXIT trap stops both processes; a foreground child would delay the trap.
	$(PY) manage.py runserver "$(HOST):$(PORT)" &
	server_pid=$$!
	wait "$$server_pid"

# --- make test / lint / bench ------------------------------------------------------

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
# (The suite runs on tests/settings.py: production settings with test secrets.)
test: $(VENV)/.installed-dev
	@status=0
	$(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?
	if [[ $$status -eq 5 ]]; then
		echo "pytest collected no tests: failing." >&2
		exit 1
	fi
	exit $$status

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(VENV)/.installed-dev
	$(PY) bench/webhook_load.py $(BENCH_ARGS)

# The README's admin screenshots, taken by the 1280 px layout test in Chromium.
README_SHOTS := admin-overview admin-stripe admin-member-editor
screenshots: $(VENV)/.installed-dev
	rm -f $(foreach shot,$(README_SHOTS),test-artifacts/screenshots/$(shot).png)
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/e2e/test_admin_layout.py \
		-k "test_console_pages_fit_the_window_without_errors and 1280"
	mkdir -p docs/screenshots
	for shot in $(README_SHOTS); do
		cp "test-artifacts/screenshots/$$shot.png" "docs/screenshots/$$shot.png"
	done
	ls -l docs/screenshots

clean:
	rm -f db.sqlite3
	rm -rf var
