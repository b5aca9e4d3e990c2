"""``usage report``'s judgement of each granted action on IAM's evidence (analysis/usage.py), each rule alone, on
report entries in IAM's shape (as the emulator's tests check it against botocore's model)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from programmatic_iam.analysis.usage import (
    ActionUse,
    Catalogued,
    Evidence,
    Removal,
    StackUsage,
    judge,
    tighten,
    tightening_comment,
    usage_markdown,
    usage_text,
)
from programmatic_iam.policy.catalogue import load_catalogue

TAKEN = datetime(2026, 12, 7, 12, tzinfo=UTC)
USER = "arn:aws:iam::123456789012:user/production-streammanager"
EC2 = ["ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeRegions", "ec2:RunInstances"]
CATALOGUED = Catalogued(
    covered=lambda pattern: [a for a in [*EC2, "iam:PassRole"] if a.startswith(pattern.rstrip("*"))],
    is_authorization_check=lambda action: False,
)


def tracked(name: str, days_ago: int | None, region: str = "eu-west-1") -> dict[str, Any]:
    row: dict[str, Any] = {"ActionName": name}
    if days_ago is not None:
        row.update(
            LastAccessedEntity=USER, LastAccessedTime=TAKEN - timedelta(days=days_ago), LastAccessedRegion=region
        )
    return row


def evidence(*services: Mapping[str, Any], created_days_ago: int = 400) -> Evidence:
    return Evidence(USER, TAKEN - timedelta(days=created_days_ago), TAKEN, services)


EC2_SERVICE = {
    "ServiceName": "Amazon Elastic Compute Cloud",
    "ServiceNamespace": "ec2",
    "TrackedActionsLastAccessed": [
        tracked("DescribeImages", 200),
        tracked("DescribeInstances", 1),
        tracked("DescribeRegions", 89),
        tracked("RunInstances", None),
    ],
}


def one(action: str, *services: Mapping[str, Any], window: int = 90) -> ActionUse:
    (judged,) = judge([action], evidence(*services), window, CATALOGUED)
    return judged


def test_an_action_used_in_the_window_is_used_with_when_and_where() -> None:
    use = one("ec2:DescribeInstances", EC2_SERVICE)
    assert (use.verdict, use.last_used, use.region) == ("used", TAKEN - timedelta(days=1), "eu-west-1")


def test_the_window_ends_where_the_evidence_was_taken_and_its_edge_is_inside() -> None:
    assert one("ec2:DescribeRegions", EC2_SERVICE).verdict == "used"  # 89 days ago
    assert one("ec2:DescribeRegions", EC2_SERVICE, window=89).verdict == "used"  # exactly 89: still inside
    assert one("ec2:DescribeRegions", EC2_SERVICE, window=88).verdict == "used-before-window"


def test_an_action_last_used_before_the_window_has_its_date() -> None:
    use = one("ec2:DescribeImages", EC2_SERVICE)
    assert use.verdict == "used-before-window" and use.last_used == TAKEN - timedelta(days=200)


def test_a_tracked_action_without_a_time_was_never_used() -> None:
    assert one("ec2:RunInstances", EC2_SERVICE) == ActionUse("ec2:RunInstances", "never-used")


def test_names_match_ignoring_case() -> None:
    assert one("EC2:describeinstances", EC2_SERVICE).verdict == "used"


@pytest.mark.parametrize(
    ("action", "services", "why"),
    [
        ("ec2:TerminateInstances", [EC2_SERVICE], "IAM does not track this action"),
        ("ssm:GetParameter", [{"ServiceNamespace": "ssm", "ServiceName": "SSM"}], "ssm at service level only"),
        ("sqs:SendMessage", [EC2_SERVICE], "does not list the service sqs"),
    ],
)
def test_without_action_level_evidence_nothing_is_judged(action: str, services: list[Any], why: str) -> None:
    use = one(action, *services)
    assert use.verdict == "no-action-data" and why in use.why


def test_pass_role_is_never_judged_by_use_even_when_tracked() -> None:
    iam = {"ServiceNamespace": "iam", "ServiceName": "IAM", "TrackedActionsLastAccessed": [tracked("PassRole", None)]}
    assert one("iam:PassRole", iam).verdict == "not-judged"


def test_an_authorization_check_from_the_catalogue_is_not_judged() -> None:
    checks = Catalogued(CATALOGUED.covered, lambda action: action == "ec2:RunInstances")
    (use,) = judge(["ec2:RunInstances"], evidence(EC2_SERVICE), 90, checks)
    assert use.verdict == "not-judged"


def test_a_wildcard_is_used_when_any_action_it_covers_was() -> None:
    use = one("ec2:Describe*", EC2_SERVICE)
    assert use.verdict == "used" and use.last_used == TAKEN - timedelta(days=1) and "ec2:DescribeInstances" in use.why


def test_a_wildcard_unused_in_the_window_is_judged_only_when_everything_it_covers_is() -> None:
    old = {
        **EC2_SERVICE,
        "TrackedActionsLastAccessed": [tracked("DescribeImages", 200), tracked("DescribeRegions", 300)],
    }
    use = one("ec2:Describe*", old)
    # DescribeInstances is not in IAM's list: no evidence for it, so none for the wildcard
    assert use.verdict == "no-action-data" and "ec2:DescribeInstances" in use.why
    complete = {
        **old,
        "TrackedActionsLastAccessed": [*old["TrackedActionsLastAccessed"], tracked("DescribeInstances", None)],
    }
    use = one("ec2:Describe*", complete)
    assert use.verdict == "used-before-window" and use.last_used == TAKEN - timedelta(days=200)
    never = {
        **EC2_SERVICE,
        "TrackedActionsLastAccessed": [
            tracked(name, None) for name in ("DescribeImages", "DescribeInstances", "DescribeRegions")
        ],
    }
    assert one("ec2:Describe*", never).verdict == "never-used"


def test_a_wildcard_covering_an_authorization_check_is_not_judged() -> None:
    iam = {"ServiceNamespace": "iam", "ServiceName": "IAM", "TrackedActionsLastAccessed": []}
    assert one("iam:*", iam).verdict == "not-judged"


def test_each_granted_action_is_judged_once_in_order() -> None:
    judged = judge(
        ["ec2:RunInstances", "ec2:DescribeInstances", "ec2:RunInstances"], evidence(EC2_SERVICE), 90, CATALOGUED
    )
    assert [use.action for use in judged] == ["ec2:RunInstances", "ec2:DescribeInstances"]


def test_a_user_younger_than_the_window_is_young() -> None:
    usage = StackUsage("s", "i", "e", 90, evidence(EC2_SERVICE, created_days_ago=89), ())
    assert usage.young and not StackUsage("s", "i", "e", 90, evidence(EC2_SERVICE, created_days_ago=91), ()).young


def test_what_iam_answered_is_escaped_in_text_and_in_markdown() -> None:
    hostile = {**EC2_SERVICE, "TrackedActionsLastAccessed": [tracked("DescribeInstances", 1, region="eu|x`\x1b[31m\n")]}
    usage = StackUsage(
        "production-streammanager",
        "i",
        "e",
        90,
        evidence(hostile),
        judge(["ec2:DescribeInstances"], evidence(hostile), 90, CATALOGUED),
    )
    text = usage_text([usage])
    assert "\x1b" not in text and "\\x1b[31m\\n" in text
    markdown = usage_markdown([usage])
    assert "\x1b" not in markdown and "\n\n" not in markdown.split("| `ec2:DescribeInstances` |")[1].split("\n", 1)[0]
    assert "eu\\|x" in markdown


def test_the_catalogue_names_pass_role_and_fis_injections_as_checks_and_api_calls_as_not() -> None:
    catalogue = load_catalogue()
    checks = {
        action: catalogue.is_authorization_check(action)
        for action in (
            "iam:PassRole",
            "ec2:InjectApiError",
            "sts:TagSession",
            "ec2:RunInstances",
            "ec2:DescribeInstances",
            "s3:GetObject",
        )
    }
    assert checks == {
        "iam:PassRole": True,
        "ec2:InjectApiError": True,
        "sts:TagSession": True,
        "ec2:RunInstances": False,
        "ec2:DescribeInstances": False,
        "s3:GetObject": False,
    }


def stack(environment: str, *uses: ActionUse, created_days_ago: int = 400) -> StackUsage:
    return StackUsage(f"{environment}-s", "s", environment, 90, evidence(created_days_ago=created_days_ago), uses)


def test_tighten_removes_only_what_every_environment_left_unused_with_the_latest_use() -> None:
    before = TAKEN - timedelta(days=200)
    production = stack(
        "production",
        ActionUse("ec2:A", "never-used"),
        ActionUse("ec2:B", "used", TAKEN, "eu-west-1"),
        ActionUse("ec2:C", "used-before-window", before - timedelta(days=1)),
        ActionUse("ec2:D", "never-used"),
    )
    staging = stack(
        "staging",
        ActionUse("ec2:A", "never-used"),
        ActionUse("ec2:B", "never-used"),
        ActionUse("ec2:C", "used-before-window", before),
        ActionUse("ec2:D", "no-action-data", why="IAM does not track this action"),
    )
    made = tighten("s", [production, staging], 90)
    assert made.removals == (Removal("ec2:A", None), Removal("ec2:C", before))
    assert [(use.action, use.verdict) for use in made.kept] == [("ec2:B", "used"), ("ec2:D", "no-action-data")]
    assert made.environments == ("production", "staging") and not made.refused
    assert tightening_comment(made) == (
        "usage tighten: not used in the 90 days before IAM's evidence of 2026-12-07 (production, staging)"
    )


def test_tighten_removes_nothing_when_any_environments_user_is_young() -> None:
    old = stack("production", ActionUse("ec2:A", "never-used"))
    young = stack("staging", ActionUse("ec2:A", "never-used"), created_days_ago=10)
    made = tighten("s", [old, young], 90)
    assert made.removals == () and "staging-s was created on 2026-11-27" in made.refused


def test_tighten_never_empties_a_policy() -> None:
    unused = stack("production", ActionUse("ec2:A", "never-used"), ActionUse("ec2:B", "used-before-window", TAKEN))
    made = tighten("s", [unused], 90)
    assert made.removals == () and "a policy cannot be empty" in made.refused
