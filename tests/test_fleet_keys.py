"""``keys status`` of a fleet on the emulator: one table with each key's identity and environment, JSON alike, and
``--identity`` / ``--environment`` choosing the stacks (and the orphans whose tags name them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_fleet
from programmatic_iam.ownership import ownership_tags
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import ENVIRONMENTS_IN_ONE_REGION, base_environment, run_module, write_config

FLEET = (
    """
"""
    + ENVIRONMENTS_IN_ONE_REGION
    + """
[[identities]]
name = "backup"
policy.actions = ["s3:PutObject"]

[[identities]]
name = "metrics"
kind = "instance-profile"
environments = ["production"]
policy.actions = ["cloudwatch:PutMetricData"]
"""
)


def keys_status(aws: AwsEmulator, cwd: Path, *args: str) -> tuple[int, str, str]:
    completed = run_module(
        "programmatic_iam", "keys", "status", *args, cwd=cwd, **aws.environment(base=base_environment())
    )
    return completed.returncode, completed.stdout, completed.stderr


@pytest.fixture
def deployed(aws: AwsEmulator, tmp_path: Path) -> dict[str, str]:
    """The fleet's users with a key each (as Terraform would tag them), and a user of an identity since removed."""
    write_config(tmp_path, FLEET)
    iam = aws.client("iam")
    keys = {}
    users = [
        (stack.stack_id, dict(stack.default_tags))
        for stack in build_blueprint(load_fleet({}, tmp_path)).stacks
        if stack.identity.principal.name.endswith("backup")
    ]
    users.append(("production-gone", ownership_tags("gone", "production")))
    for user, tags in users:
        iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        keys[user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return keys


def test_keys_status_is_one_table_for_the_fleet(aws: AwsEmulator, tmp_path: Path, deployed: dict[str, str]) -> None:
    code, stdout, stderr = keys_status(aws, tmp_path)
    assert (code, stderr) == (0, "")
    rows = [line.split() for line in stdout.splitlines()[:5]]
    assert " ".join(rows[0]) == "IDENTITY ENVIRONMENT USER ACCOUNT KEY STATUS ROLE AGE LAST USED VERDICT"
    assert [row[:3] + row[4:7] for row in rows[1:]] == [
        ["backup", "staging", "staging-backup", deployed["staging-backup"], "Active", "current"],
        ["backup", "production", "production-backup", deployed["production-backup"], "Active", "current"],
        ["metrics", "production", "-", "-", "-", "-"],
        ["gone", "production", "production-gone", deployed["production-gone"], "Active", "orphan"],
    ]
    assert rows[3][-5:] == ["no", "key", "(kind", "=", "instance-profile)"]


@pytest.mark.parametrize(
    ("argv", "users"),
    [
        ([], ["staging-backup", "production-backup", "production-gone"]),
        (["--identity", "backup"], ["staging-backup", "production-backup"]),
        (["--environment", "production"], ["production-backup", "production-gone"]),
        (["--identity", "backup", "--environment", "staging"], ["staging-backup"]),
    ],
)
def test_keys_status_json_names_each_keys_identity_and_environment(
    aws: AwsEmulator, tmp_path: Path, deployed: dict[str, str], argv: list[str], users: list[str]
) -> None:
    code, stdout, stderr = keys_status(aws, tmp_path, "--format", "json", *argv)
    assert code == 0, stderr
    document = json.loads(stdout)
    assert [key["user"] for key in document["keys"]] == users
    assert all(
        (key["identity"], key["environment"]) == (key["user"].split("-")[1], key["user"].split("-")[0])
        for key in document["keys"]
    )


def test_rejects_an_unknown_identity(aws: AwsEmulator, tmp_path: Path) -> None:
    write_config(tmp_path, FLEET)
    code, stdout, stderr = keys_status(aws, tmp_path, "--identity", "backups")
    assert (code, stdout) == (2, "")
    assert "--identity: 'backups' is not an identity of the configuration" in stderr
