"""The shipped profiles: `stream-manager-2.0` (the guide) and `stream-manager-2.0-hardened` (the guide, scoped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.risk import assess
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, normalised_size
from tests.support.helpers import REPO, run_cli, write_config

HARDENED = '[policy]\ntemplate = "stream-manager-2.0-hardened"\n'
SEED = json.loads((REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8"))
SEED_ACTIONS = set(SEED["Statement"][0]["Action"])
LAUNCHES = {"ec2:RunInstances", "ec2:CreateVolume", "ec2:CreateNetworkInterface", "ec2:RequestSpotInstances"}


def documents(folder: Path, config: str) -> list[dict[str, Any]]:
    """The policy documents of the one stack that ``config`` synthesizes."""
    folder.mkdir(exist_ok=True)
    write_config(folder, config)
    code, _, stderr = run_cli(folder, "synth")
    assert code == 0, stderr
    (stack,) = (folder / "cdktf.out" / "stacks").iterdir()
    resources = json.loads((stack / "cdk.tf.json").read_text(encoding="utf-8"))["resource"]["aws_iam_policy"]
    return [json.loads(policy["policy"]) for policy in resources.values()]


def statements(folder: Path, config: str = HARDENED) -> dict[str, dict[str, Any]]:
    (document,) = documents(folder, config)
    return {statement["Sid"]: statement for statement in document["Statement"]}


@pytest.mark.engine
def test_keeps_every_action_of_the_guide_and_nothing_else(tmp_path: Path) -> None:
    granted = {action for statement in statements(tmp_path).values() for action in statement["Action"]}
    assert granted == SEED_ACTIONS
    assert len(granted) == 63


@pytest.mark.engine
def test_every_statement_is_scoped_and_no_finding_remains(tmp_path: Path) -> None:
    (document,) = documents(tmp_path, HARDENED)
    assert all("Condition" in statement for statement in document["Statement"])
    assert assess([document]) == ()
    assert assess([SEED])  # the guide's own policy has findings, so this is not vacuous


@pytest.mark.engine
def test_works_with_no_settings(tmp_path: Path) -> None:
    by_sid = statements(tmp_path)
    assert by_sid["Read"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": ["us-east-1"]}}
    assert by_sid["ChangeTagged"]["Condition"]["StringEquals"]["aws:ResourceTag/Application"] == "streammanager"
    assert by_sid["LaunchTagged"]["Condition"]["StringEquals"]["aws:RequestTag/Application"] == "streammanager"
    assert by_sid["ChangeTagged"]["Resource"] == "arn:aws:ec2:*:*:*"


@pytest.mark.engine
def test_takes_its_parameters_from_the_configuration(tmp_path: Path) -> None:
    config = (
        HARDENED
        + '[policy.hardening]\ntag_key = "red5:app"\ntag_value = "sm-prod"\nregions = ["eu-west-1", "eu-central-1"]\n'
        'source_ips = ["203.0.113.0/24", "2001:db8::/32"]\n'
        '[[environments]]\nname = "production"\nregion = "eu-west-1"\naccount_id = "111122223333"\n'
    )
    by_sid = statements(tmp_path, config)
    for statement in by_sid.values():
        assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == ["eu-west-1", "eu-central-1"]
        assert statement["Condition"]["IpAddress"] == {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}
    assert by_sid["ChangeTagged"]["Condition"]["StringEquals"]["aws:ResourceTag/red5:app"] == "sm-prod"
    assert by_sid["ChangeTagged"]["Resource"] == "arn:aws:ec2:*:111122223333:*"
    assert by_sid["RetagTaggedNotTheGrant"]["Condition"]["ForAllValues:StringNotEquals"] == {
        "aws:TagKeys": ["red5:app"]
    }


@pytest.mark.engine
def test_fits_one_policy_and_splits_when_the_settings_grow(tmp_path: Path) -> None:
    (default,) = documents(tmp_path / "default", HARDENED)
    assert normalised_size(default) <= 0.8 * MANAGED_POLICY_MAX_CHARACTERS
    regions = '["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1"]'
    ips = json.dumps([f"198.51.{i}.0/24" for i in range(10)])
    config = HARDENED + f"[policy.hardening]\nregions = {regions}\nsource_ips = {ips}\n"
    parts = documents(tmp_path / "many", config)
    assert len(parts) == 2
    assert all(normalised_size(part) <= MANAGED_POLICY_MAX_CHARACTERS for part in parts)
    assert {a for part in parts for s in part["Statement"] for a in s["Action"]} == SEED_ACTIONS


@pytest.mark.engine
def test_launches_need_the_tag_and_changes_need_a_tagged_resource(tmp_path: Path) -> None:
    by_sid = statements(tmp_path)
    assert set(by_sid["LaunchTagged"]["Action"]) == LAUNCHES
    assert all(
        arn.rsplit(":", 1)[1].split("/")[0] in {"instance", "volume", "network-interface", "spot-instances-request"}
        for arn in by_sid["LaunchTagged"]["Resource"]
    )
    changes = set(by_sid["ChangeTagged"]["Action"])
    for verb in ("Start", "Stop", "Terminate", "Modify", "Attach", "Detach", "AuthorizeSecurityGroup"):
        assert any(action.startswith(f"ec2:{verb}") for action in changes), verb
    assert by_sid["TagAtLaunch"]["Condition"]["StringEquals"]["ec2:CreateAction"] == sorted(a[4:] for a in LAUNCHES)


@pytest.mark.engine
def test_the_lists_agree_with_the_catalogue(tmp_path: Path) -> None:
    """A tag condition on an action whose resources cannot carry tags would deny it for good: the catalogue decides."""
    catalogue = load_catalogue()
    by_sid = statements(tmp_path)
    for action in by_sid["Read"]["Action"]:
        assert catalogue.access_level(action) in ("List", "Read"), action
    for action in by_sid["ChangeTagged"]["Action"]:
        tagged_types = [
            t for t in catalogue.resource_types(action) if t not in ("license-configuration", "security-group-rule")
        ]
        assert tagged_types, action
        assert "aws:ResourceTag/${TagKey}" in catalogue.condition_keys(action), action
    for action in by_sid["LaunchTagged"]["Action"]:
        assert "aws:RequestTag/${TagKey}" in catalogue.condition_keys(action), action
    for action in by_sid["Untagged"]["Action"]:
        assert catalogue.access_level(action) == "Write", action


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ('tag_key = "aws:app"', "whose prefix 'aws:' AWS reserves"),
        ('tag_key = ""', "AWS allows 1 to 128 characters"),
        ('tag_value = "a{b}"', "policy.hardening.tag_value"),
        ('regions = ["mars-north-1x"]', "is not an AWS region name"),
        ('source_ips = ["203.0.113.7/24"]', "is not an IP address range"),
        ('source_ips = ["anywhere"]', "is not an IP address range"),
        ("tag_colour = 'red'", "policy.hardening.tag_colour"),
    ],
)
def test_rejects_bad_hardening_settings(tmp_path: Path, setting: str, why: str) -> None:
    write_config(tmp_path, f"{HARDENED}[policy.hardening]\n{setting}\n")
    code, _, stderr = run_cli(tmp_path, "check")
    assert code == 2
    assert why in stderr
    assert "Traceback" not in stderr
