"""HCP Terraform instead of the S3 backend. HCP Terraform cannot be reached from the tests: the synthesized
``cloud`` block is checked, and Terraform validates the stack offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.helpers import run_cli, synth, write_config
from tests.support.terraform import Terraform

ENVIRONMENTS = '[[environments]]\nname = "dev"\nregion = "us-east-1"\n\n[[environments]]\nname = "production"\nregion = "us-east-1"\n'
NAMED = '[cloud]\norganization = "acme"\nworkspace = "identity-{{ environment }}"\nproject = "iam"\n\n' + ENVIRONMENTS
TAGGED = '[cloud]\norganization = "acme"\nworkspace = ""\nworkspace_tags = ["identity", "team:video"]\nhostname = "tfe.example.com"\n'


@pytest.mark.engine
def test_each_stack_gets_its_own_named_workspace_and_no_s3_backend(tmp_path: Path) -> None:
    stacks = synth(NAMED, tmp_path)
    assert {stack: config["terraform"]["cloud"] for stack, config in stacks.items()} == {
        "dev-streammanager": {"organization": "acme", "workspaces": {"name": "identity-dev", "project": "iam"}},
        "production-streammanager": {
            "organization": "acme",
            "workspaces": {"name": "identity-production", "project": "iam"},
        },
    }
    assert all("backend" not in config["terraform"] for config in stacks.values())


@pytest.mark.engine
def test_workspaces_can_be_selected_by_tags_on_terraform_enterprise(tmp_path: Path) -> None:
    (stack,) = synth(TAGGED, tmp_path).values()
    assert stack["terraform"]["cloud"] == {
        "organization": "acme",
        "hostname": "tfe.example.com",
        "workspaces": {"tags": ["identity", "team:video"]},
    }


@pytest.mark.parametrize(
    ("config", "why"),
    [
        (
            '[cloud]\norganization = "acme"\n\n[backend]\nbucket = "my-state"\n',
            "sets both [cloud] and [backend] (bucket)",
        ),
        (
            '[cloud]\norganization = "acme"\nworkspace_tags = ["x"]\n',
            "needs either workspace (a name template) or workspace_tags, not both",
        ),
        ('[cloud]\norganization = "acme"\nworkspace = ""\n', "needs either workspace"),
        ('[cloud]\norganization = "ac me"\n', "is not an organization name"),
        (
            '[cloud]\norganization = "acme"\nworkspace = ""\nworkspace_tags = ["Upper"]\n',
            "workspace tags are lower-case",
        ),
        ('[cloud]\norganization = "acme"\nworkspace = "iam/{{ environment }}"\n', "is not a workspace name"),
        ('[cloud]\norganization = "acme"\nworkspace = "{{ enviroment }}"\n', "enviroment"),
        (
            '[cloud]\norganization = "acme"\nworkspace = "shared"\n\n' + ENVIRONMENTS,
            "'shared' is the state of both 'dev' and 'production'",
        ),
    ],
)
def test_bad_cloud_settings_are_named(tmp_path: Path, config: str, why: str) -> None:
    write_config(tmp_path, config)
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2 and "cloud" in stderr and why in stderr and "Traceback" not in stderr


def test_the_deployer_policy_grants_no_state_bucket_on_hcp_terraform(tmp_path: Path) -> None:
    write_config(tmp_path, NAMED)
    code, stdout, stderr = run_cli(tmp_path, "deployer-policy")
    assert code == 0, stderr
    assert '"s3:' not in stdout and '"iam:CreateUser"' in stdout


@pytest.mark.engine
@pytest.mark.terraform
def test_a_cloud_stack_is_valid_terraform(terraform: Terraform, tmp_path: Path) -> None:
    synth(NAMED, tmp_path)
    for stack in ("dev-streammanager", "production-streammanager"):
        result = terraform.init_and_validate(tmp_path / "cdktf.out" / "stacks" / stack)
        assert result["valid"] is True and result["error_count"] == 0
    parsed = json.loads((tmp_path / "cdktf.out" / "stacks" / "dev-streammanager" / "cdk.tf.json").read_text())
    assert parsed["terraform"]["cloud"]["workspaces"]["name"] == "identity-dev"


def test_the_state_bootstrap_is_refused_with_hcp_terraform(tmp_path: Path) -> None:
    write_config(tmp_path, NAMED)
    code, stdout, stderr = run_cli(tmp_path, "bootstrap", "synth")
    assert code == 2 and stdout == ""
    assert "iam.toml: cloud: organization 'acme' keeps every stack's state on HCP Terraform" in stderr
    assert not (tmp_path / "cdktf.out.bootstrap").exists()
