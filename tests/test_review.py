"""``review``: the pull-request comment, from real plans made by real Terraform against the emulator."""

from __future__ import annotations

from io import StringIO
import json
from pathlib import Path
import re
import tempfile

import pytest

from programmatic_iam.analysis.comment import GITHUB_COMMENT_LIMIT, MARKER, length
from programmatic_iam.analysis.plan import REDACTED, UNKNOWN, read_plan
from programmatic_iam.cli import main
from programmatic_iam.policy.catalogue import load_catalogue
from programmatic_iam.policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, normalised_size
from programmatic_iam_dev.emulator import AwsEmulator
from programmatic_iam_dev.review_example import embed, make_comment
from tests.support.helpers import REPO, cdk_modules_loaded, run_module
from tests.support.hostile_plans import read_as_github
from tests.support.plans import ALL_EC2_ENVIRONMENTS, CHANGED_ACTIONS, STACK, Plans, make_plans
from tests.support.terraform import Terraform

pytestmark = pytest.mark.terraform

# The review reads plans; the engine only makes them, and makes the same JSON under both (tests/test_engines.py):
# they run once, in cdktf's run, like everything else the engine does not change.
REVIEW_ONLY_ONCE = pytest.mark.engine("cdktf", why="the review reads plans; only their making uses the engine")

ADDED, REMOVED = "\u2795", "\u2796"  # the signs the comment puts before an action
DETAILS_URL = "https://github.com/acme/identity/actions/runs/42"


@pytest.fixture(scope="module")
def plans(terraform: Terraform, aws_emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Plans:
    emulated = terraform.with_environment(aws_emulator.environment(base=terraform.env))
    return make_plans(emulated, aws_emulator, tmp_path_factory.mktemp("plans"))


@pytest.fixture(scope="module")
def outputs() -> list[str]:
    """Every comment and error stream the tests produce, to prove afterwards that no secret was in any."""
    return []


def review(outputs: list[str], *paths: Path, cwd: Path | None = None, **options: str) -> tuple[int, str, str]:
    """Run ``review`` in this process; returns (exit code, stdout, stderr) and records both streams."""
    stdout, stderr = StringIO(), StringIO()
    args = ["review", *(str(p) for p in paths)]
    for option, value in options.items():
        args += [f"--{option.replace('_', '-')}", value]
    code = main(args, environ={}, cwd=cwd or Path.cwd(), stdout=stdout, stderr=stderr)
    outputs += [stdout.getvalue(), stderr.getvalue()]
    return code, stdout.getvalue(), stderr.getvalue()


def action_row(sign: str, action: str) -> re.Pattern[str]:
    """The table row of one action with its access level as the catalogue gives it."""
    level = load_catalogue().access_level(action)
    assert level is not None
    return re.compile(rf"^\| {sign} \| `{re.escape(action)}` \| {re.escape(level)} \|", re.MULTILINE)


# ---------------------------------------------------------------------------------------------------------------------
# Each scenario: verdict, warnings, actions with their levels
# ---------------------------------------------------------------------------------------------------------------------


@REVIEW_ONLY_ONCE
def test_a_new_identity_lists_every_action_and_warns_of_the_key_and_the_escalation(
    plans: Plans, outputs: list[str]
) -> None:
    code, comment, stderr = review(outputs, plans.files["create"])
    assert (code, stderr) == (0, "")
    assert comment.startswith(f"{MARKER}\n### Identity review: 1 stack: 1 creates the identity\n")
    assert "**Access key created**" in comment
    assert "privilege escalation (ModifyEC2InstanceUserDataThenRestart)" in comment
    assert "`ec2:ModifyInstanceAttribute`, `ec2:StartInstances`, `ec2:StopInstances`" in comment
    assert len(plans.seed_actions) == 63
    for action in plans.seed_actions:
        assert action_row(ADDED, action).search(comment), action
    assert "**create** user `production-streammanager`" in comment
    assert (
        "**create** attachment of policy `production-streammanager-programmatic-access` to `production-streammanager`"
        in comment
    )


@REVIEW_ONLY_ONCE
def test_an_unchanged_stack_gets_the_short_form(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["unchanged"])
    assert code == 0
    assert comment == (
        f"{MARKER}\n### ✅ Identity review: no changes\n\n"
        "1 stack: 1 unchanged. Applying these plans changes nothing in IAM.\n"
    )


@REVIEW_ONLY_ONCE
def test_added_and_removed_actions_are_named_with_their_levels(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["changed"])
    assert code == 0
    assert comment.startswith(f"{MARKER}\n### Identity review: 1 stack: 1 changes permissions\n")
    for action in CHANGED_ACTIONS["added"]:
        assert action_row(ADDED, action).search(comment), action
    for action in CHANGED_ACTIONS["removed"]:
        assert action_row(REMOVED, action).search(comment), action
    assert len(re.findall(rf"^\| [{ADDED}{REMOVED}] \|", comment, re.MULTILINE)) == 7
    assert "| `iam:PassRole` | Permissions management | ⚠️ permissions management |" in comment
    assert "Risky permission added: iam:PassRole on any role" in comment
    assert "privilege escalation (ModifyExistingEC2LaunchTemplate)" in comment
    assert "privilege escalation (CreateEC2WithExistingIP)" in comment
    assert "Risky permission added: data reads on any resource" in comment
    # Already granted before the change: not "added".
    assert "ModifyEC2InstanceUserDataThenRestart" not in comment
    assert "Access key" not in comment
    assert "| `production-streammanager` | changes permissions | 0 | 0 | 1 | 0 | 0 | 4 | 3 | 0 |" in comment


@REVIEW_ONLY_ONCE
def test_a_replaced_key_warns_its_consumers(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["key-replaced"])
    assert code == 0
    assert "1 stack: 1 replaces a key" in comment
    assert "**Access key replaced**: the old key stops working when this is applied" in comment
    assert "**replace** access key of user `production-streammanager`: replaced on request (-replace)" in comment
    assert "Risky permission added" not in comment


@REVIEW_ONLY_ONCE
def test_a_destroyed_stack_warns_of_the_user_the_key_and_the_attachment(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["destroyed"])
    assert code == 0
    assert "1 stack: 1 destroys the identity" in comment
    for title in ("User destroyed", "Access key destroyed", "Attachment removed"):
        assert f"**{title}**" in comment
    for action in plans.seed_actions:
        assert action_row(REMOVED, action).search(comment), action


@REVIEW_ONLY_ONCE
def test_a_policy_growing_into_a_split_shows_moves_not_losses(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["split"])
    assert code == 0
    assert "**create** policy `production-streammanager-programmatic-access-2`" in comment
    assert "**update** policy `production-streammanager-programmatic-access`" in comment
    assert "moved to `production-streammanager-programmatic-access-2`" in comment
    assert "moved from `production-streammanager-programmatic-access`" in comment
    assert "Policy replaced" not in comment
    # Every part of a split but the last is full by design: not a warning.
    assert "IAM's size limit" not in comment


@REVIEW_ONLY_ONCE
def test_a_renamed_user_is_named_and_its_key_replacement_too(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["renamed"])
    assert code == 0
    assert "**User renamed**" in comment
    assert "`production-streammanager`, `production-streammanager-v2` (old name, then new name)" in comment
    assert "**Access key replaced**" in comment
    assert (
        "**update** user `production-streammanager-v2`: name `'production-streammanager'` → `'production-streammanager-v2'`"
        in comment
    )
    assert "**replace** access key of user `production-streammanager-v2`: `user` cannot change in place" in comment


@REVIEW_ONLY_ONCE
def test_a_backend_without_encryption_or_locking_is_a_warning(plans: Plans, outputs: list[str]) -> None:
    code, comment, _ = review(outputs, plans.files["all-ec2-alpha"])
    assert code == 0
    assert "**State without encryption or locking**" in comment
    _, default, _ = review(outputs, plans.files["create"])
    assert "State without" not in default


# ---------------------------------------------------------------------------------------------------------------------
# GitHub's limit, for any number of stacks
# ---------------------------------------------------------------------------------------------------------------------


@REVIEW_ONLY_ONCE
def test_three_stacks_of_all_780_ec2_actions_are_cut_to_the_limit(plans: Plans, outputs: list[str]) -> None:
    files = [plans.files[f"all-ec2-{name}"] for name in ALL_EC2_ENVIRONMENTS]
    assert len(load_catalogue().matching("ec2:*")) == 780
    _, uncut, _ = review(outputs, *files, max_characters=str(10**7))
    assert length(uncut) > GITHUB_COMMENT_LIMIT
    assert "To stay within" not in uncut
    code, comment, _ = review(outputs, *files, details_url=DETAILS_URL)
    assert code == 0
    assert length(comment) <= GITHUB_COMMENT_LIMIT
    assert comment.startswith(f"{MARKER}\n### Identity review: 3 stacks: 3 creates the identity\n")
    for name in ALL_EC2_ENVIRONMENTS:
        assert re.search(
            rf"\| `{name}-streammanager` \| creates the identity \| 0 \| \d+ \| 0 \| 0 \| 0 \| 780 \| 0 \| 0 \|",
            comment,
        )
    assert "**Access key created**" in comment
    assert "**State without encryption or locking**" in comment
    assert "the per-action tables of" in comment
    assert f"The full plans: {DETAILS_URL}" in comment
    # What fits stays: the first stack keeps its table.
    assert action_row(ADDED, "ec2:TerminateInstances").search(comment)


@REVIEW_ONLY_ONCE
def test_any_number_of_stacks_stays_within_the_limit(plans: Plans, outputs: list[str], tmp_path: Path) -> None:
    """250 stacks (copies of real plans, each user renamed so that each is a stack of its own)."""
    sources = [plans.files[name] for name in ("changed", "key-replaced", "destroyed", "create", "unchanged")]
    files = []
    for index in range(250):
        source = sources[index % len(sources)]
        folder = tmp_path / f"stack-{index}"
        folder.mkdir()
        (folder / "plan.json").write_text(
            source.read_text(encoding="utf-8").replace(STACK, f"env{index:03d}-streammanager"), encoding="utf-8"
        )
        files.append(folder / "plan.json")
    code, comment, stderr = review(outputs, *files)
    assert (code, stderr) == (0, "")
    assert length(comment) <= GITHUB_COMMENT_LIMIT
    assert comment.startswith(
        f"{MARKER}\n### Identity review: 250 stacks: 50 destroys the identity, 50 creates the identity, "
        "50 replaces a key, 50 changes permissions, 50 unchanged\n"
    )
    for title in (
        "Access key replaced",
        "User destroyed",
        "Access key created",
        "Risky permission added: iam:PassRole",
    ):
        assert f"**{title}" in comment
    assert "To stay within 65,536 characters" in comment


# ---------------------------------------------------------------------------------------------------------------------
# Secrets, inputs, and no cdktf
# ---------------------------------------------------------------------------------------------------------------------


@REVIEW_ONLY_ONCE
def test_the_secret_is_in_the_plans_and_in_no_comment(plans: Plans, outputs: list[str], tmp_path: Path) -> None:
    carrying = [name for name, path in plans.files.items() if plans.secret in path.read_text(encoding="utf-8")]
    assert {"unchanged", "key-replaced", "destroyed", "changed", "renamed"} <= set(carrying)
    own: list[str] = []
    for name in carrying:
        code, comment, _ = review(own, plans.files[name])
        assert code == 0 and comment.startswith(MARKER), name
    completed = run_module("programmatic_iam", "review", str(plans.files["key-replaced"]), cwd=tmp_path)
    assert completed.returncode == 0
    own += [completed.stdout, completed.stderr]
    # This test's own runs, and every other test's in this module that ran before it.
    assert not [output for output in own + outputs if plans.secret in output]


@REVIEW_ONLY_ONCE
def test_sensitive_values_are_gone_once_the_plan_is_read(plans: Plans) -> None:
    """Nothing after reading sees the secret: it is replaced in every change, kept only for the final check."""
    plan = read_plan(plans.files["key-replaced"], display="plan.json")
    (key,) = [change for change in plan.changes if change.type == "aws_iam_access_key"]
    assert key.before["secret"] == REDACTED
    assert key.after["secret"] == UNKNOWN
    assert plans.secret not in repr(plan.changes)
    assert plans.secret in plan.sensitive_strings


@REVIEW_ONLY_ONCE
def test_refuses_to_print_a_secret_that_a_name_would_carry(plans: Plans, outputs: list[str], tmp_path: Path) -> None:
    """Defence in depth: a sensitive value that reaches the text through a non-sensitive field is caught."""
    plan = json.loads(plans.files["changed"].read_text(encoding="utf-8"))
    for change in plan["resource_changes"]:
        if change["type"] == "aws_iam_policy":
            change["change"]["after"]["name"] = plans.secret
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    code, stdout, stderr = review(outputs, path)
    assert (code, stdout) == (1, "")
    assert "review: refused: the comment would show 1 value(s) that the plan marks sensitive" in stderr
    outputs.pop(-1)
    outputs.pop(-1)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{", "is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
        ("[]", "holds a JSON array, not an object, so it is not a Terraform plan"),
        (
            '{"format_version": "1.2", "values": {}}',
            "is a state (`terraform show -json` without a plan file), not a plan",
        ),
        ('{"format_version": "2.0", "planned_values": {}}', "format_version: '2.0' is not a version this review reads"),
        (
            '{"format_version": "1.2", "planned_values": {}, "resource_changes": [{"change": {"actions": ["explode"]}}]}',
            "resource_changes[0].change.actions: ['explode'] is not an action list Terraform writes",
        ),
    ],
)
def test_rejects_what_is_not_a_plan(tmp_path: Path, content: str, why: str) -> None:
    (tmp_path / "bad.json").write_text(content, encoding="utf-8")
    code, stdout, stderr = review([], Path("bad.json"), cwd=tmp_path)
    assert (code, stdout) == (2, "")
    assert stderr.startswith("1 problem in the plans:\n  - bad.json")
    assert why in stderr
    assert "Traceback" not in stderr


@REVIEW_ONLY_ONCE
def test_rejects_a_binary_plan_and_two_plans_of_one_stack(plans: Plans, tmp_path: Path) -> None:
    (tmp_path / "saved.tfplan").write_bytes(b"PK\x03\x04\x14\x00\x08\x00binary")
    code, _, stderr = review([], tmp_path / "saved.tfplan", plans.files["create"], plans.files["changed"])
    assert code == 2
    assert "saved.tfplan: is a binary plan file, not its JSON" in stderr
    assert "is a plan of stack 'production-streammanager', like" in stderr


@REVIEW_ONLY_ONCE
def test_review_loads_no_cdktf(plans: Plans, tmp_path: Path) -> None:
    result, loaded = cdk_modules_loaded(tmp_path, "review", str(plans.files["changed"]))
    assert result.returncode == 0, result.stderr
    assert loaded == []
    assert result.stdout.startswith(MARKER)


@REVIEW_ONLY_ONCE
def test_the_comment_in_the_docs_is_what_review_prints_today(emulated_terraform: Terraform, aws: AwsEmulator) -> None:
    """docs/pull-requests.md shows a real comment; `make review-example` regenerates it, and this keeps it so."""
    document = REPO / "docs" / "pull-requests.md"
    with tempfile.TemporaryDirectory() as folder:
        comment = make_comment(Path(folder), emulated_terraform, aws)
    assert embed(document.read_text(encoding="utf-8"), comment) == document.read_text(encoding="utf-8"), (
        "docs/pull-requests.md is stale: run `make review-example`"
    )
    assert "**Access key replaced**" in comment
    assert "| `staging-streammanager` | replaces a key |" in comment


# ---------------------------------------------------------------------------------------------------------------------
# Hostile and edge input: sizes, Markdown in values
# ---------------------------------------------------------------------------------------------------------------------


def _with_policy(plans: Plans, tmp_path: Path, document: dict[str, object]) -> Path:
    """The 'changed' plan with its policy's new document replaced by ``document``."""
    plan = json.loads(plans.files["changed"].read_text(encoding="utf-8"))
    for change in plan["resource_changes"]:
        if change["type"] == "aws_iam_policy":
            change["change"]["after"]["policy"] = json.dumps(document)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def _document_of_size(share: float) -> dict[str, object]:
    """A one-statement document of EC2 actions using about ``share`` of IAM's 6,144 characters."""
    actions: list[str] = []
    for action in sorted(load_catalogue().matching("ec2:*")):
        document: dict[str, object] = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        if normalised_size(document) >= share * MANAGED_POLICY_MAX_CHARACTERS:
            return document
        actions.append(action)
    raise AssertionError("the catalogue's EC2 actions are too few")


@REVIEW_ONLY_ONCE
@pytest.mark.parametrize(
    ("share", "warning"),
    [(0.95, "Policy near IAM's size limit"), (1.05, "Policy over IAM's size limit"), (0.85, None)],
)
def test_a_lone_policy_near_or_over_the_size_limit_is_a_warning(
    plans: Plans, outputs: list[str], tmp_path: Path, share: float, warning: str | None
) -> None:
    _, comment, _ = review(outputs, _with_policy(plans, tmp_path, _document_of_size(share)))
    titles = re.findall(r"\*\*(Policy (?:near|over) IAM's size limit)\*\*", comment)
    assert titles == ([warning] if warning else [])


@REVIEW_ONLY_ONCE
def test_markdown_and_html_in_a_policy_stay_inert(plans: Plans, outputs: list[str], tmp_path: Path) -> None:
    hostile = "```\n</details><img src=x onerror=alert(1)> @everyone ``"
    path = _with_policy(
        plans,
        tmp_path,
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ec2:DescribeInstances", "ec2:`x`|y"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:PrincipalTag/team": hostile}},
                }
            ],
        },
    )
    code, comment, _ = review(outputs, path)
    assert code == 0
    fences = re.findall(r"^(`{3,})diff$", comment, re.MULTILINE)
    assert fences == ["````"]
    assert "| ``ec2:`x`\\|y`` |" in comment
    # The closing tag and the image stay inside code (the diff, and the condition the action is granted
    # under), never in the comment's own Markdown, as GitHub's own parser reads it.
    rendered = read_as_github(comment)
    assert not [tag for tag in rendered.structure if tag.startswith("<img")]
    assert rendered.structure.count("</details>") == 1
    assert not [text for text in rendered.outside if "@everyone" in text]
    assert any("</details><img src=x onerror=alert(1)> @everyone" in code for code in rendered.code)
