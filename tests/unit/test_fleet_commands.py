"""Every command knows the fleet: ``report``, ``export-module`` and ``deployer-policy`` of a file with [[identities]],
each choosing stacks by ``--identity`` and ``--environment``; and the library's specs of every identity."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import programmatic_iam
from programmatic_iam.analysis.deployer import deployer_policy
from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.cli import main
from programmatic_iam.config import load_fleet
from tests.support.helpers import write_config

FLEET = """
[policy]
actions = ["s3:GetObject"]

[[environments]]
name = "staging"
region = "eu-west-1"

[[environments]]
name = "production"
region = "us-east-1"

[[identities]]
name = "backup"
policy.actions = ["s3:PutObject", "s3:ListBucket"]
environment.production.policy.actions = ["s3:PutObject", "s3:DeleteObject"]

[[identities]]
name = "metrics"
environments = ["production"]
policy.actions = ["iam:PassRole", "ec2:RunInstances"]
"""
ONE_IDENTITY = '[policy]\nactions = ["s3:GetObject"]\n[[environments]]\nname = "staging"\nregion = "eu-west-1"\n'


def run(directory: Path, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), environ={}, cwd=directory, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def fleet_folder(directory: Path, text: str = FLEET) -> Path:
    write_config(directory, text)
    return directory


# ---------------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------------


def test_the_report_opens_with_one_line_per_identity(tmp_path: Path) -> None:
    code, stdout, _ = run(fleet_folder(tmp_path), "report")
    assert code == 0
    assert stdout.startswith(
        "2 identities:\n"
        "  backup: 2 stacks; List 1, Read 0, Write 2, Tagging 0, Permissions management 0; no high finding\n"
        "  metrics: 1 stack; List 0, Read 0, Write 1, Tagging 0, Permissions management 1; "
        "2 high (iam:PassRole on any role; privilege escalation (CreateEC2WithExistingIP))\n"
        "\nstaging-backup (staging, eu-west-1)\n  2 actions: List 1, Read 0, Write 1, Tagging 0, Permissions management 0\n"
    )


def test_the_json_report_of_a_fleet_is_keyed_by_identity_and_environment(tmp_path: Path) -> None:
    code, stdout, _ = run(fleet_folder(tmp_path), "report", "--format", "json")
    document = json.loads(stdout)
    assert code == 0 and "stacks" not in document
    identities = document["identities"]
    assert {name: list(entry["environments"]) for name, entry in identities.items()} == {
        "backup": ["staging", "production"],
        "metrics": ["production"],
    }
    backup = identities["backup"]
    assert backup["summary"]["stacks"] == 2 and backup["summary"]["high_findings"] == []
    assert backup["summary"]["actions"] | {"List": 1, "Write": 2} == backup["summary"]["actions"]
    assert backup["environments"]["production"]["stack"] == "production-backup"
    assert backup["environments"]["staging"]["actions"]["Write"] == ["s3:PutObject"]
    assert identities["metrics"]["summary"]["high_findings"] == [
        "iam:PassRole on any role",
        "privilege escalation (CreateEC2WithExistingIP)",
    ]


def test_the_report_of_one_identity_keeps_its_shape(tmp_path: Path) -> None:
    """No [[identities]]: no opening lines, and the JSON is the list of stacks it always was."""
    code, stdout, _ = run(fleet_folder(tmp_path, ONE_IDENTITY), "report")
    assert code == 0 and stdout.startswith("staging-streammanager (staging, eu-west-1)\n")
    document = json.loads(run(tmp_path, "report", "--format", "json")[1])
    assert list(document) == ["catalogue", "stacks"]
    assert [stack["stack"] for stack in document["stacks"]] == ["staging-streammanager"]


@pytest.mark.parametrize(
    ("argv", "identities", "stacks"),
    [
        ([], ["backup", "metrics"], ["staging-backup", "production-backup", "production-metrics"]),
        (["--identity", "backup"], ["backup"], ["staging-backup", "production-backup"]),
        (["--environment", "production"], ["backup", "metrics"], ["production-backup", "production-metrics"]),
        (["--identity", "metrics", "--environment", "production"], ["metrics"], ["production-metrics"]),
    ],
)
def test_the_report_covers_the_stacks_chosen(
    tmp_path: Path, argv: list[str], identities: list[str], stacks: list[str]
) -> None:
    document = json.loads(run(fleet_folder(tmp_path), "report", "--format", "json", *argv)[1])
    assert list(document["identities"]) == identities
    reported = [s["stack"] for entry in document["identities"].values() for s in entry["environments"].values()]
    assert reported == stacks


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--identity", "backup"], 0), (["--identity", "metrics"], 1), (["--environment", "staging"], 0), ([], 1)],
)
def test_strict_judges_only_the_stacks_chosen(tmp_path: Path, argv: list[str], code: int) -> None:
    assert run(fleet_folder(tmp_path), "report", "--strict", *argv)[0] == code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--identity", "bakup"], "--identity: 'bakup' is not an identity of the configuration"),
        (["--identity", "metrics", "--environment", "staging"], "--environment: 'staging' is not an environment of"),
    ],
)
def test_rejects_a_choice_that_matches_no_stack(tmp_path: Path, argv: list[str], message: str) -> None:
    code, stdout, stderr = run(fleet_folder(tmp_path), "report", *argv)
    assert (code, stdout) == (2, "") and message in stderr


# ---------------------------------------------------------------------------------------------------------------------
# export-module
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "written"),
    [
        (["--identity", "metrics"], "identity 'metrics' in environment 'production'"),
        (["--identity", "backup", "--environment", "staging"], "identity 'backup' in environment 'staging'"),
    ],
)
def test_export_module_writes_the_identity_chosen(tmp_path: Path, argv: list[str], written: str) -> None:
    code, stdout, stderr = run(fleet_folder(tmp_path), "export-module", "out", *argv)
    assert code == 0, stderr
    assert stdout.startswith(f"wrote the module of {written} to out ")
    stack = written.split("'")[3] + "-" + written.split("'")[1]
    assert f'default     = "{stack}"' in (tmp_path / "out" / "variables.tf").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [],
            "the configuration has 2 identities (backup, metrics) and a module holds one\n    fix: add --identity with",
        ),
        (["--identity", "bakup"], "--identity: bakup is not an identity of the configuration; did you mean 'backup'?"),
        (["--identity", "backup"], "--environment: (not given) the configuration has 2 environments"),
        (["--identity", "metrics", "--environment", "staging"], "staging is not an environment of identity 'metrics'"),
    ],
)
def test_rejects_an_export_that_names_no_one_stack(tmp_path: Path, argv: list[str], message: str) -> None:
    code, stdout, stderr = run(fleet_folder(tmp_path), "export-module", "out", *argv)
    assert (code, stdout) == (2, "") and message in stderr, stderr
    assert not (tmp_path / "out").exists()


def test_export_module_of_one_identity_needs_no_identity(tmp_path: Path) -> None:
    code, stdout, _ = run(fleet_folder(tmp_path, ONE_IDENTITY), "export-module", "out")
    assert code == 0 and stdout.startswith("wrote the module of environment 'staging' to out ")


# ---------------------------------------------------------------------------------------------------------------------
# deployer-policy and the library
# ---------------------------------------------------------------------------------------------------------------------


def test_the_deployer_policy_covers_every_stack_of_the_fleet(tmp_path: Path) -> None:
    code, stdout, stderr = run(fleet_folder(tmp_path), "deployer-policy")
    assert code == 0, stderr
    blueprint = build_blueprint(load_fleet({}, tmp_path))
    assert len(blueprint.stacks) == 3
    assert json.loads(stdout) == deployer_policy(blueprint).document.to_json_value()
    fewer = build_blueprint(load_fleet({}, tmp_path)).of_identity("backup")
    assert json.loads(stdout) != deployer_policy(type(blueprint)(fewer, ())).document.to_json_value()


def test_the_library_gives_the_specs_of_every_identity(tmp_path: Path) -> None:
    fleet = programmatic_iam.load_fleet({}, fleet_folder(tmp_path))
    assert isinstance(fleet, programmatic_iam.Fleet)
    specs = programmatic_iam.identity_specs(fleet)
    assert list(specs) == [("backup", "staging"), ("backup", "production"), ("metrics", "production")]
    names: dict[tuple[str, str], Any] = {key: spec.principal.name for key, spec in specs.items()}
    assert names[("metrics", "production")] == "production-metrics"
    assert specs[("backup", "staging")] == programmatic_iam.identity_spec(fleet, "staging", identity="backup")
