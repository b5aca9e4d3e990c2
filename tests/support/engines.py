"""The engine of this test run, and where each engine's environment lives (docs/engines.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from programmatic_iam.cdk.engine import (
    AWS_MODULE,
    CORE_MODULE,
    DEFAULT_ENGINE,
    ENGINE_VARIABLE,
    ENGINES,
    Engine,
    choose_engine,
)

REPO = Path(__file__).resolve().parents[2]
ENGINE_HOMES = {"cdktf": REPO, "cdktn": REPO / "engines" / "cdktn"}
"""Each engine's Pipfile, package.json and environments, as the Makefile's ENGINE_HOME has them."""
RUN_ENGINE = choose_engine(os.environ)
"""What this run synthesizes with: ``make test ENGINE=...`` names it, else the one installed."""
OTHER_ENGINES = [engine for engine in ENGINES.values() if engine != RUN_ENGINE]
ENGINE_DISTRIBUTIONS = {"cdktf": ("cdktf", "cdktf-cdktf-provider-aws"), "cdktn": ("cdktn", "cdktn-provider-aws")}
"""Each engine's own Python distributions: the library, then its AWS provider bindings."""


def in_run_engine(distribution: str) -> str:
    """The run engine's counterpart of one of cdktf's distributions; any other distribution is itself."""
    default = ENGINE_DISTRIBUTIONS[DEFAULT_ENGINE]
    if distribution not in default:
        return distribution
    return ENGINE_DISTRIBUTIONS[RUN_ENGINE.name][default.index(distribution)]


def module_in_run_engine(module: str) -> str:
    """The module that cdktf's module name ``module`` loads in this run (cdk/engine.py's aliases)."""
    return {CORE_MODULE: RUN_ENGINE.core, AWS_MODULE: RUN_ENGINE.aws}.get(module, module)


def engine_environment(engine: Engine) -> dict[str, str]:
    """The variables that make subprocesses (``pipenv run`` in cdktf.json's app command, main.py) use ``engine``."""
    home = ENGINE_HOMES[engine.name]
    node_bin = str(home / "node_modules" / ".bin")
    path = os.environ.get("PATH", "")
    return {
        ENGINE_VARIABLE: engine.name,
        "PIPENV_PIPFILE": str(home / "Pipfile"),
        "PIPENV_VENV_IN_PROJECT": "1",
        # Both CLIs ask checkpoint-api.hashicorp.com for updates unless this is set, as the Makefile sets it.
        "CHECKPOINT_DISABLE": "1",
        # As the Makefile has it: the engine's Node.js packages first (CDK Terrain's CLI needs its own Node.js).
        "PATH": path if path.startswith(node_bin + os.pathsep) else f"{node_bin}{os.pathsep}{path}",
    }


def engine_python(engine: Engine) -> Path:
    """The Python of ``engine``'s environment; fails the test when it is not installed."""
    python = ENGINE_HOMES[engine.name] / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python.relative_to(REPO)} is missing: run `make setup ENGINE={engine.name}`")
    return python


def cdk_cli(engine: Engine, *args: str) -> list[str]:
    """The command line of ``engine``'s pinned CLI (cdktf-cli or cdktn-cli); fails the test when it is missing."""
    cli = ENGINE_HOMES[engine.name] / "node_modules" / ".bin" / engine.name
    if not cli.exists():
        pytest.fail(f"{cli.relative_to(REPO)} is missing: install Node.js, then run `make setup ENGINE={engine.name}`")
    return [str(cli), *args]
