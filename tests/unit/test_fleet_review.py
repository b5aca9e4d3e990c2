"""``review`` of a fleet's plans: grouped by the identity each plan's tags name, within GitHub's limit at any size."""

from __future__ import annotations

import io
from pathlib import Path
import re
from typing import Any

import pytest

from programmatic_iam.analysis.comment import GITHUB_COMMENT_LIMIT, length
from programmatic_iam.analysis.plan import read_plan
from programmatic_iam.cli import main
from programmatic_iam.ownership import ENVIRONMENT_TAG, IDENTITY_TAG
from tests.support.review_plans import change, plan, policy_change, policy_document, write

ACCOUNT = "123456789012"


def user(name: str, identity: str | None, environment: str = "production") -> dict[str, Any]:
    tags = {} if identity is None else {IDENTITY_TAG: identity, ENVIRONMENT_TAG: environment}
    return {"name": name, "path": "/", "force_destroy": False, "permissions_boundary": None, "tags_all": tags}


def stack_plan(name: str, identity: str | None, doing: str = "nothing") -> dict[str, Any]:
    """A plan of the stack ``name`` of ``identity``: ``nothing``, ``grant`` (one action more), ``create`` (a new
    identity), or ``destroy`` (an identity removed from the configuration: only its state names it)."""
    values = user(name, identity)
    if doing == "create":
        return plan([change("aws_iam_user.user", "aws_iam_user", ["create"], None, values)])
    if doing == "destroy":
        return plan([change("aws_iam_user.user", "aws_iam_user", ["delete"], values, None)])
    changes = [change("aws_iam_user.user", "aws_iam_user", ["no-op"], values, values)]
    if doing == "grant":
        before = policy_document({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})
        after = policy_document({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"})
        changes.append(policy_change(["update"], before, after))
    return plan(changes)


def review(folder: Path, plans: dict[str, dict[str, Any]], *argv: str) -> tuple[int, str, str]:
    paths = [str(write(folder, data, f"{name}.json").relative_to(folder)) for name, data in plans.items()]
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["review", *paths, *argv], environ={}, cwd=folder, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"tags_all": {IDENTITY_TAG: "backup"}}, "backup"),
        ({"tags": {IDENTITY_TAG: "backup"}, "tags_all": None}, "backup"),
        ({"tags_all": {"team": "video"}}, None),
        ({"tags_all": None}, None),
        ({"tags_all": {IDENTITY_TAG: 7}}, None),
    ],
)
def test_a_plan_names_its_identity_by_the_tag(tmp_path: Path, values: dict[str, Any], expected: str | None) -> None:
    after = {"name": "production-backup", "path": "/", **values}
    data = plan([change("aws_iam_user.user", "aws_iam_user", ["create"], None, after)])
    assert read_plan(write(tmp_path, data), display="plan.json").identity == expected


def test_a_tag_known_only_after_apply_names_no_identity(tmp_path: Path) -> None:
    after = {"name": "production-backup", "tags_all": {IDENTITY_TAG: None}, "tags": {IDENTITY_TAG: "backup"}}
    unknown = {"change": {"after_unknown": {"tags_all": {IDENTITY_TAG: True}}}}
    data = plan([change("aws_iam_user.user", "aws_iam_user", ["create"], None, after, **unknown)])
    assert read_plan(write(tmp_path, data), display="plan.json").identity == "backup"


def test_a_destroyed_identity_is_named_by_its_state(tmp_path: Path) -> None:
    """An identity removed from iam.toml: its plan destroys everything, and only the state still carries the tag."""
    data = stack_plan("production-gone", "gone", "destroy")
    assert read_plan(write(tmp_path, data), display="plan.json").identity == "gone"


def test_the_verdict_and_the_tables_are_grouped_by_identity(tmp_path: Path) -> None:
    code, comment, stderr = review(
        tmp_path,
        {
            "staging-backup": stack_plan("staging-backup", "backup"),
            "production-backup": stack_plan("production-backup", "backup", "grant"),
            "production-metrics": stack_plan("production-metrics", "metrics"),
            "production-gone": stack_plan("production-gone", "gone", "destroy"),
            "production-old": stack_plan("production-old", None),
        },
    )
    assert (code, stderr) == (0, "")
    assert (
        "| Identity | Stacks | Verdict |\n|---|--:|---|\n"
        "| `gone` | 1 | 1 destroys the identity |\n"
        "| `backup` | 2 | 1 changes permissions, 1 unchanged |\n"
        "| `metrics` | 1 | 1 unchanged |\n"
        "| (no identity tag) | 1 | 1 unchanged |\n"
    ) in comment
    rows = [line.split(" | ")[:2] for line in comment.splitlines() if line.startswith("| `") and "-" in line]
    assert rows == [
        ["| `gone`", "`production-gone`"],
        ["| `backup`", "`production-backup`"],
        ["| `backup`", "`staging-backup`"],
        ["| `metrics`", "`production-metrics`"],
    ]
    assert "| (no identity tag) | `production-old` |" in comment
    assert "<summary><code>backup</code> · <code>production-backup</code>: changes permissions</summary>" in comment


def test_identities_alike_in_seriousness_are_in_name_order(tmp_path: Path) -> None:
    code, comment, _ = review(
        tmp_path,
        {
            "a-stack": stack_plan("a-stack", "zeta"),
            "z-stack": stack_plan("z-stack", "alpha"),
            "m-stack": stack_plan("m-stack", None),
            "b-stack": stack_plan("b-stack", "beta", "grant"),
        },
    )
    assert code == 0
    names = [line.split(" | ")[0] for line in comment.splitlines() if line.endswith("| 1 unchanged |")]
    assert names == ["| `alpha`", "| `zeta`", "| (no identity tag)"]


def test_plans_of_one_identity_are_not_grouped(tmp_path: Path) -> None:
    """As before fleets (the snapshots in tests/snapshots/review hold this byte for byte)."""
    code, comment, _ = review(
        tmp_path,
        {
            "staging-backup": stack_plan("staging-backup", "backup"),
            "production-backup": stack_plan("production-backup", "backup", "grant"),
        },
    )
    assert code == 0
    assert "| Identity |" not in comment and "<summary><code>production-backup</code>: " in comment


def test_an_identity_is_shown_as_code(tmp_path: Path) -> None:
    code, comment, _ = review(
        tmp_path,
        {
            "a": stack_plan("production-a", "a|b*c"),
            "b": stack_plan("production-b", "<!--", "grant"),
        },
    )
    assert code == 0
    assert "| `a\\|b*c` | 1 | 1 unchanged |" in comment and "| `<!--` | 1 | 1 changes permissions |" in comment
    assert "<summary><code>&lt;!--</code> · <code>production-b</code>: changes permissions</summary>" in comment


@pytest.mark.parametrize(
    ("identities", "changed", "cut"), [(600, 600, True), (200, 200, True), (200, 3, False), (600, 0, False)]
)
def test_hundreds_of_stacks_fit_githubs_limit(tmp_path: Path, identities: int, changed: int, cut: bool) -> None:
    """600 plans (``identities`` identities, the first ``changed`` stacks creating theirs): the comment fits, keeps
    every identity's line, and says what it left out."""
    plans = {}
    for index in range(600):
        identity = f"identity-{index % identities:03d}"
        name = f"env{index // identities}-{identity}"
        plans[name] = stack_plan(name, identity, "create" if index < changed else "nothing")
    code, comment, stderr = review(tmp_path, plans)
    assert (code, stderr) == (0, "")
    assert length(comment) <= GITHUB_COMMENT_LIMIT
    assert ("_To stay within 65,536 characters" in comment) == cut
    if changed:
        stacks = 600 // identities
        assert all(f"| `identity-{i:03d}` | {stacks} | " in comment for i in range(identities))


def test_the_identities_lines_are_cut_last_and_the_cut_is_said(tmp_path: Path) -> None:
    plans = {f"production-{i:03d}": stack_plan(f"production-{i:03d}", f"identity-{i:03d}") for i in range(600)}
    plans["production-000"] = stack_plan("production-000", "identity-000", "create")
    code, comment, _ = review(tmp_path, plans, "--max-characters", "4000")
    assert code == 0 and length(comment) <= 4000
    assert comment.index("| `identity-000` | 1 | 1 creates the identity |") < comment.index("| `identity-001` | 1 |")
    assert re.search(r"\| and (\d+) more identities, unchanged \| \1 \| \|", comment), comment
    assert "; some identities' lines." in comment
