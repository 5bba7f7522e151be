# SafeSteps: `make run` to start, `make test` to check everything. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
SAFESTEPS := $(VENV)/safesteps
PYBABEL := $(VENV)/pybabel
LOCALE_NAMES := en zh_Hans vi

.PHONY: help setup setup-browser run shell eval validate preview test test-fast lint bench \
        i18n-extract i18n-update i18n-compile i18n-check i18n-status clean

help: ## Show this help
	@echo "SafeSteps make targets:"
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Create .venv and .venv-rasa and compile catalogs (skips what is done)
	@scripts/setup.sh

setup-browser: ## setup, plus Debian's chromium and CJK fonts for the page tests
	@scripts/setup.sh --browser

run: setup ## Check the packs, train if needed, start everything (HOST=0.0.0.0 for pupils' phones)
	@$(SAFESTEPS) validate
	@$(SAFESTEPS) build
	@$(SAFESTEPS) train
	@$(SAFESTEPS) up $(if $(HOST),--host $(HOST))

shell: ## Chat with a running SafeSteps in this terminal
	@$(SAFESTEPS) shell

eval: setup ## Measure NLU quality per locale (writes build/reports/eval)
	@$(SAFESTEPS) eval

validate: setup ## Check the packs (strict, as CI does)
	@$(SAFESTEPS) validate --strict

preview: setup ## Build and serve the preview site
	@$(SAFESTEPS) preview

test: setup-browser lint ## Run every test (sets up whatever is missing)
	@$(VENV)/pytest -q

test-fast: setup ## Run the tests that need no browser
	@$(VENV)/pytest -q -m "not browser"

lint: setup ## ruff and mypy (strict on bot/)
	@$(VENV)/ruff check bot tests scripts
	@$(VENV)/mypy

bench: setup ## Measure speed and memory; writes docs/performance.md
	@$(VENV)/python scripts/bench.py

i18n-extract: setup ## Extract interface strings into locales/safesteps.pot
	@$(PYBABEL) extract -F babel.cfg -k lazy_gettext -o locales/safesteps.pot \
	  --project=SafeSteps --version=0.1 --copyright-holder="SafeSteps contributors" \
	  --msgid-bugs-address=https://github.com/safesteps/safesteps/issues --no-wrap --sort-by-file .

i18n-update: i18n-extract ## Merge new strings into each locale's .po
	@for l in $(LOCALE_NAMES); do \
	  if [ -f locales/$$l/LC_MESSAGES/safesteps.po ]; then \
	    $(PYBABEL) update -i locales/safesteps.pot -d locales -D safesteps -l $$l --no-wrap --no-fuzzy-matching; \
	  else \
	    $(PYBABEL) init -i locales/safesteps.pot -d locales -D safesteps -l $$l --no-wrap; \
	  fi; done

i18n-compile: setup ## Compile .po catalogs to .mo (never committed)
	@$(PYBABEL) compile -d locales -D safesteps --statistics

i18n-check: setup ## Check catalogs: placeholders, untranslated and fuzzy entries
	@$(VENV)/pytest -q tests/test_catalogs.py

i18n-status: setup ## Translation status of the packs per language
	@$(SAFESTEPS) i18n status

clean: ## Remove generated files (keeps the virtual environments)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
	find locales -name '*.mo' -delete
