"""Least privilege from real use, end to end on the emulator: the guide's user deployed with Terraform, Stream
Manager's calls made with its key, ``usage tighten --write``, the synth, the plan re-checked on IAM's evidence and
reviewed with it (refused once an action is used after the evidence), and the apply of the tightened policy; the
workload goes on without a failed call and an action it never used is denied."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code
from tests.support.helpers import base_environment, run_module, synth, write_config
from tests.support.terraform import Terraform

STACK = "production-streammanager"
REMOVED = "\u2796"  # the sign the review puts before a removed action


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
def test_the_workload_runs_through_the_tightening_the_recheck_and_the_apply_and_a_removed_call_is_denied(
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
    environment = aws.environment(base=base_environment())

    completed = run_module("programmatic_iam", "usage", "tighten", "--write", cwd=tmp_path, **environment)
    assert completed.returncode == 0, completed.stderr
    synth((tmp_path / "iam.toml").read_text(), tmp_path)

    # The plan that removes 60 actions, re-checked on IAM's evidence and reviewed with it.
    recheck, review = recheck_and_review(emulated_terraform, stack_dir, tmp_path, environment)
    assert recheck.returncode == 0, recheck.stderr
    (stack,) = json.loads(recheck.stdout)["stacks"]
    assert stack["refused"] is None and len(stack["removals"]) == 60
    assert {removal["class"] for removal in stack["removals"]} == {"never-used"}
    assert f"| {REMOVED} | `ec2:DescribeRegions` | List | never used in the 400 days IAM's record covers |" in review
    assert "A removal on IAM's evidence is in use" not in review

    # Used after the evidence was taken (the policy still grants it): the re-check refuses, the review says why.
    aws.enforce_iam(after_calls=0)
    try:
        key.client(aws, "ec2").describe_availability_zones()
    finally:
        aws.enforce_iam(after_calls=None)
    recheck, review = recheck_and_review(None, stack_dir, tmp_path, environment)  # the same plan, read again
    assert recheck.returncode == 1
    assert f"usage recheck: {STACK}: refused: used in the 90 days before IAM's evidence" in recheck.stderr
    assert "ec2:DescribeAvailabilityZones (used " in recheck.stderr
    assert "A removal on IAM's evidence is in use" in review
    assert f"| {REMOVED} | `ec2:DescribeAvailabilityZones` | List | \u26d4 used `" in review

    # Taken out of policy.remove_actions, as the review says: the re-check passes and the apply goes on.
    config = tmp_path / "iam.toml"
    config.write_text(config.read_text().replace('  "ec2:DescribeAvailabilityZones",\n', ""))
    synth(config.read_text(), tmp_path)
    recheck, _ = recheck_and_review(emulated_terraform, stack_dir, tmp_path, environment)
    assert recheck.returncode == 0, recheck.stderr
    emulated_terraform.apply(stack_dir)

    assert granted(aws) == [
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
    ]
    workload(aws, key)  # the same key, the same calls: none fails
    aws.enforce_iam(after_calls=0)
    try:
        assert error_code(lambda: key.client(aws, "ec2").describe_regions()) == "AccessDenied"
    finally:
        aws.enforce_iam(after_calls=None)
    assert emulated_terraform.plan_has_changes(stack_dir) is False


def recheck_and_review(
    terraform: Terraform | None, stack_dir: Path, folder: Path, environment: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], str]:
    """``usage recheck --format json`` of the stack's plan (made with ``terraform``, or the last one again), and the
    review of the plan with what it printed."""
    if terraform is not None:
        (folder / "plan.json").write_text(json.dumps(terraform.plan_json(stack_dir)))
    recheck = run_module(
        "programmatic_iam", "usage", "recheck", "--format", "json", "plan.json", cwd=folder, **environment
    )
    (folder / "recheck.json").write_text(recheck.stdout)
    review = run_module("programmatic_iam", "review", "plan.json", "--evidence", "recheck.json", cwd=folder)
    assert review.returncode == 0, review.stderr
    return recheck, review.stdout
