"""What `policy.hardening` really allows, decided request by request by an independent IAM evaluator.

The emulator ignores conditions (docs/policies.md); `@cloud-copilot/iam-simulate` (tests/support/iam_evaluator.py)
evaluates them as IAM does. Each test builds the policy from a real configuration and asks what the key may do:
an ordinary policy bounded by `regions` and `source_ips`, and the hardened profile's tag, region, source range
and tag-at-launch scopes.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from pathlib import Path
from typing import Any

from tests.support.helpers import blueprint_of
from tests.support.iam_evaluator import Decision, Request, decide_named

ALLOWED: Decision = "Allowed"
DENIED: Decision = "ImplicitlyDenied"
EXPLICITLY_DENIED: Decision = "ExplicitlyDenied"
INSIDE = "203.0.113.7"
INSIDE_V6 = "2001:db8::7"
OUTSIDE = "198.51.100.7"
REGION = "eu-west-1"
OTHER_REGION = "us-east-1"
BOUNDS = f'[policy.hardening]\nregions = ["{REGION}"]\nsource_ips = ["203.0.113.0/24", "2001:db8::/32"]\n'
OBJECT = "arn:aws:s3:::app-data/report.csv"


def policies_of(toml: str, directory: Path, files: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The managed policies of the one stack of ``toml`` (name -> document), with JSON ``files`` beside it."""
    for name, value in (files or {}).items():
        (directory / name).write_text(json.dumps(value), encoding="utf-8")
    (stack,) = blueprint_of(toml, directory).stacks
    return {policy.name: policy.document.to_json_value() for policy in stack.identity.policies}


def called(source_ip: str | None, region: str = REGION, **more: str | list[str]) -> dict[str, str | list[str]]:
    """A request's context: where it comes from (``None``: no address, as through a VPC endpoint) and its region."""
    context: dict[str, str | list[str]] = {"aws:RequestedRegion": region, **more}
    if source_ip is not None:
        context["aws:SourceIp"] = source_ip
    return context


def test_source_ips_and_regions_bound_an_ordinary_policy(tmp_path: Path) -> None:
    """The issue's case: `source_ips` with `policy.actions` made the key IP-bound in the user's mind only."""
    policies = policies_of('[policy]\nactions = ["s3:GetObject", "ec2:DescribeInstances"]\n' + BOUNDS, tmp_path)
    decisions = decide_named(
        policies,
        {
            "from inside": Request("s3:GetObject", OBJECT, called(INSIDE)),
            "from inside, IPv6": Request("s3:GetObject", OBJECT, called(INSIDE_V6)),
            "from elsewhere": Request("s3:GetObject", OBJECT, called(OUTSIDE)),
            "with no address (a VPC endpoint)": Request("s3:GetObject", OBJECT, called(None)),
            "in another region": Request("s3:GetObject", OBJECT, called(INSIDE, OTHER_REGION)),
            "a read with no resource, from inside": Request("ec2:DescribeInstances", "*", called(INSIDE)),
            "a read with no resource, from elsewhere": Request("ec2:DescribeInstances", "*", called(OUTSIDE)),
        },
    )
    assert decisions == {
        "from inside": ALLOWED,
        "from inside, IPv6": ALLOWED,
        "from elsewhere": DENIED,
        "with no address (a VPC endpoint)": DENIED,
        "in another region": DENIED,
        "a read with no resource, from inside": ALLOWED,
        "a read with no resource, from elsewhere": DENIED,
    }


def test_without_the_settings_the_same_policy_allows_from_anywhere(tmp_path: Path) -> None:
    """The counterpart: what the bound takes away was allowed before, so the denials above are its work."""
    policies = policies_of('[policy]\nactions = ["s3:GetObject"]\n', tmp_path)
    decisions = decide_named(
        policies,
        {
            "from elsewhere": Request("s3:GetObject", OBJECT, called(OUTSIDE)),
            "in another region": Request("s3:GetObject", OBJECT, called(INSIDE, OTHER_REGION)),
        },
    )
    assert decisions == {"from elsewhere": ALLOWED, "in another region": ALLOWED}


def test_a_policy_files_own_conditions_denies_and_not_action_keep_their_meaning(tmp_path: Path) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:StopInstances",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/Team": "video"}},
            },
            {"Effect": "Allow", "NotAction": ["iam:*", "ec2:*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        ],
    }
    toml = '[policy]\nfile = "p.json"\nallow_wildcards = true\n' + BOUNDS
    policies = policies_of(toml, tmp_path, {"p.json": document})
    instance = f"arn:aws:ec2:{REGION}:123456789012:instance/i-0123456789abcdef0"
    video = {"aws:ResourceTag/Team": "video"}
    decisions = decide_named(
        policies,
        {
            "stop a tagged instance from inside": Request("ec2:StopInstances", instance, called(INSIDE, **video)),
            "stop a tagged instance from elsewhere": Request("ec2:StopInstances", instance, called(OUTSIDE, **video)),
            "stop another team's instance from inside": Request(
                "ec2:StopInstances", instance, called(INSIDE, **{"aws:ResourceTag/Team": "audio"})
            ),
            "NotAction's grant from inside": Request("s3:GetObject", OBJECT, called(INSIDE)),
            "NotAction's grant from elsewhere": Request("s3:GetObject", OBJECT, called(OUTSIDE)),
            "NotAction's grant in another region": Request("s3:GetObject", OBJECT, called(INSIDE, OTHER_REGION)),
            "the denied action from inside": Request("s3:DeleteObject", OBJECT, called(INSIDE)),
            "the denied action from elsewhere": Request("s3:DeleteObject", OBJECT, called(OUTSIDE)),
        },
    )
    assert decisions == {
        "stop a tagged instance from inside": ALLOWED,
        "stop a tagged instance from elsewhere": DENIED,
        "stop another team's instance from inside": DENIED,
        "NotAction's grant from inside": ALLOWED,
        "NotAction's grant from elsewhere": DENIED,
        "NotAction's grant in another region": DENIED,
        # The Deny keeps applying everywhere: a bound on it would have let the Allow through from elsewhere.
        "the denied action from inside": EXPLICITLY_DENIED,
        "the denied action from elsewhere": EXPLICITLY_DENIED,
    }


# ---------------------------------------------------------------------------------------------------------------------
# The hardened profile (docs/policies.md): tag, region, source range and tag-at-launch, decision by decision
# ---------------------------------------------------------------------------------------------------------------------

ACCOUNT = "111122223333"
HARDENED = (
    '[policy]\ntemplate = "stream-manager-2.0-hardened"\n'
    f'[policy.hardening]\nregions = ["{REGION}"]\nsource_ips = ["203.0.113.0/24"]\n'
    f'[[environments]]\nname = "production"\nregion = "{REGION}"\naccount_id = "{ACCOUNT}"\n'
)
TAG = "aws:ResourceTag/Application"
OURS = {TAG: "streammanager"}
THEIRS = {TAG: "billing"}


def arn(kind: str, name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:ec2:{REGION}:{account}:{kind}/{name}"


INSTANCE = arn("instance", "i-0123456789abcdef0")
VOLUME = arn("volume", "vol-0123456789abcdef0")
IMAGE = f"arn:aws:ec2:{REGION}::image/ami-0123456789abcdef0"
SUBNET = arn("subnet", "subnet-0123456789abcdef0")


def hardened_request(action: str, resource: str, **context: str | Sequence[str]) -> Request:
    """A call from inside the source range, in the allowed region, unless ``context`` says otherwise."""
    account = resource.split(":")[4] if resource.startswith("arn:") else ""
    merged: dict[str, str | Sequence[str]] = {**called(INSIDE), **context}
    return Request(action, resource, merged, account_id=account or ACCOUNT)


def test_the_hardened_profile_changes_only_the_applications_tagged_resources(tmp_path: Path) -> None:
    decisions = decide_named(
        policies_of(HARDENED, tmp_path),
        {
            "stop its own instance": hardened_request("ec2:StopInstances", INSTANCE, **OURS),
            "stop another application's instance": hardened_request("ec2:StopInstances", INSTANCE, **THEIRS),
            "stop an untagged instance": hardened_request("ec2:StopInstances", INSTANCE),
            "terminate its own instance": hardened_request("ec2:TerminateInstances", INSTANCE, **OURS),
            "terminate an untagged instance": hardened_request("ec2:TerminateInstances", INSTANCE),
            "detach its own volume": hardened_request("ec2:DetachVolume", VOLUME, **OURS),
            "stop its own instance in another account": hardened_request(
                "ec2:StopInstances", arn("instance", "i-0123456789abcdef0", "444455556666"), **OURS
            ),
        },
    )
    assert decisions == {
        "stop its own instance": ALLOWED,
        "stop another application's instance": DENIED,
        "stop an untagged instance": DENIED,
        "terminate its own instance": ALLOWED,
        "terminate an untagged instance": DENIED,
        "detach its own volume": ALLOWED,
        "stop its own instance in another account": DENIED,
    }


def test_the_hardened_profile_keeps_to_its_regions_and_source_range(tmp_path: Path) -> None:
    decisions = decide_named(
        policies_of(HARDENED, tmp_path),
        {
            "read in the region, from inside": hardened_request("ec2:DescribeInstances", "*"),
            "read in another region": hardened_request(
                "ec2:DescribeInstances", "*", **{"aws:RequestedRegion": OTHER_REGION}
            ),
            "read from elsewhere": hardened_request("ec2:DescribeInstances", "*", **{"aws:SourceIp": OUTSIDE}),
            "stop its own instance from elsewhere": hardened_request(
                "ec2:StopInstances", INSTANCE, **OURS, **{"aws:SourceIp": OUTSIDE}
            ),
            "stop its own instance in another region": hardened_request(
                "ec2:StopInstances", INSTANCE, **OURS, **{"aws:RequestedRegion": OTHER_REGION}
            ),
        },
    )
    assert decisions == {
        "read in the region, from inside": ALLOWED,
        "read in another region": DENIED,
        "read from elsewhere": DENIED,
        "stop its own instance from elsewhere": DENIED,
        "stop its own instance in another region": DENIED,
    }


def test_the_hardened_profile_launches_only_with_the_tag_and_tags_only_at_launch(tmp_path: Path) -> None:
    tagged_launch = {"aws:RequestTag/Application": "streammanager", "aws:TagKeys": ["Application"]}
    decisions = decide_named(
        policies_of(HARDENED, tmp_path),
        {
            "launch an instance with the tag": hardened_request("ec2:RunInstances", INSTANCE, **tagged_launch),
            "launch an instance without it": hardened_request("ec2:RunInstances", INSTANCE),
            "launch an instance with another value": hardened_request(
                "ec2:RunInstances",
                INSTANCE,
                **{"aws:RequestTag/Application": "billing", "aws:TagKeys": ["Application"]},
            ),
            "launch from an image": hardened_request("ec2:RunInstances", IMAGE),
            "launch into a subnet": hardened_request("ec2:RunInstances", SUBNET),
            "launch from elsewhere": hardened_request(
                "ec2:RunInstances", INSTANCE, **tagged_launch, **{"aws:SourceIp": OUTSIDE}
            ),
            "tag as part of the launch": hardened_request(
                "ec2:CreateTags", INSTANCE, **{"ec2:CreateAction": "RunInstances", "aws:TagKeys": ["Application"]}
            ),
            "tag a stranger's instance into reach": hardened_request(
                "ec2:CreateTags", INSTANCE, **{"aws:TagKeys": ["Application"]}
            ),
            "retag its own instance with another key": hardened_request(
                "ec2:CreateTags", INSTANCE, **OURS, **{"aws:TagKeys": ["Owner"]}
            ),
            "retag its own instance's grant": hardened_request(
                "ec2:CreateTags", INSTANCE, **OURS, **{"aws:TagKeys": ["Application"]}
            ),
            "untag its own instance out of reach": hardened_request(
                "ec2:DeleteTags", INSTANCE, **OURS, **{"aws:TagKeys": ["Application"]}
            ),
        },
    )
    assert decisions == {
        "launch an instance with the tag": ALLOWED,
        "launch an instance without it": DENIED,
        "launch an instance with another value": DENIED,
        "launch from an image": ALLOWED,
        "launch into a subnet": ALLOWED,
        "launch from elsewhere": DENIED,
        "tag as part of the launch": ALLOWED,
        "tag a stranger's instance into reach": DENIED,
        "retag its own instance with another key": ALLOWED,
        "retag its own instance's grant": DENIED,
        "untag its own instance out of reach": DENIED,
    }
