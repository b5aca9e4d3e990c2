"""Real plans for the review's tests: made once per session by real Terraform against the emulator."""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import split_policy_config, synth, write_config
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


def _plan_variant(terraform: Terraform, deployed: Path, directory: Path, config: str) -> Path:
    """A plan of ``config`` against the deployed stack's state: its JSON swapped into the initialised folder."""
    directory.mkdir()
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
