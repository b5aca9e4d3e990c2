"""Adopting a set-up made by hand, as the guide has people click it, on the emulator with real Terraform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.access_keys import AccessKey, error_code
from tests.support.helpers import REPO, run_cli, synth, write_config
from tests.support.terraform import Terraform

ACCOUNT = "123456789012"  # the emulator's
USER = "production-streammanager"
POLICY = "stream-manager-ec2"  # whatever the operator typed in the console
SEED_POLICY = (REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8")
ADOPT = f"""
[naming]
policy = "{POLICY}"

[policy]
file = "seed-console-policy.json"
description = ""

[user]
adopt = true

[access_key]
create = CREATE

[[environments]]
name = "production"
region = "us-east-1"
account_id = "{ACCOUNT}"
"""


def synth_adopting(tmp_path: Path, create: str) -> dict[str, dict[str, Any]]:
    """Synthesize ADOPT with ``access_key.create = create``, the console's policy beside it."""
    (tmp_path / "seed-console-policy.json").write_text(SEED_POLICY, encoding="utf-8")
    return synth(ADOPT.replace("CREATE", create), tmp_path)


def by_hand(aws: AwsEmulator) -> dict[str, Any]:
    """What the guide's steps make: the policy, the user without console access, the attachment, a key."""
    iam = aws.client("iam")
    policy = iam.create_policy(PolicyName=POLICY, PolicyDocument=SEED_POLICY)["Policy"]
    iam.create_user(UserName=USER)
    iam.attach_user_policy(UserName=USER, PolicyArn=policy["Arn"])
    key: dict[str, Any] = iam.create_access_key(UserName=USER)["AccessKey"]
    return key


def plan_actions(terraform: Terraform, stack_dir: Path) -> dict[str, tuple[list[str], bool]]:
    terraform.run(["plan", "-input=false", "-no-color", "-out=adopt.tfplan"], stack_dir)
    plan = json.loads(terraform.run(["show", "-json", "adopt.tfplan"], stack_dir).stdout)
    return {
        change["type"]: (change["change"]["actions"], "importing" in change["change"])
        for change in plan["resource_changes"]
    }


def updated_attributes(terraform: Terraform, stack_dir: Path) -> dict[str, set[str]]:
    """Per resource type the last plan (:func:`plan_actions`) updates, the attributes it changes."""
    plan = json.loads(terraform.run(["show", "-json", "adopt.tfplan"], stack_dir).stdout)
    return {
        change["type"]: {
            name
            for name in {*change["change"]["before"], *change["change"]["after"]}
            if change["change"]["before"].get(name) != change["change"]["after"].get(name)
            and name not in change["change"]["after_unknown"]
        }
        for change in plan["resource_changes"]
        if change["change"]["actions"] == ["update"]
    }


def answers(aws: AwsEmulator, key: AccessKey) -> bool:
    aws.enforce_iam(after_calls=0)
    try:
        return error_code(lambda: key.client(aws, "sts").get_caller_identity()) is None
    finally:
        aws.enforce_iam(after_calls=None)


@pytest.mark.engine
@pytest.mark.terraform
def test_a_hand_made_user_is_adopted_then_its_key_retired(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    hand_made = by_hand(aws)
    hand_key = AccessKey(access_key_id=hand_made["AccessKeyId"], secret_access_key=hand_made["SecretAccessKey"])
    aws.client("s3").create_bucket(Bucket="terraform-state")
    user_id = aws.client("iam").get_user(UserName=USER)["User"]["UserId"]

    # 1. Adopt: imports, no creations; the hand-made key keeps serving. The user and the policy only get the
    # tool's tags, by which `keys status` finds them once their environment has left the configuration.
    synth_adopting(tmp_path, "false")
    stack_dir = tmp_path / "cdktf.out" / "stacks" / USER
    emulated_terraform.init(stack_dir)
    actions = plan_actions(emulated_terraform, stack_dir)
    assert actions == {
        "aws_iam_policy": (["update"], True),
        "aws_iam_user": (["update"], True),
        "aws_iam_user_policy_attachment": (["no-op"], True),
    }
    assert updated_attributes(emulated_terraform, stack_dir) == {
        "aws_iam_policy": {"tags_all"},
        # force_destroy is Terraform's own setting, never sent to AWS: an import reads it as unset.
        "aws_iam_user": {"tags_all", "force_destroy"},
    }
    emulated_terraform.apply(stack_dir, "adopt.tfplan")
    assert emulated_terraform.plan_has_changes(stack_dir) is False
    assert aws.client("iam").get_user(UserName=USER)["User"]["UserId"] == user_id  # the same user, not a new one
    assert answers(aws, hand_key)

    # 2. Rotate a managed key in beside the hand-made one; the application switches to it.
    synth_adopting(tmp_path, "true")
    actions = plan_actions(emulated_terraform, stack_dir)
    assert actions["aws_iam_access_key"] == (["create"], False)
    assert [a for a, _ in actions.values()].count(["create"]) == 1
    emulated_terraform.apply(stack_dir, "adopt.tfplan")
    outputs = emulated_terraform.outputs(stack_dir)
    managed = AccessKey(access_key_id=outputs["access_key_id"], secret_access_key=outputs["secret_access_key"])
    assert answers(aws, managed) and answers(aws, hand_key)

    # 3. Retire the hand-made key by hand (Terraform never knew its secret, so it never managed it).
    aws.client("iam").delete_access_key(UserName=USER, AccessKeyId=hand_made["AccessKeyId"])
    assert not answers(aws, hand_key)
    assert answers(aws, managed)
    assert emulated_terraform.plan_has_changes(stack_dir) is False


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ("[user]\nadopt = true\n", "user.adopt imports the hand-made policy by its ARN"),
        (
            '[user]\nadopt = true\nattach_policies_to = "group"\n[[environments]]\nname = "p"\nregion = "us-east-1"\n'
            'account_id = "123456789012"\n',
            "cannot be adopted",
        ),
        ('[access_key]\ncreate = false\ndelivery = "ssm"\n', "sets create = false with a delivery or a rotation"),
    ],
)
def test_rejects_an_adoption_that_cannot_work(tmp_path: Path, config: str, why: str) -> None:
    write_config(tmp_path, config)
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert why in stderr and "Traceback" not in stderr


@pytest.mark.engine
def test_adoption_writes_import_blocks_and_no_key(tmp_path: Path) -> None:
    (stack,) = synth_adopting(tmp_path, "false").values()
    imports = {(block["to"].split(".")[0], block["id"]) for block in stack["import"]}
    policy_arn = f"arn:aws:iam::{ACCOUNT}:policy/{POLICY}"
    assert imports == {
        ("aws_iam_user", USER),
        ("aws_iam_policy", policy_arn),
        ("aws_iam_user_policy_attachment", f"{USER}/{policy_arn}"),
    }
    assert "aws_iam_access_key" not in stack["resource"]
    assert not {"access_key_id", "secret_access_key"} & set(stack["output"])
