"""Rotating the access key without downtime, one reviewed configuration change per step, on the emulator."""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code
from tests.support.helpers import base_environment, run_cli, run_module, synth, write_config
from tests.support.terraform import Terraform

STACK = "production-streammanager"
USER_ARN_SUFFIX = f":user/{STACK}"

# (generation, previous): the configuration of each step, and the review's name for the plan that gets there.
STEPS = [
    (2, "active", "Access key rotation, step 1 of 3: new key created"),
    (2, "inactive", "Access key rotation, step 2 of 3: old key deactivated"),
    (2, "none", "Access key rotation, step 3 of 3: old key deleted"),
    (3, "active", "Access key rotation, step 1 of 3: new key created"),
    (3, "inactive", "Access key rotation, step 2 of 3: old key deactivated"),
    (3, "none", "Access key rotation, step 3 of 3: old key deleted"),
]


def config(generation: int, previous: str) -> str:
    return f'[access_key]\ngeneration = {generation}\nprevious = "{previous}"\n'


def keys_in_iam(aws: AwsEmulator) -> dict[str, str]:
    listed = aws.client("iam").list_access_keys(UserName=STACK)["AccessKeyMetadata"]
    return {key["AccessKeyId"]: key["Status"] for key in listed}


def answers(aws: AwsEmulator, key: AccessKey) -> bool:
    """Whether the emulator, checking signatures, answers a call made with ``key``."""
    aws.enforce_iam(after_calls=0)
    try:
        code = error_code(lambda: key.client(aws, "sts").get_caller_identity())
    finally:
        aws.enforce_iam(after_calls=None)
    return code is None


def review_of(terraform: Terraform, stack_dir: Path) -> str:
    terraform.run(["plan", "-input=false", "-no-color", "-out=step.tfplan"], stack_dir)
    (stack_dir / "plan.json").write_text(terraform.run(["show", "-json", "step.tfplan"], stack_dir).stdout)
    code, stdout, _ = run_cli(stack_dir, "review", str(stack_dir / "plan.json"))
    assert code == 0
    return stdout


def current_key(terraform: Terraform, stack_dir: Path) -> AccessKey:
    outputs = terraform.outputs(stack_dir)
    return AccessKey(access_key_id=outputs["access_key_id"], secret_access_key=outputs["secret_access_key"])


@pytest.mark.engine
@pytest.mark.terraform
def test_two_full_rotations_never_leave_the_consumer_without_a_key(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket="terraform-state")
    synth(None, tmp_path)
    stack_dir = tmp_path / "cdktf.out" / "stacks" / STACK
    emulated_terraform.init(stack_dir)
    emulated_terraform.apply(stack_dir)
    consumer = current_key(emulated_terraform, stack_dir)  # what the application holds
    assert answers(aws, consumer)

    for generation, previous, step in STEPS:
        write_config(tmp_path, config(generation, previous))
        synth(config(generation, previous), tmp_path)
        comment = review_of(emulated_terraform, stack_dir)
        assert f"**{step}**" in comment, comment
        assert "rotates a key" in comment
        emulated_terraform.apply(stack_dir, "step.tfplan")

        keys = keys_in_iam(aws)
        assert len(keys) <= 2
        newest = current_key(emulated_terraform, stack_dir)
        assert keys[newest.access_key_id] == "Active"
        # The consumer's key works at every step: it switches once step 1 has put the new key out.
        assert answers(aws, consumer), f"the consumer lost its key at {step}"
        if previous == "active":
            assert len(keys) == 2 and set(keys.values()) == {"Active"}
            consumer = newest
        elif previous == "inactive":
            assert sorted(keys.values()) == ["Active", "Inactive"]
        else:
            assert keys == {newest.access_key_id: "Active"}
        assert emulated_terraform.plan_has_changes(stack_dir) is False
    assert len(keys_in_iam(aws)) == 1


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ('generation = 1\nprevious = "active"', 'sets previous = "active" at generation 1'),
        ("generation = 0", "access_key.generation"),
        ('previous = "deleted"', "access_key.previous"),
        ("max_age_days = 0", "access_key.max_age_days"),
    ],
)
def test_rejects_impossible_rotation_settings(tmp_path: Path, settings: str, why: str) -> None:
    write_config(tmp_path, f"[access_key]\n{settings}\n")
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert why in stderr and "Traceback" not in stderr


@pytest.mark.engine
def test_the_first_generation_keeps_todays_key_and_the_second_adds_one_beside_it(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = synth(None, tmp_path / "one")[STACK]
    second = synth(config(2, "active"), tmp_path / "two")[STACK]
    assert list(first["resource"]["aws_iam_access_key"]) == ["access_key"]
    assert sorted(second["resource"]["aws_iam_access_key"]) == [
        "access_key",
        "access_key_2",
    ]
    assert second["output"]["access_key_id"]["value"] == "${aws_iam_access_key.access_key_2.id}"
    assert json.dumps(second["output"]["previous_access_key_id"]).count("aws_iam_access_key.access_key.") == 1


# ---------------------------------------------------------------------------------------------------------------------
# keys status: the ages in AWS, for a scheduled job
# ---------------------------------------------------------------------------------------------------------------------


def keys_status(aws: AwsEmulator, cwd: Path, *args: str) -> tuple[int, str, str]:
    environment = {k: v for k, v in aws.environment(base=base_environment()).items()}
    completed = run_module("programmatic_iam", "keys", "status", *args, cwd=cwd, **environment)
    return completed.returncode, completed.stdout, completed.stderr


def test_keys_status_reads_the_ages_and_fails_only_when_one_is_overdue(aws: AwsEmulator, tmp_path: Path) -> None:
    iam = aws.client("iam")
    iam.create_user(UserName=STACK)
    key = iam.create_access_key(UserName=STACK)["AccessKey"]
    code, stdout, stderr = keys_status(aws, tmp_path)
    assert (code, stderr) == (0, "")
    assert stdout.startswith(f"{STACK} (user {STACK}, keys may be 90 days old)\n")
    assert f"  {key['AccessKeyId']}  Active" in stdout
    assert "0 days old" in stdout and "never used" in stdout and stdout.endswith("No key is due.\n")
    assert key["SecretAccessKey"] not in stdout

    created = key["CreateDate"]
    due_day = (created + timedelta(days=80)).strftime("%Y-%m-%d")
    code, stdout, _ = keys_status(aws, tmp_path, "--as-of", due_day)
    assert code == 0 and stdout.rstrip().endswith("1 key(s) due within 14 days: plan the rotation.")
    late_day = (created + timedelta(days=91)).strftime("%Y-%m-%d")
    code, stdout, _ = keys_status(aws, tmp_path, "--as-of", late_day)
    assert code == 1 and "overdue" in stdout and "1 key(s) overdue: rotate now (docs/key-rotation.md)." in stdout

    write_config(tmp_path, "[access_key]\nmax_age_days = 365\n")
    assert keys_status(aws, tmp_path, "--as-of", late_day)[0] == 0
    iam.update_access_key(UserName=STACK, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    write_config(tmp_path, "[access_key]\nmax_age_days = 30\n")
    code, stdout, _ = keys_status(aws, tmp_path, "--as-of", late_day)
    assert code == 0 and "inactive" in stdout  # an inactive key signs nothing, so it is never overdue


def test_keys_status_says_when_nothing_is_deployed_and_refuses_a_bad_date(aws: AwsEmulator, tmp_path: Path) -> None:
    code, stdout, _ = keys_status(aws, tmp_path)
    assert code == 0 and "no keys (not deployed yet?)" in stdout
    write_config(tmp_path, 'kind = "instance-profile"\n')
    code, stdout, _ = keys_status(aws, tmp_path)
    assert code == 0 and "production-streammanager: no key managed here (kind = instance-profile" in stdout
    code, stdout, stderr = keys_status(aws, tmp_path, "--as-of", "next tuesday")
    assert (code, stdout) == (2, "")
    assert "--as-of: 'next tuesday' is not a date" in stderr
