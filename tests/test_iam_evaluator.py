"""The independent IAM evaluator of the tests (tests/support/iam_evaluator.py): right, batched, and loud.

A proof made with it is only as good as its refusal to guess: a request it cannot decide exactly must fail
the test with the evaluator's reason, never come back as a denial that looks like a passing check.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.iam_evaluator import ACCOUNT_ID, Request, decide, decide_named

BUCKET = "arn:aws:s3:::state"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT_ID}:policy/app"
POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/app/*"},
        {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": f"{BUCKET}/app/locked"},
        {
            "Effect": "Allow",
            "Action": ["iam:AttachUserPolicy"],
            "Resource": f"arn:aws:iam::{ACCOUNT_ID}:user/app",
            "Condition": {"ArnEquals": {"iam:PolicyARN": POLICY_ARN}},
        },
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": BUCKET,
            "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
        },
    ],
}
USER = f"arn:aws:iam::{ACCOUNT_ID}:user/app"


def test_decides_many_requests_in_one_run_as_iam_does() -> None:
    decisions = decide_named(
        {"policy": POLICY},
        {
            "read under the prefix": Request("s3:GetObject", f"{BUCKET}/app/state"),
            "read elsewhere": Request("s3:GetObject", f"{BUCKET}/other/state"),
            "write the denied key": Request("s3:PutObject", f"{BUCKET}/app/locked"),
            "attach the named policy": Request("iam:AttachUserPolicy", USER, {"iam:PolicyARN": POLICY_ARN}),
            "attach another policy": Request("iam:AttachUserPolicy", USER, {"iam:PolicyARN": POLICY_ARN + "-2"}),
            "attach without the key": Request("iam:AttachUserPolicy", USER),
            "list from the network": Request("s3:ListBucket", BUCKET, {"aws:SourceIp": "192.0.2.7"}),
            "list from elsewhere": Request("s3:ListBucket", BUCKET, {"aws:SourceIp": "198.51.100.7"}),
        },
    )
    assert decisions == {
        "read under the prefix": "Allowed",
        "read elsewhere": "ImplicitlyDenied",
        "write the denied key": "ExplicitlyDenied",
        "attach the named policy": "Allowed",
        "attach another policy": "ImplicitlyDenied",
        "attach without the key": "ImplicitlyDenied",
        "list from the network": "Allowed",
        "list from elsewhere": "ImplicitlyDenied",
    }


def test_a_permissions_boundary_caps_what_the_identity_policy_allows() -> None:
    boundary = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    requests = [Request("s3:GetObject", f"{BUCKET}/app/state"), Request("s3:PutObject", f"{BUCKET}/app/state")]
    assert decide({"policy": POLICY}, requests, permission_boundaries={"boundary": boundary}) == [
        "Allowed",
        "ImplicitlyDenied",
    ]


@pytest.mark.parametrize(
    ("policy", "request_", "reason"),
    [
        pytest.param(POLICY, Request("iam:AttachUserPolicyy", USER), "invalid.action", id="unknown-action"),
        pytest.param(
            POLICY,
            Request("s3:GetObject", f"{BUCKET}/app/state", {"iam:PolicyARN": POLICY_ARN}),
            "context keys the action does not have were ignored",
            id="context-key-the-action-does-not-have",
        ),
        pytest.param(POLICY, Request("s3:GetObject", f"{BUCKET}/app/*"), "read the resource as a pattern", id="star"),
    ],
)
def test_rejects_a_request_it_cannot_decide_exactly(policy: dict[str, Any], request_: Request, reason: str) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        decide({"policy": policy}, [Request("s3:GetObject", f"{BUCKET}/app/state"), request_])
    message = str(failed.value)
    assert "the IAM evaluator could not decide these requests:" in message
    assert reason in message
    assert f"{request_.action} on {request_.resource}" in message
    assert message.count("\n  ") == 1  # only the undecidable request is listed


def test_rejects_an_invalid_policy_once_with_the_evaluators_reason() -> None:
    invalid = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
    with pytest.raises(pytest.fail.Exception) as failed:
        decide({"no-resource": invalid}, [Request("s3:GetObject", f"{BUCKET}/app/state")] * 3)
    message = str(failed.value)
    assert message.startswith("the IAM evaluator finds the policies invalid: ")
    assert message.count("One of Resource or NotResource is required") == 1
    assert "no-resource" in message
