"""Readable resource addresses: what they are, that they stay unique, and that stacks deployed before them move.

``tests/fixtures/hashed-addresses/`` holds the default stack exactly as it was synthesized with cdktf's
hashed addresses (``aws_iam_user.identity_user_950F93CB``); it is deployed on the emulator and then
planned with today's stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.comment import render_comment
from programmatic_iam.analysis.plan import read_plan
from programmatic_iam.analysis.review import review_stack
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO, synth
from tests.support.terraform import Terraform

pytestmark = pytest.mark.engine

STACK = "production-streammanager"
HASHED = REPO / "tests" / "fixtures" / "hashed-addresses" / f"{STACK}.json"
READABLE = {
    "aws_iam_user": ["user"],
    "aws_iam_policy": ["policy"],
    "aws_iam_user_policy_attachment": ["policy_attachment"],
    "aws_iam_access_key": ["access_key"],
}


def addresses(stack: dict[str, Any]) -> dict[str, list[str]]:
    return {kind: sorted(items) for kind, items in stack["resource"].items()}


def test_the_default_stack_has_plain_addresses_and_moves_each_hashed_one(tmp_path: Path) -> None:
    stack = synth(None, tmp_path)[STACK]
    assert addresses(stack) == READABLE
    hashed = json.loads(HASHED.read_text(encoding="utf-8"))
    assert stack["moved"] == [
        {"from": f"{kind}.{old}", "to": f"{kind}.{new}"}
        for kind in READABLE
        for old, new in zip(hashed["resource"][kind], READABLE[kind], strict=True)
    ]


def test_every_kind_of_stack_keeps_plain_addresses(tmp_path: Path) -> None:
    config = (
        '[user]\nattach_policies_to = "group"\n\n[access_key]\ndelivery = "ssm"\ngeneration = 2\nprevious = "active"\n'
    )
    stack = synth(config, tmp_path)[STACK]
    names = [name for items in stack["resource"].values() for name in items]
    assert sorted(names) == sorted(
        [
            "user",
            "policy",
            "group",
            "policy_attachment",
            "group_membership",
            "access_key",
            "access_key_2",
            "access_key_id_parameter",
            "secret_access_key_parameter",
        ]
    )
    assert len(stack["moved"]) == len(names)
    assert all("_" in move["from"].rsplit(".", 1)[1] and move["from"] != move["to"] for move in stack["moved"])


def test_two_identities_in_one_stack_get_their_own_addresses(tmp_path: Path) -> None:
    from programmatic_iam import identity_spec, load_config
    from programmatic_iam.cdk import ProgrammaticIdentity
    from programmatic_iam.cdk.bindings import App, AwsProvider, TerraformStack

    spec = identity_spec(load_config({}, cwd=tmp_path), "production")
    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "two")
    AwsProvider(stack, "aws", region="us-east-1")
    ProgrammaticIdentity(stack, "reader", spec)
    ProgrammaticIdentity(stack, "writer", spec)
    app.synth()
    synthesized = json.loads((tmp_path / "out" / "stacks" / "two" / "cdk.tf.json").read_text(encoding="utf-8"))
    assert sorted(synthesized["resource"]["aws_iam_user"]) == ["reader_user", "writer_user"]
    assert sorted(synthesized["resource"]["aws_iam_access_key"]) == ["reader_access_key", "writer_access_key"]


def test_two_identities_with_one_address_fail_synthesis_instead_of_merging(tmp_path: Path) -> None:
    from programmatic_iam import identity_spec, load_config
    from programmatic_iam.cdk import ProgrammaticIdentity
    from programmatic_iam.cdk.bindings import App, AwsProvider, TerraformStack

    spec = identity_spec(load_config({}, cwd=tmp_path), "production")
    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "two")
    AwsProvider(stack, "aws", region="us-east-1")
    ProgrammaticIdentity(stack, "reader", spec, address_prefix="")
    ProgrammaticIdentity(stack, "writer", spec, address_prefix="")
    with pytest.raises(RuntimeError, match=r"2 resources in stack 'two' have the address aws_iam_user\.user"):
        app.synth()
    assert not (tmp_path / "out" / "stacks" / "two" / "cdk.tf.json").exists()


@pytest.mark.parametrize(
    "path",
    [
        ["identity", "user"],
        ["state", "bucket"],
        ["Default", "user"],  # hidden from the address and the hash
        ["identity", "Resource"],  # hashed, hidden from the readable part
        ["stream_manager", "manager"],  # a component that the one before it ends with
        ["a b.c", "d/e"],  # characters an address cannot hold; '/' is written as '--'
        ["x" * 200, "y" * 100],  # the readable part cut at 240 characters
        ["z" * 260],  # one component longer than an address
        ["alone"],
    ],
)
def test_the_hashed_address_computed_in_python_is_the_kernels(tmp_path: Path, path: list[str]) -> None:
    """The moved blocks name each resource's old address without asking the kernel: it must be cdktf's own."""
    from programmatic_iam.cdk.addresses import construct_node_id, hashed_logical_id
    from programmatic_iam.cdk.bindings import App, Construct, IamUser, TerraformStack

    stack = TerraformStack(App(outdir=str(tmp_path / "out")), "stack")
    scope: Construct = stack
    for component in path[:-1]:
        scope = Construct(scope, component)
    user = IamUser(scope, path[-1], name="u")
    assert hashed_logical_id([construct_node_id(component) for component in path]) == stack._allocate_logical_id(user)


@pytest.mark.parametrize("prefix", ["1st_", "-", "a b", "a.b"])
def test_a_prefix_that_cannot_start_an_address_is_refused(tmp_path: Path, prefix: str) -> None:
    from programmatic_iam import identity_spec, load_config
    from programmatic_iam.cdk import ProgrammaticIdentity
    from programmatic_iam.cdk.bindings import App, TerraformStack

    spec = identity_spec(load_config({}, cwd=tmp_path), "production")
    stack = TerraformStack(App(outdir=str(tmp_path / "out")), "one")
    with pytest.raises(ValueError, match="cannot start a Terraform resource name"):
        ProgrammaticIdentity(stack, "identity", spec, address_prefix=prefix)


@pytest.mark.terraform
def test_a_stack_deployed_with_hashed_addresses_plans_only_moves_and_keeps_its_key(
    emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path
) -> None:
    terraform = emulated_terraform
    aws.client("s3").create_bucket(Bucket="terraform-state")
    deployed = tmp_path / "deployed"
    deployed.mkdir()
    today = synth(None, tmp_path / "today")
    # The stack as the hashed addresses deployed it, with today's default tags: only the addresses differ.
    hashed = json.loads(HASHED.read_text(encoding="utf-8"))
    hashed["provider"]["aws"][0]["default_tags"] = today[STACK]["provider"]["aws"][0]["default_tags"]
    (deployed / "cdk.tf.json").write_text(json.dumps(hashed), encoding="utf-8")
    terraform.init(deployed)
    terraform.apply(deployed)
    iam = aws.client("iam")
    user_id = iam.get_user(UserName=STACK)["User"]["UserId"]
    (key,) = iam.list_access_keys(UserName=STACK)["AccessKeyMetadata"]

    (deployed / "cdk.tf.json").write_text(json.dumps(today[STACK]), encoding="utf-8")
    terraform.run(["plan", "-input=false", "-no-color", "-out=upgrade.tfplan"], deployed)
    plan_text = terraform.run(["show", "-json", "-no-color", "upgrade.tfplan"], deployed).stdout
    plan = json.loads(plan_text)
    changes = {change["address"]: change for change in plan["resource_changes"]}
    assert sorted(changes) == sorted(f"{kind}.{name}" for kind, names in READABLE.items() for name in names)
    assert all(change["change"]["actions"] == ["no-op"] for change in changes.values())
    assert {change["previous_address"] for change in changes.values()} == {
        move["from"] for move in today[STACK]["moved"]
    }

    # The review says what the plan does: nothing in AWS, four addresses moved; no warning.
    (tmp_path / "plan.json").write_text(plan_text, encoding="utf-8")
    review = review_stack(read_plan(tmp_path / "plan.json", display="plan.json"))
    assert review.verdict == "only moves addresses"
    assert review.warnings == ()
    assert sorted(change.action for change in review.changes) == ["move"] * 4
    comment = render_comment([review])
    assert "only moves addresses" in comment
    assert "moved from `aws_iam_access_key.identity_access_key_38A7DF89`" in comment

    terraform.run(["apply", "-input=false", "-no-color", "upgrade.tfplan"], deployed)
    assert not terraform.plan_has_changes(deployed)
    assert iam.get_user(UserName=STACK)["User"]["UserId"] == user_id
    assert iam.list_access_keys(UserName=STACK)["AccessKeyMetadata"] == [key]
