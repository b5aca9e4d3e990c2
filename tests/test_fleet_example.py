"""``examples/fleet.toml`` on the emulator, with real Terraform: every stack deployed as the example describes it;
one identity rotated in one environment changes that stack's plan and no other (``review`` over every plan); and
a single-identity repository moved to ``[[identities]]`` as docs/fleet.md shows plans no change."""

from __future__ import annotations

import json
from pathlib import Path
import re
import shutil
import textwrap
from typing import Any

import pytest

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.config import load_config_file
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import EXAMPLES, REPO, run_cli, synth_blueprint
from tests.support.terraform import Terraform

STATE_BUCKET = "acme-terraform-state"  # the example's backend.bucket
FLEET_PATH = "/programmatic-iam/"
USERS = {
    identity: [f"{environment}-{identity}" for environment in ("staging", "production")]
    for identity in ("streammanager", "backup", "metrics-exporter")
}
STACKS = sorted([*(user for users in USERS.values() for user in users), "production-tile-logger"])
ROTATED = "production-streammanager"
ROTATION = '[identities.environment.production.access_key]\ngeneration = 2\nprevious = "{previous}"\n'
STEP_2 = "Access key rotation, step 2 of 3: old key deactivated"
NO_CHANGES = "No changes. Your infrastructure matches the configuration."


def example_copy(directory: Path, text: str | None = None) -> Path:
    """The fleet example (or ``text`` in its place) as ``directory/iam.toml``, with the policies it names."""
    directory.mkdir(parents=True)
    path = directory / "iam.toml"
    path.write_text((EXAMPLES / "fleet.toml").read_text(encoding="utf-8") if text is None else text, encoding="utf-8")
    shutil.copytree(EXAMPLES / "policies", directory / "policies")
    return path


def synthesized(config: Path) -> dict[str, dict[str, Any]]:
    """Every stack of ``config`` synthesized into ``cdktf.out`` beside it."""
    return synth_blueprint(build_blueprint(load_config_file(config)), config.parent / "cdktf.out")


def stack_dir(config: Path, stack_id: str) -> Path:
    return config.parent / "cdktf.out" / "stacks" / stack_id


def saved_plan(terraform: Terraform, directory: Path) -> Path:
    """``terraform plan -out`` against the deployed state, converted with ``terraform show -json``."""
    terraform.run(["plan", "-input=false", "-no-color", "-lock-timeout=60s", "-out=fleet.tfplan"], directory)
    plan = directory / "plan.json"
    plan.write_text(terraform.run(["show", "-json", "-no-color", "fleet.tfplan"], directory).stdout, encoding="utf-8")
    return plan


def changes(plan: Path) -> dict[str, list[str]]:
    """What a plan does: each resource's and output's actions, the no-ops left out (only the actions leave this
    function: the plan holds the secret in its prior state)."""
    parsed = json.loads(plan.read_text(encoding="utf-8"))
    done = {change["address"]: change["change"]["actions"] for change in parsed.get("resource_changes", [])}
    done |= {f"output.{name}": change["actions"] for name, change in parsed.get("output_changes", {}).items()}
    return {address: actions for address, actions in done.items() if actions != ["no-op"]}


def keys_by_user(aws: AwsEmulator) -> dict[str, list[str]]:
    """Each user's access keys' statuses, sorted."""
    iam = aws.client("iam")
    return {
        user: sorted(key["Status"] for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
        for users in USERS.values()
        for user in users
    }


@pytest.mark.engine
def test_the_fleet_deploys_and_a_rotation_in_one_environment_changes_that_stack_alone(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    deployed = example_copy(tmp_path / "deployed")
    before = synthesized(deployed)
    assert sorted(before) == STACKS
    for stack_id in before:
        emulated_terraform.init(stack_dir(deployed, stack_id))
        emulated_terraform.apply(stack_dir(deployed, stack_id))

    # What AWS holds, read with boto3: every principal and policy under the fleet's path, each delivery in its region.
    iam = aws.client("iam")
    assert sorted(user["UserName"] for user in iam.list_users(PathPrefix=FLEET_PATH)["Users"]) == sorted(
        user for users in USERS.values() for user in users
    )
    assert [role["RoleName"] for role in iam.list_roles(PathPrefix=FLEET_PATH)["Roles"]] == ["production-tile-logger"]
    profiles = iam.list_instance_profiles(PathPrefix=FLEET_PATH)["InstanceProfiles"]
    assert [(p["InstanceProfileName"], [r["RoleName"] for r in p["Roles"]]) for p in profiles] == [
        ("production-tile-logger", ["production-tile-logger"])
    ]
    policies = iam.list_policies(Scope="Local", PathPrefix=FLEET_PATH)["Policies"]
    assert sorted(policy["PolicyName"] for policy in policies) == [f"{s}-programmatic-access" for s in STACKS]
    for backup in USERS["backup"]:  # through a group of which the user is the only member
        assert [user["UserName"] for user in iam.get_group(GroupName=backup)["Users"]] == [backup]
        attached = iam.list_attached_group_policies(GroupName=backup)["AttachedPolicies"]
        assert [policy["PolicyName"] for policy in attached] == [f"{backup}-programmatic-access"]
        assert iam.list_attached_user_policies(UserName=backup)["AttachedPolicies"] == []
    # Production's Stream Manager is at step 1 of a rotation: two active keys; every other user has one.
    assert keys_by_user(aws) == {
        user: ["Active", "Active"] if user == ROTATED else ["Active"] for users in USERS.values() for user in users
    }
    secrets = {
        region: sorted(s["Name"] for s in aws.client("secretsmanager", region).list_secrets()["SecretList"])
        for region in ("eu-west-1", "us-east-1")
    }
    assert secrets == {  # the Stream Manager's own delivery everywhere; the exporter's is production's
        "eu-west-1": ["programmatic-iam/staging-streammanager/access-key"],
        "us-east-1": [
            "programmatic-iam/production-metrics-exporter/access-key",
            "programmatic-iam/production-streammanager/access-key",
        ],
    }
    for environment, region in (("staging", "eu-west-1"), ("production", "us-east-1")):
        listed = aws.client("ssm", region).get_parameters_by_path(Path=FLEET_PATH, Recursive=True)["Parameters"]
        folder = f"{FLEET_PATH}{environment}-backup/access-key"
        assert sorted(p["Name"] for p in listed) == [f"{folder}/access-key-id", f"{folder}/secret-access-key"]
    assert "secret_access_key" in emulated_terraform.outputs(stack_dir(deployed, "staging-metrics-exporter"))

    # Step 2 of that rotation, in production only: the one key the example writes for it.
    text = deployed.read_text(encoding="utf-8")
    assert text.count(ROTATION.format(previous="active")) == 1
    rotated = example_copy(
        tmp_path / "rotated", text.replace(ROTATION.format(previous="active"), ROTATION.format(previous="inactive"))
    )
    after = synthesized(rotated)
    assert [stack_id for stack_id in after if after[stack_id] != before[stack_id]] == [ROTATED]
    plans = {}
    for stack_id in after:
        emulated_terraform.init(stack_dir(rotated, stack_id))
        plans[stack_id] = saved_plan(emulated_terraform, stack_dir(rotated, stack_id))
    code, comment, stderr = run_cli(rotated.parent, "review", *(str(plan) for plan in plans.values()))
    assert (code, stderr) == (0, "")

    # The plans: the old key's status in that stack, and nothing at all anywhere else.
    assert {stack_id: changes(plan) for stack_id, plan in plans.items()} == {
        stack_id: {"aws_iam_access_key.access_key": ["update"]} if stack_id == ROTATED else {} for stack_id in STACKS
    }
    # The review: each stack's verdict in its row, the step named once, for that stack alone.
    for stack_id in STACKS:
        rows = [line for line in comment.splitlines() if line.startswith("|") and f"| `{stack_id}` |" in line]
        verdict = "rotates a key" if stack_id == ROTATED else "unchanged"
        assert rows and all(f"| {verdict} |" in row for row in rows), (stack_id, comment)
    assert comment.count(STEP_2) == 1, comment
    step = comment[comment.index(STEP_2) :].split("\n\n", 1)[0]
    assert re.findall(r"`([a-z-]+)`", step) == [ROTATED], step

    emulated_terraform.apply(stack_dir(rotated, ROTATED), "fleet.tfplan")
    assert keys_by_user(aws) == {
        user: ["Active", "Inactive"] if user == ROTATED else ["Active"] for users in USERS.values() for user in users
    }


def documented(heading: str) -> str:
    """The TOML block of docs/fleet.md whose first line is ``# <heading>``."""
    text = (REPO / "docs" / "fleet.md").read_text(encoding="utf-8")
    blocks = [textwrap.dedent(body) for body in re.findall(r"^ *```toml\n(.*?)^ *```", text, re.DOTALL | re.MULTILINE)]
    (block,) = [block for block in blocks if block.startswith(f"# {heading}\n")]
    return block


@pytest.mark.engine
def test_a_repository_moved_to_identities_as_documented_plans_no_change(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    before = example_copy(tmp_path / "before", documented("iam.toml, before: one identity"))
    after = example_copy(tmp_path / "after", documented("iam.toml, after: the same identity in [[identities]]"))
    deployed = synthesized(before)
    assert "identities" not in load_config_file(before).model_fields_set
    for stack_id in deployed:
        emulated_terraform.init(stack_dir(before, stack_id))
        emulated_terraform.apply(stack_dir(before, stack_id))

    moved = synthesized(after)
    assert list(moved) == list(deployed) == ["production-streammanager", "staging-streammanager"]
    for stack_id in moved:
        written = stack_dir(after, stack_id) / "cdk.tf.json"
        assert written.read_bytes() == (stack_dir(before, stack_id) / "cdk.tf.json").read_bytes(), stack_id
        emulated_terraform.init(written.parent)
        plan = emulated_terraform.run(["plan", "-input=false", "-no-color", "-detailed-exitcode"], written.parent)
        assert NO_CHANGES in plan.stdout, stack_id
