"""Least privilege from real use, end to end on the emulator: the guide's user deployed with Terraform, Stream
Manager's calls made with its key, ``usage tighten --write``, the synth and the apply of the tightened policy; the
workload goes on without a failed call and an action it never used is denied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code
from tests.support.helpers import base_environment, run_module, synth, write_config
from tests.support.terraform import Terraform

STACK = "production-streammanager"


def workload(aws: AwsEmulator, key: AccessKey) -> None:
    """Stream Manager's calls with its key, IAM's checks on: each must be answered."""
    aws.enforce_iam(after_calls=0)
    try:
        ec2 = key.client(aws, "ec2")
        ec2.describe_instances()
        ec2.describe_images(Owners=["self"])
        ec2.describe_security_groups()
    finally:
        aws.enforce_iam(after_calls=None)


def granted(aws: AwsEmulator) -> list[str]:
    """The actions of the user's policy as IAM holds it."""
    iam = aws.client("iam")
    (attached,) = iam.list_attached_user_policies(UserName=STACK)["AttachedPolicies"]
    policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    document = version["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    return sorted(action for statement in document["Statement"] for action in statement["Action"])


@pytest.mark.engine
@pytest.mark.terraform
def test_the_workload_runs_through_the_tightening_and_the_apply_and_a_removed_call_is_denied(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket="terraform-state")
    write_config(tmp_path, "# the built-in default, in a file tighten can write into\n")
    synth("", tmp_path)
    stack_dir = tmp_path / "cdktf.out" / "stacks" / STACK
    emulated_terraform.init(stack_dir)
    emulated_terraform.apply(stack_dir)
    outputs = emulated_terraform.outputs(stack_dir)
    key = AccessKey(access_key_id=outputs["access_key_id"], secret_access_key=outputs["secret_access_key"])
    assert "ec2:RunInstances" in granted(aws) and len(granted(aws)) == 63
    aws.last_accessed(created={"user": STACK, "date": "2025-01-01T00:00:00+00:00"})
    workload(aws, key)

    completed = run_module(
        "programmatic_iam", "usage", "tighten", "--write", cwd=tmp_path, **aws.environment(base=base_environment())
    )
    assert completed.returncode == 0, completed.stderr
    synth((tmp_path / "iam.toml").read_text(), tmp_path)
    emulated_terraform.apply(stack_dir)

    assert granted(aws) == ["ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups"]
    workload(aws, key)  # the same key, the same calls: none fails
    aws.enforce_iam(after_calls=0)
    try:
        assert error_code(lambda: key.client(aws, "ec2").describe_regions()) == "AccessDenied"
    finally:
        aws.enforce_iam(after_calls=None)
    assert emulated_terraform.plan_has_changes(stack_dir) is False
