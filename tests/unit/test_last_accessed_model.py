"""The emulator's last-accessed report, made from an entity's allowed actions and its recorded calls
(``moto_last_accessed.py``): the pure part, each rule alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any

import pytest

from programmatic_iam_dev.moto_last_accessed import (
    Access,
    Job,
    LastAccessed,
    allowed_patterns,
    apply_control,
    page,
    service_entries,
)

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ENTITY = "arn:aws:iam::123456789012:user/production-streammanager"
EC2_ACTIONS = ["DescribeInstances", "DescribeRegions", "RunInstances", "TerminateInstances"]


def entries(
    patterns: list[str], accesses: dict[tuple[str, str], Access], *, action_level: bool = True
) -> dict[str, dict[str, Any]]:
    made = service_entries(
        patterns,
        accesses,
        ENTITY,
        lambda namespace: EC2_ACTIONS,
        lambda namespace: namespace.upper(),
        action_level=action_level,
    )
    return {entry["ServiceNamespace"]: entry for entry in made}


def test_allowed_patterns_are_every_allow_statements_actions_and_no_deny() -> None:
    documents = [
        json.dumps({"Statement": {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}}),
        json.dumps(
            {
                "Statement": [
                    {"Effect": "Allow", "Action": ["ssm:GetParameter", "s3:GetObject"], "Resource": "*"},
                    {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
                ]
            }
        ),
    ]
    assert allowed_patterns(documents) == ["ec2:Describe*", "ssm:GetParameter", "s3:GetObject"]


def test_a_wildcard_lists_every_tracked_action_it_covers_each_with_its_last_use() -> None:
    used = {("ec2", "DescribeRegions"): Access(NOW - timedelta(days=3), "eu-west-1")}
    ec2 = entries(["ec2:Describe*"], used)["ec2"]
    assert [row["ActionName"] for row in ec2["TrackedActionsLastAccessed"]] == ["DescribeInstances", "DescribeRegions"]
    regions = ec2["TrackedActionsLastAccessed"][1]
    assert regions == {
        "ActionName": "DescribeRegions",
        "LastAccessedEntity": ENTITY,
        "LastAccessedTime": NOW - timedelta(days=3),
        "LastAccessedRegion": "eu-west-1",
    }
    assert ec2["LastAuthenticated"] == NOW - timedelta(days=3) and ec2["TotalAuthenticatedEntities"] == 1


def test_matching_ignores_case_as_iam_does() -> None:
    ec2 = entries(["EC2:runinstances"], {})["ec2"]
    assert [row["ActionName"] for row in ec2["TrackedActionsLastAccessed"]] == ["RunInstances"]


def test_the_service_is_last_authenticated_at_its_latest_call_of_any_action() -> None:
    used = {
        ("ec2", "DescribeRegions"): Access(NOW - timedelta(days=30), "us-east-1"),
        ("ec2", "CreateTags"): Access(NOW - timedelta(days=1), "eu-west-1"),  # allowed elsewhere, not tracked here
    }
    ec2 = entries(["ec2:DescribeRegions"], used)["ec2"]
    assert ec2["LastAuthenticated"] == NOW - timedelta(days=1) and ec2["LastAuthenticatedRegion"] == "eu-west-1"


def test_a_service_tracked_at_service_level_and_a_service_level_report_have_no_action_list() -> None:
    used = {("ssm", "GetParameter"): Access(NOW, "us-east-1")}
    made = entries(["ssm:GetParameter", "ec2:RunInstances"], used)
    assert "TrackedActionsLastAccessed" not in made["ssm"] and made["ssm"]["TotalAuthenticatedEntities"] == 1
    assert all("TrackedActionsLastAccessed" not in e for e in entries(["ec2:*"], used, action_level=False).values())


def test_an_unused_service_has_no_last_authentication() -> None:
    s3 = entries(["s3:GetObject"], {})["s3"]
    assert s3 == {"ServiceName": "S3", "ServiceNamespace": "s3", "TotalAuthenticatedEntities": 0}


def test_a_policy_allowing_everything_reports_the_services_used() -> None:
    used = {("sts", "GetCallerIdentity"): Access(NOW, "us-east-1")}
    assert set(entries(["*"], used)) == {"sts"}


def job(status: str, services: int) -> Job:
    return Job(
        ENTITY,
        "ACTION_LEVEL",
        NOW - timedelta(seconds=5),
        status,
        [{"ServiceNamespace": str(n)} for n in range(services)],
    )


def test_pages_follow_their_marker_to_the_end() -> None:
    first = page(job("COMPLETED", 3), 2, None, NOW)
    assert [s["ServiceNamespace"] for s in first["ServicesLastAccessed"]] == ["0", "1"]
    assert first["IsTruncated"] is True and first["Marker"] == "2"
    last = page(job("COMPLETED", 3), 2, first["Marker"], NOW)
    assert [s["ServiceNamespace"] for s in last["ServicesLastAccessed"]] == ["2"]
    assert last["IsTruncated"] is False and "Marker" not in last


def test_an_unfinished_or_failed_job_has_no_services_and_a_failed_one_its_error() -> None:
    running, failed = page(job("IN_PROGRESS", 3), 100, None, NOW), page(job("FAILED", 3), 100, None, NOW)
    assert running["ServicesLastAccessed"] == [] == failed["ServicesLastAccessed"]
    assert "Error" not in running and failed["Error"]["Code"] == "ServiceFailure"
    assert not running["IsTruncated"] and running["JobCompletionDate"] == running["JobCreationDate"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"clock": "2026-01-01T00:00:00"}, "has no time zone"),
        ({"jobs": "DONE"}, "jobs must be one of COMPLETED, IN_PROGRESS, FAILED"),
        ({"speed": 2}, "unknown settings ['speed']"),
    ],
)
def test_a_wrong_setting_says_what_is_wrong(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_control(settings)


def test_the_oldest_jobs_are_forgotten_beyond_the_bound() -> None:
    records = LastAccessed(max_jobs=2)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for job_id in ("first", "second", "third"):
        records.add_job(job_id, Job("arn:aws:iam::123456789012:user/u", "ACTION_LEVEL", moment, "COMPLETED"))
    assert list(records.jobs) == ["second", "third"]
