"""kind = "instance-profile": no user and no key; a role that EC2 instances assume, with the same policies."""

from __future__ import annotations

import json
from pathlib import Path
import urllib.parse

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import run_cli, synth, write_config
from tests.support.terraform import Terraform

NAME = "production-streammanager"
CONFIG = 'kind = "instance-profile"\n\n[policy]\nactions = ["ec2:DescribeInstances", "ec2:StartInstances"]\n'


@pytest.mark.engine
@pytest.mark.terraform
def test_the_role_and_its_instance_profile_deploy_with_exactly_the_configured_actions(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket="terraform-state")
    (stack_id,) = synth(CONFIG, tmp_path)
    assert stack_id == NAME
    stack_dir = tmp_path / "cdktf.out" / "stacks" / stack_id
    emulated_terraform.init(stack_dir)
    emulated_terraform.apply(stack_dir)
    assert emulated_terraform.plan_has_changes(stack_dir) is False

    iam = aws.client("iam")
    role = iam.get_role(RoleName=NAME)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(urllib.parse.unquote(trust)) if isinstance(trust, str) else trust
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    (attached,) = iam.list_attached_role_policies(RoleName=NAME)["AttachedPolicies"]
    version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(urllib.parse.unquote(document)) if isinstance(document, str) else document
    assert {a for s in document["Statement"] for a in s["Action"]} == {"ec2:DescribeInstances", "ec2:StartInstances"}
    profile = iam.get_instance_profile(InstanceProfileName=NAME)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [NAME]
    assert iam.list_users()["Users"] == []
    outputs = emulated_terraform.outputs(stack_dir)
    assert outputs["instance_profile_name"] == NAME and outputs["role_arn"] == role["Arn"]
    assert not {"access_key_id", "secret_access_key", "user_name"} & set(outputs)
    emulated_terraform.destroy(stack_dir)
    assert NAME not in {r["RoleName"] for r in iam.list_roles()["Roles"]}


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('[user]\nattach_policies_to = "group"', "user.attach_policies_to"),
        ("[user]\nadopt = true", "user.adopt"),
        ('[access_key]\ndelivery = "ssm"', "access_key.delivery"),
        ("[access_key]\ngeneration = 2", "access_key.generation"),
    ],
)
def test_rejects_user_and_key_settings_for_an_instance_profile(tmp_path: Path, setting: str, key: str) -> None:
    write_config(tmp_path, f'kind = "instance-profile"\n{setting}\n')
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert f"iam.toml: {key}:" in stderr
    assert 'does not apply with kind = "instance-profile"' in stderr


def test_the_report_and_the_deployer_policy_speak_of_the_role(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    code, stdout, _ = run_cli(tmp_path, "deployer-policy")
    assert code == 0
    statements = {s["Sid"]: s for s in json.loads(stdout)["Statement"]}
    assert {"Roles", "RoleAttachments", "InstanceProfiles", "Policies"} <= set(statements)
    assert "Users" not in statements
    assert not any(a.startswith("iam:CreateAccessKey") for s in statements.values() for a in s["Action"])
    assert statements["RoleAttachments"]["Condition"] == {
        "ArnLike": {"iam:PolicyARN": f"arn:aws:iam::*:policy/{NAME}-programmatic-access"},
        "ArnNotLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"},
    }
    code, stdout, _ = run_cli(tmp_path, "report", "--format", "json")
    assert code == 0
    assert json.loads(stdout)["stacks"][0]["stack"] == NAME
