"""The synthesized resources and how they refer to each other: split policies and group mode, in cdk.tf.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import (
    granted_actions,
    policy_documents,
    resources,
    split_policy_actions,
    split_policy_config,
    synth,
)

pytestmark = pytest.mark.engine

STACK = "production-streammanager"
POLICY = f"{STACK}-programmatic-access"
ATTACHMENTS = ("aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment")


def references(stack: dict[str, Any], kind: str, attribute: str) -> list[str]:
    """How Terraform refers to ``attribute`` of each resource of a type, in logical-id order (as :func:`resources`)."""
    return [f"${{{kind}.{name}.{attribute}}}" for name in sorted(stack.get("resource", {}).get(kind, {}))]


@pytest.mark.parametrize(
    ("attach_policies_to", "attachment", "holder", "holder_type"),
    [
        ("user", "aws_iam_user_policy_attachment", "user", "aws_iam_user"),
        ("group", "aws_iam_group_policy_attachment", "group", "aws_iam_group"),
    ],
)
def test_every_part_of_a_split_policy_is_its_own_policy_with_its_own_attachment(
    attach_policies_to: str, attachment: str, holder: str, holder_type: str, tmp_path: Path
) -> None:
    (stack,) = synth(split_policy_config(attach_policies_to), tmp_path).values()

    names = [policy["name"] for policy in resources(stack, "aws_iam_policy")]
    assert len(names) >= 3
    assert sorted(names) == sorted([POLICY, *(f"{POLICY}-{n}" for n in range(2, len(names) + 1))])
    parts = [granted_actions(document) for document in policy_documents(stack)]
    assert all(parts), "a part grants nothing"
    assert set().union(*parts) == set(split_policy_actions())
    assert sum(len(part) for part in parts) == len(split_policy_actions()), "an action is in two parts"

    (holder_name,) = references(stack, holder_type, "name")
    attachments = resources(stack, attachment)
    assert sorted(a["policy_arn"] for a in attachments) == sorted(references(stack, "aws_iam_policy", "arn"))
    assert [a[holder] for a in attachments] == [holder_name] * len(names)
    assert [kind for kind in ATTACHMENTS if kind in stack["resource"]] == [attachment]


def test_group_mode_makes_the_user_a_member_of_the_group(tmp_path: Path) -> None:
    (stack,) = synth('[user]\nattach_policies_to = "group"\n', tmp_path).values()
    (group,) = resources(stack, "aws_iam_group")
    assert group["name"] == STACK
    (user,) = references(stack, "aws_iam_user", "name")
    (membership,) = resources(stack, "aws_iam_user_group_membership")
    assert (membership["user"], membership["groups"]) == (user, references(stack, "aws_iam_group", "name"))
