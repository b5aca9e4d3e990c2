"""IAM's 6,144-character limit: counting as AWS does, and splitting deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from programmatic_iam.errors import ConfigError
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.document import PolicyDocument, Statement
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, iam_size, split_document
from tests.support.helpers import blueprint_of

EC2_ACTIONS = load_catalogue().matching("ec2:*")


def document(actions: list[str], sid: str | None = None, resources: str = "*") -> PolicyDocument:
    return PolicyDocument((Statement(effect="Allow", actions=tuple(actions), resources=resources, sid=sid),))


@pytest.mark.parametrize(
    ("resources", "extra"),
    [
        ("*", 0),
        ("arn:aws:s3:::a&b", 5),  # Go's encoder writes & as \u0026: 6 characters for 1
        ("arn:aws:s3:::<x>", 10),
    ],
)
def test_size_is_the_providers_compact_form_with_go_escapes(resources: str, extra: int) -> None:
    doc = PolicyDocument((Statement(effect="Allow", actions=("s3:GetObject",), resources=resources),))
    compact = json.dumps(doc.to_json_value(), separators=(",", ":"))
    assert iam_size(doc) == len(compact) + extra


def test_whitespace_does_not_count() -> None:
    assert iam_size(document(["s3:GetObject"], resources="arn:aws:s3:::a b")) == iam_size(
        document(["s3:GetObject"], resources="arn:aws:s3:::ab")
    )


def test_a_document_under_the_limit_is_not_split() -> None:
    doc = document(EC2_ACTIONS[:100])
    assert split_document(doc, where="w")[0] == [doc]


def test_a_large_document_is_split_in_order_into_parts_under_the_limit() -> None:
    doc = document(EC2_ACTIONS, sid="Ec2")
    parts = split_document(doc, where="w")[0]
    assert len(parts) >= -(-iam_size(doc) // MANAGED_POLICY_MAX_CHARACTERS) > 1
    assert all(iam_size(part) <= MANAGED_POLICY_MAX_CHARACTERS for part in parts)
    assert [a for part in parts for s in part.statements for a in s.actions] == EC2_ACTIONS
    assert [part.statements[0].sid for part in parts] == ["Ec2", *(f"Ec2Part{n}" for n in range(2, len(parts) + 1))]
    assert split_document(doc, where="w")[0] == parts  # deterministic


def test_small_statements_are_packed_together() -> None:
    statements = tuple(
        Statement(effect="Allow", actions=tuple(EC2_ACTIONS[i : i + 50]), resources="*", sid=f"S{i}")
        for i in range(0, 500, 50)
    )
    parts = split_document(PolicyDocument(statements), where="w")[0]
    assert 1 < len(parts) < len(statements)
    assert [s.sid for part in parts for s in part.statements] == [s.sid for s in statements]


def test_a_split_policy_gets_stable_names_and_one_attachment_each(tmp_path: Path) -> None:
    actions = ", ".join(json.dumps(a) for a in EC2_ACTIONS)
    blueprint = blueprint_of(f"[policy]\nactions = [{actions}]\n", tmp_path)
    names = [p.name for p in blueprint.stacks[0].identity.policies]
    base = "production-streammanager-programmatic-access"
    assert names == [base, *(f"{base}-{n}" for n in range(2, len(names) + 1))]
    assert len(names) > 2


def test_rejects_a_policy_needing_more_managed_policies_than_allowed(tmp_path: Path) -> None:
    actions = ", ".join(json.dumps(a) for a in EC2_ACTIONS)
    with pytest.raises(
        ConfigError, match=r"needs \d+ managed policies of at most 6144 characters; policy.max_policies allows 2"
    ):
        blueprint_of(f"[policy]\nactions = [{actions}]\nmax_policies = 2\n", tmp_path)


def test_rejects_a_split_policy_whose_numbered_name_is_too_long(tmp_path: Path) -> None:
    actions = ", ".join(json.dumps(a) for a in EC2_ACTIONS)
    with pytest.raises(ConfigError, match="is over IAM's 128 characters once the part number is added"):
        blueprint_of(f'[naming]\npolicy = "{"p" * 127}"\n[policy]\nactions = [{actions}]\n', tmp_path)


def test_rejects_a_single_action_statement_over_the_limit() -> None:
    huge = Statement(
        effect="Allow",
        actions=("s3:GetObject", "s3:PutObject"),
        resources=tuple(f"arn:aws:s3:::b{i}/*" for i in range(400)),
    )
    parts, (problem,) = split_document(PolicyDocument((huge,)), where="iam.toml: policy")
    assert parts == []
    assert problem.render() == (
        "iam.toml: policy: cannot be split under IAM's 6144-character limit: a statement granting only "
        "'s3:GetObject' is over 6144 characters\n    fix: shorten that statement"
    )
