"""Real plans for the review's tests: made once per session by real Terraform against the emulator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO, split_policy_config, synth, write_config
from tests.support.review_plans import ROTATION_READINGS, Settings
from tests.support.terraform import Terraform

STACK = "production-streammanager"
STATE_BUCKET = "terraform-state"
PLAN = "plan.json"

CHANGED_ACTIONS = {
    "added": ("iam:PassRole", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "s3:GetObject"),
    "removed": ("ec2:DescribeImages", "ec2:ExportImage", "ec2:TerminateInstances"),
}
"""The seed's actions change by these in the 'changed' plan."""

ALL_EC2_ENVIRONMENTS = ("alpha", "bravo", "charlie")


@dataclass(frozen=True)
class Plans:
    """The plan JSON files by scenario, and the deployed key's secret (to prove it never shows)."""

    files: dict[str, Path]
    secret: str
    seed_actions: tuple[str, ...]


def make_plans(terraform: Terraform, aws: AwsEmulator, work: Path) -> Plans:
    """Deploy the default stack, then save a plan of each scenario beside its stack's ``cdk.tf.json``."""
    aws.reset()
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    files: dict[str, Path] = {}
    default = work / "default"
    default.mkdir()
    stack = _synth_stack(None, default)
    terraform.init(stack)
    files["create"] = _save_plan(terraform, stack, "create")
    terraform.apply(stack)
    secret = _secret_from_state(aws, f"{STACK}/terraform.tfstate")
    files["unchanged"] = _save_plan(terraform, stack, "unchanged")
    key = _address(json.loads(files["unchanged"].read_text()), "aws_iam_access_key")
    files["key-replaced"] = _save_plan(terraform, stack, "key-replaced", f"-replace={key}")
    files["destroyed"] = _save_plan(terraform, stack, "destroyed", "-destroy")

    seed_actions = tuple(_seed_actions(stack))
    changed = [a for a in seed_actions if a not in CHANGED_ACTIONS["removed"]] + list(CHANGED_ACTIONS["added"])
    files["changed"] = _plan_variant(terraform, stack, work / "changed", f"[policy]\nactions = {json.dumps(changed)}\n")
    files["split"] = _plan_variant(terraform, stack, work / "split", split_policy_config("user"))
    files["renamed"] = _renamed_plan(terraform, stack)

    all_ec2 = sorted(load_catalogue().matching("ec2:*"))
    environments = "".join(
        f'[[environments]]\nname = "{name}"\nregion = "us-east-1"\n' for name in ALL_EC2_ENVIRONMENTS
    )
    config = f"[policy]\nactions = {json.dumps(all_ec2)}\n\n[backend]\nencrypt = false\nuse_lockfile = false\n\n{environments}"
    many = work / "all-ec2"
    many.mkdir()
    write_config(many, config)
    synth(config, many)
    for name in ALL_EC2_ENVIRONMENTS:
        stack_dir = many / "cdktf.out" / "stacks" / f"{name}-streammanager"
        terraform.init(stack_dir)
        files[f"all-ec2-{name}"] = _save_plan(terraform, stack_dir, f"all-ec2-{name}")
    return Plans(files=files, secret=secret, seed_actions=seed_actions)


def _synth_stack(config: str | None, directory: Path) -> Path:
    synth(config, directory)
    return directory / "cdktf.out" / "stacks" / STACK


def _save_plan(terraform: Terraform, stack: Path, name: str, *extra: str) -> Path:
    """``terraform plan -out`` then ``show -json`` into ``<name>/plan.json`` beside a copy of ``cdk.tf.json``."""
    folder = stack.parent.parent.parent / "plans" / name
    folder.mkdir(parents=True)
    terraform.run(["plan", "-input=false", "-no-color", "-lock-timeout=60s", "-out=saved.tfplan", *extra], stack)
    shown = terraform.run(["show", "-json", "-no-color", "saved.tfplan"], stack).stdout
    (stack / "saved.tfplan").unlink()
    (folder / PLAN).write_text(shown, encoding="utf-8")
    (folder / "cdk.tf.json").write_bytes((stack / "cdk.tf.json").read_bytes())
    return folder / PLAN


def _plan_variant(
    terraform: Terraform, deployed: Path, directory: Path, config: str, files: Mapping[str, str] | None = None
) -> Path:
    """A plan of ``config`` (with ``files`` beside it) against the deployed stack's state: its JSON swapped into
    the initialised folder."""
    directory.mkdir()
    for name, text in (files or {}).items():
        (directory / name).write_text(text, encoding="utf-8")
    variant = _synth_stack(config, directory)
    original = (deployed / "cdk.tf.json").read_bytes()
    (deployed / "cdk.tf.json").write_bytes((variant / "cdk.tf.json").read_bytes())
    try:
        return _save_plan(terraform, deployed, directory.name)
    finally:
        (deployed / "cdk.tf.json").write_bytes(original)


def _renamed_plan(terraform: Terraform, deployed: Path) -> Path:
    """The deployed user renamed in place (as a changed naming template with a fixed state key would do)."""
    original = (deployed / "cdk.tf.json").read_bytes()
    stack = json.loads(original)
    for user in stack["resource"]["aws_iam_user"].values():
        user["name"] = "production-streammanager-v2"
    (deployed / "cdk.tf.json").write_text(json.dumps(stack), encoding="utf-8")
    try:
        return _save_plan(terraform, deployed, "renamed")
    finally:
        (deployed / "cdk.tf.json").write_bytes(original)


def _secret_from_state(aws: AwsEmulator, key: str) -> str:
    state = json.loads(aws.client("s3").get_object(Bucket=STATE_BUCKET, Key=key)["Body"].read())
    secrets = [
        instance["attributes"]["secret"]
        for resource in state["resources"]
        if resource["type"] == "aws_iam_access_key"
        for instance in resource["instances"]
    ]
    assert len(secrets) == 1 and len(secrets[0]) >= 20
    return str(secrets[0])


def _address(plan: dict[str, Any], resource_type: str) -> str:
    return next(str(r["address"]) for r in plan["resource_changes"] if r["type"] == resource_type)


def _seed_actions(stack: Path) -> list[str]:
    config = json.loads((stack / "cdk.tf.json").read_text(encoding="utf-8"))
    (policy,) = config["resource"]["aws_iam_policy"].values()
    document = json.loads(policy["policy"])
    return [action for statement in document["Statement"] for action in statement["Action"]]


# ---------------------------------------------------------------------------------------------------------------------
# The scenarios whose comments are kept as Markdown snapshots (tests/test_review_snapshots.py)
# ---------------------------------------------------------------------------------------------------------------------

ADOPTED_USER = "legacy-streammanager"
HAND_MADE_POLICY = "stream-manager-ec2"
SEED_POLICY = (REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8")
ADOPT = f"""\
[naming]
policy = "{HAND_MADE_POLICY}"

[policy]
file = "seed-console-policy.json"
description = ""

[user]
adopt = true

[access_key]
create = false

[[environments]]
name = "legacy"
region = "us-east-1"
account_id = "123456789012"
"""
"""docs/adopting.md's configuration, for a user made by hand as the guide has it."""

SCOPED_BUCKET = "arn:aws:s3:::bucket"


def scoped_document(seed_actions: tuple[str, ...]) -> dict[str, Any]:
    """The seed's actions, one re-scoped by a condition, one removed, and new ones on ``*``, on each user's
    prefix of a bucket and (a wildcard) on the bucket."""
    kept = [a for a in seed_actions if a not in ("ec2:RebootInstances", "ec2:TerminateInstances")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [*kept, "ec2:CreateSnapshot"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "ec2:RebootInstances",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/app": "streammanager"}},
            },
            {"Effect": "Allow", "Action": "s3:GetObjectVersion", "Resource": f"{SCOPED_BUCKET}/${{aws:username}}/*"},
            {"Effect": "Allow", "Action": "s3:List*", "Resource": SCOPED_BUCKET},
        ],
    }


PLANNED_ROTATIONS = tuple(
    (before, after)
    for (before, after), (_, title) in ROTATION_READINGS.items()
    if after[0] != 1 and (title is not None or after == (4, "none"))
)
"""The changes of the rotation settings planned for real: lowering the generation by one plans exactly as raising
it does, and of the changes that plan nothing one is enough (the generation raised by two)."""


def rotation_config(settings: Settings) -> str:
    generation, previous = settings
    return f'[access_key]\ngeneration = {generation}\nprevious = "{previous}"\n'


def make_scenario_plans(terraform: Terraform, aws: AwsEmulator, work: Path) -> dict[str, Path]:
    """Plans of an adoption, a scoped-versus-unscoped change, two changes of delivery and the changes of the
    rotation settings in :data:`PLANNED_ROTATIONS` (named ``rotation (2, 'none') -> (3, 'active')``)."""
    aws.reset()
    aws.client("s3").create_bucket(Bucket=STATE_BUCKET)
    files = {"adoption": _adoption_plan(terraform, aws, work / "adoption")}

    default = work / "default"
    default.mkdir()
    stack = _synth_stack(None, default)
    terraform.init(stack)
    terraform.apply(stack)
    seed_actions = tuple(_seed_actions(stack))
    files["scoped"] = _plan_variant(
        terraform,
        stack,
        work / "scoped",
        '[policy]\nfile = "scoped.json"\nallow_wildcards = true\n',
        {"scoped.json": json.dumps(scoped_document(seed_actions), indent=2)},
    )
    for delivery in ("secretsmanager", "ssm"):
        files[f"delivery {delivery}"] = _plan_variant(
            terraform, stack, work / f"delivery-{delivery}", f'[access_key]\ndelivery = "{delivery}"\n'
        )

    for base in ("active", "inactive", "none"):  # the order a rotation takes them, from generation 1
        _synth_stack(rotation_config((2, base)), default)
        terraform.apply(stack)
        for before, after in PLANNED_ROTATIONS:
            if before == (2, base):
                _synth_stack(rotation_config(after), default)
                name = f"rotation {before} -> {after}"
                files[name] = _save_plan(terraform, stack, name.replace(" ", "_").replace("'", ""))
    return files


def _adoption_plan(terraform: Terraform, aws: AwsEmulator, directory: Path) -> Path:
    """What the guide has people make by hand (a key included), then the plan that adopts it."""
    iam = aws.client("iam")
    policy = iam.create_policy(PolicyName=HAND_MADE_POLICY, PolicyDocument=SEED_POLICY)["Policy"]
    iam.create_user(UserName=ADOPTED_USER)
    iam.attach_user_policy(UserName=ADOPTED_USER, PolicyArn=policy["Arn"])
    iam.create_access_key(UserName=ADOPTED_USER)
    directory.mkdir()
    (directory / "seed-console-policy.json").write_text(SEED_POLICY, encoding="utf-8")
    synth(ADOPT, directory)
    stack = directory / "cdktf.out" / "stacks" / ADOPTED_USER
    terraform.init(stack)
    return _save_plan(terraform, stack, "adoption")
