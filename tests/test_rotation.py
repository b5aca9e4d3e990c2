"""Rotating the access key without downtime, one reviewed configuration change per step, on the emulator."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from programmatic_iam.spec import StackSpec
from programmatic_iam_dev.emulator import EMULATED_ACCOUNT_ID as ACCOUNT
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code, user_with_policy
from tests.support.helpers import (
    base_environment,
    blueprint_of,
    run_cli,
    run_module,
    synth,
    without_metadata,
    write_config,
)
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


def refusal(aws: AwsEmulator, key: AccessKey) -> str | None:
    """The error the emulator, checking signatures, answers a call made with ``key`` with; ``None``: it answers."""
    aws.enforce_iam(after_calls=0)
    try:
        return error_code(lambda: key.client(aws, "sts").get_caller_identity())
    finally:
        aws.enforce_iam(after_calls=None)


def answers(aws: AwsEmulator, key: AccessKey) -> bool:
    """Whether the emulator, checking signatures, answers a call made with ``key``."""
    return refusal(aws, key) is None


def test_the_emulator_refuses_an_inactive_key_as_aws_does(aws: AwsEmulator) -> None:
    """AWS answers a deactivated key with InvalidClientTokenId; unpatched moto would go on answering it."""
    iam = aws.client("iam")
    iam.create_user(UserName=STACK)
    made = iam.create_access_key(UserName=STACK)["AccessKey"]
    key = AccessKey(access_key_id=made["AccessKeyId"], secret_access_key=made["SecretAccessKey"])
    assert refusal(aws, key) is None
    iam.update_access_key(UserName=STACK, AccessKeyId=key.access_key_id, Status="Inactive")
    assert refusal(aws, key) == "InvalidClientTokenId"
    iam.update_access_key(UserName=STACK, AccessKeyId=key.access_key_id, Status="Active")
    assert refusal(aws, key) is None  # deactivating is reversible


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
    old = consumer  # the key a rotation retires, once step 1 has made the next one

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
            old, consumer = consumer, newest
        elif previous == "inactive":
            assert sorted(keys.values()) == ["Active", "Inactive"]
            # Step 2 really cuts the old key off: a consumer still holding it is refused, as AWS refuses it.
            assert refusal(aws, old) == "InvalidClientTokenId", f"the old key still works after {step}"
        else:
            assert keys == {newest.access_key_id: "Active"}
            assert refusal(aws, old) == "InvalidClientTokenId"
        assert emulated_terraform.plan_has_changes(stack_dir) is False
    assert len(keys_in_iam(aws)) == 1


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            'generation = 1\nprevious = "active"',
            'iam.toml: access_key: sets previous = "active" at generation 1, which has no previous key\n'
            "    fix: raise generation to 2 to rotate",
        ),
        ("generation = 0", "iam.toml: access_key.generation: 0 should be greater than or equal to 1"),
        ('previous = "deleted"', "iam.toml: access_key.previous: 'deleted' should be 'none', 'active' or 'inactive'"),
        ("max_age_days = 0", "iam.toml: access_key.max_age_days: 0 should be greater than or equal to 1"),
    ],
)
def test_rejects_impossible_rotation_settings(tmp_path: Path, settings: str, problem: str) -> None:
    write_config(tmp_path, f"[access_key]\n{settings}\n")
    code, stdout, stderr = run_cli(tmp_path, "check")
    assert (code, stdout) == (2, "")
    assert stderr.startswith(f"1 problem in the configuration:\n  - {problem}\n"), stderr
    assert "Traceback" not in stderr


# A public-key packet's header: enough for the configuration's checks and for synthesis (never deployed).
PGP_KEY = base64.b64encode(b"\x99\x01\x0d\x04").decode()


@pytest.mark.engine
@pytest.mark.parametrize(
    ("delivery", "key_settings"),
    [
        ("", {}),
        # A previous key created without pgp_key would be replaced, and its secret would lie in the state in plaintext.
        (f'delivery = "pgp"\npgp_key = "{PGP_KEY}"\n', {"pgp_key": PGP_KEY}),
    ],
    ids=["output", "pgp"],
)
def test_the_first_generation_keeps_todays_key_and_the_second_adds_one_beside_it(
    tmp_path: Path, delivery: str, key_settings: dict[str, str]
) -> None:
    def keys_and_outputs(settings: str, folder: str) -> tuple[dict[str, Any], dict[str, Any]]:
        (tmp_path / folder).mkdir()
        stack = without_metadata(synth(f"[access_key]\n{delivery}{settings}", tmp_path / folder)[STACK])
        outputs = {name: output["value"] for name, output in stack["output"].items() if "access_key" in name}
        return stack["resource"]["aws_iam_access_key"], outputs

    todays = {"user": "${aws_iam_user.user.name}", **key_settings}
    secret = "encrypted_secret_access_key" if key_settings else "secret_access_key"
    secret_attribute = "encrypted_secret" if key_settings else "secret"

    keys, outputs = keys_and_outputs("", "one")
    assert keys == {"access_key": todays}
    assert outputs == {
        "access_key_id": "${aws_iam_access_key.access_key.id}",
        secret: f"${{aws_iam_access_key.access_key.{secret_attribute}}}",
    }
    # Step 1: the first key with its user and pgp_key as they were (a change to either would replace it), the
    # new one beside it, the outputs on the new one.
    keys, outputs = keys_and_outputs(config(2, "active").split("\n", 1)[1], "two")
    assert keys == {"access_key": {**todays, "status": "Active"}, "access_key_2": todays}
    assert outputs == {
        "access_key_id": "${aws_iam_access_key.access_key_2.id}",
        secret: f"${{aws_iam_access_key.access_key_2.{secret_attribute}}}",
        "previous_access_key_id": "${aws_iam_access_key.access_key.id}",
    }
    # Step 2: only the old key's status changes.
    keys, _ = keys_and_outputs(config(2, "inactive").split("\n", 1)[1], "three")
    assert keys == {"access_key": {**todays, "status": "Inactive"}, "access_key_2": todays}
    # The third generation lives where the first did, the second's key now the previous one.
    keys, outputs = keys_and_outputs(config(3, "active").split("\n", 1)[1], "four")
    assert keys == {"access_key": todays, "access_key_2": {**todays, "status": "Active"}}
    assert outputs["access_key_id"] == "${aws_iam_access_key.access_key.id}"
    assert outputs["previous_access_key_id"] == "${aws_iam_access_key.access_key_2.id}"


# ---------------------------------------------------------------------------------------------------------------------
# keys status: the ages in AWS, for a scheduled job
# ---------------------------------------------------------------------------------------------------------------------


def keys_status(aws: AwsEmulator, cwd: Path, *args: str, key: AccessKey | None = None) -> tuple[int, str, str]:
    """``keys status ARGS`` in ``cwd`` against the emulator, signing with ``key`` (default: the emulator's own)."""
    environment = aws.environment(base=base_environment())
    if key is not None:
        environment.update(AWS_ACCESS_KEY_ID=key.access_key_id, AWS_SECRET_ACCESS_KEY=key.secret_access_key)
    completed = run_module("programmatic_iam", "keys", "status", *args, cwd=cwd, **environment)
    return completed.returncode, completed.stdout, completed.stderr


def keys_status_json(aws: AwsEmulator, cwd: Path, *args: str, key: AccessKey | None = None) -> dict[str, Any]:
    code, stdout, stderr = keys_status(aws, cwd, "--format", "json", *args, key=key)
    assert code in (0, 1), stderr
    document: dict[str, Any] = json.loads(stdout)
    return document


def deployed_by_hand(aws: AwsEmulator, stack: StackSpec, keys: int, iam: Any = None) -> list[str]:
    """The stack's user as Terraform makes it (with the stack's default tags), and ``keys`` keys, oldest first."""
    iam = iam or aws.client("iam")
    tags = [{"Key": key, "Value": value} for key, value in stack.default_tags]
    iam.create_user(UserName=stack.stack_id, Tags=tags)
    return [iam.create_access_key(UserName=stack.stack_id)["AccessKey"]["AccessKeyId"] for _ in range(keys)]


def test_keys_status_reads_the_ages_and_fails_only_when_one_is_overdue(aws: AwsEmulator, tmp_path: Path) -> None:
    iam = aws.client("iam")
    iam.create_user(UserName=STACK)
    key = iam.create_access_key(UserName=STACK)["AccessKey"]
    code, stdout, stderr = keys_status(aws, tmp_path)
    assert (code, stderr) == (0, "")
    assert stdout.startswith(f"{STACK} (user {STACK} in {ACCOUNT}, keys may be 90 days old)\n")
    assert f"  {key['AccessKeyId']}  Active    current  " in stdout
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
    assert code == 0 and "  no such user (not deployed yet?)\n" in stdout
    write_config(tmp_path, 'kind = "instance-profile"\n')
    code, stdout, _ = keys_status(aws, tmp_path)
    assert code == 0 and "production-streammanager: no key (kind = instance-profile)\n" in stdout
    code, stdout, stderr = keys_status(aws, tmp_path, "--as-of", "next tuesday")
    assert (code, stdout) == (2, "")
    assert "--as-of: 'next tuesday' is not a date" in stderr


TWO_ENVIRONMENTS = """
[[environments]]
name = "production"
region = "us-east-1"

[[environments]]
name = "staging"
region = "eu-west-1"
"""
PRODUCTION_ONLY = '\n[[environments]]\nname = "production"\nregion = "us-east-1"\n'


def test_keys_status_marks_each_key_and_finds_those_of_a_removed_environment(aws: AwsEmulator, tmp_path: Path) -> None:
    """Step 2 of a rotation in production; staging's stack left behind when staging left iam.toml."""
    production, staging = blueprint_of(config(2, "inactive") + TWO_ENVIRONMENTS, tmp_path).stacks
    old, new = deployed_by_hand(aws, production, keys=2)
    iam = aws.client("iam")
    iam.update_access_key(UserName=production.stack_id, AccessKeyId=old, Status="Inactive")
    (left_behind,) = deployed_by_hand(aws, staging, keys=1)
    iam.create_user(UserName="someone-elses-user", Tags=[{"Key": "team", "Value": "video"}])  # not the tool's
    iam.create_access_key(UserName="someone-elses-user")
    write_config(tmp_path, config(2, "inactive") + PRODUCTION_ONLY)

    document = keys_status_json(aws, tmp_path)
    assert [(k["user"], k["access_key_id"], k["role"], k["verdict"]) for k in document["keys"]] == [
        ("production-streammanager", old, "previous", "inactive"),
        ("production-streammanager", new, "current", "ok"),
        ("staging-streammanager", left_behind, "orphan", "ok"),
    ]
    orphan = document["keys"][2]
    assert (orphan["identity"], orphan["environment"], orphan["account"]) == ("streammanager", "staging", ACCOUNT)
    assert document["accounts_searched"] == [ACCOUNT]
    assert document["summary"] == {"keys": 3, "overdue": 0, "due": 0, "orphans": 1, "hand_made": 0}

    code, stdout, _ = keys_status(aws, tmp_path)
    assert code == 0
    assert "Not in the configuration any more (found by their programmatic-iam: tags):\n" in stdout
    assert f"  {left_behind}  Active    orphan  " in stdout and "someone-elses-user" not in stdout
    # An orphan's key ages like any other: nobody rotates it any more, so it is the first to be overdue.
    late = (datetime.now(UTC) + timedelta(days=91)).strftime("%Y-%m-%d")
    overdue = keys_status_json(aws, tmp_path, "--as-of", late)["summary"]["overdue"]
    assert (keys_status(aws, tmp_path, "--as-of", late)[0], overdue) == (1, 2)


def test_keys_status_marks_the_keys_of_a_user_whose_key_is_not_managed_as_hand_made(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    (adopted,) = blueprint_of("[access_key]\ncreate = false\n", tmp_path).stacks
    (hand_made,) = deployed_by_hand(aws, adopted, keys=1)
    write_config(tmp_path, "[access_key]\ncreate = false\n")
    document = keys_status_json(aws, tmp_path)
    assert [(k["access_key_id"], k["role"]) for k in document["keys"]] == [(hand_made, "hand-made")]
    assert document["stacks"][0]["manages_key"] is False
    # Managed from here on (adoption's step 2): the new key is current, the one made by hand stays hand-made.
    managed = aws.client("iam").create_access_key(UserName=adopted.stack_id)["AccessKey"]["AccessKeyId"]
    write_config(tmp_path, "[access_key]\ncreate = true\n")
    document = keys_status_json(aws, tmp_path)
    assert [(k["access_key_id"], k["role"]) for k in document["keys"]] == [
        (hand_made, "hand-made"),
        (managed, "current"),
    ]


OTHER_ACCOUNT = "111111111111"
PARTNER = f"""
[[environments]]
name = "production"
region = "us-east-1"

[[environments]]
name = "partner"
region = "us-east-1"

[environments.assume_role]
role_arn = "arn:aws:iam::{OTHER_ACCOUNT}:role/identity-deployer"
"""


def test_keys_status_looks_for_orphans_in_every_account_an_environment_reaches(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    production, partner = blueprint_of(PARTNER, tmp_path).stacks
    credentials = aws.client("sts").assume_role(RoleArn=partner.assume_role.role_arn, RoleSessionName="test")  # type: ignore[union-attr]
    secret = credentials["Credentials"]
    other_iam = boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url=aws.endpoint,
        aws_access_key_id=secret["AccessKeyId"],
        aws_secret_access_key=secret["SecretAccessKey"],
        aws_session_token=secret["SessionToken"],
    )
    deployed_by_hand(aws, production, keys=1)
    (partner_key,) = deployed_by_hand(aws, partner, keys=1, iam=other_iam)
    # The partner account's second environment, since removed from iam.toml.
    (retired,) = blueprint_of(PARTNER.replace('"partner"', '"partner-eu"'), tmp_path).stacks[1:]
    (retired_key,) = deployed_by_hand(aws, retired, keys=1, iam=other_iam)
    write_config(tmp_path, PARTNER)

    document = keys_status_json(aws, tmp_path)
    assert document["accounts_searched"] == [ACCOUNT, OTHER_ACCOUNT]
    found = {(k["account"], k["user"], k["access_key_id"], k["role"]) for k in document["keys"]}
    assert (OTHER_ACCOUNT, "partner-streammanager", partner_key, "current") in found
    assert (OTHER_ACCOUNT, "partner-eu-streammanager", retired_key, "orphan") in found
    assert len(found) == 3


# The permissions docs/key-rotation.md lists for the job that runs `keys status`.
READ_KEYS = ["iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"]
FIND_ORPHANS = ["iam:ListUsers", "iam:ListUserTags"]


def auditor(aws: AwsEmulator, actions: list[str], name: str) -> AccessKey:
    statement = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    return user_with_policy(aws, name, json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_keys_status_needs_the_documented_permissions_and_says_which_account_it_could_not_search(
    aws: AwsEmulator, tmp_path: Path
) -> None:
    production, staging = blueprint_of(TWO_ENVIRONMENTS, tmp_path).stacks
    deployed_by_hand(aws, production, keys=1)
    (left_behind,) = deployed_by_hand(aws, staging, keys=1)
    write_config(tmp_path, PRODUCTION_ONLY)
    full = auditor(aws, READ_KEYS + FIND_ORPHANS, "key-auditor")
    partial = auditor(aws, READ_KEYS, "old-key-auditor")
    aws.enforce_iam(after_calls=0)
    try:
        document = keys_status_json(aws, tmp_path, key=full)
        code, stdout, stderr = keys_status(aws, tmp_path, "--format", "json", key=partial)
    finally:
        aws.enforce_iam(after_calls=None)
    assert [k["role"] for k in document["keys"]] == ["current", "orphan"]
    assert document["keys"][1]["access_key_id"] == left_behind
    # Without the orphan search's permissions: the configured keys still, and a warning, not silence.
    assert code == 0
    limited = json.loads(stdout)
    assert [k["role"] for k in limited["keys"]] == ["current"]
    assert limited["accounts_searched"] == []
    assert limited["accounts_not_searched"] == [
        {"account": ACCOUNT, "why": "AccessDenied: the credentials need iam:ListUsers and iam:ListUserTags"}
    ]
    assert f"warning: account {ACCOUNT} not searched for keys of removed environments" in stderr
