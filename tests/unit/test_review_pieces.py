"""The review's pure pieces: Markdown that nothing can break out of, GitHub's count, the risk engine."""

from __future__ import annotations

from io import StringIO
import json
from pathlib import Path
import re
from typing import Any

import pytest

from programmatic_iam.analysis.comment import MARKER, Where, fenced, inline_code, length, render_comment, visible
from programmatic_iam.analysis.permissions import PermissionChange
from programmatic_iam.analysis.plan import read_plan
from programmatic_iam.analysis.review import COUNTED, Phrase, StackReview, Warning, review_stack
from programmatic_iam.analysis.risk import assess, new_findings
from programmatic_iam.analysis.scope import expand
from programmatic_iam.cli import main
from programmatic_iam.policy.catalogue import load_catalogue
from tests.support import review_plans
from tests.support.helpers import REPO
from tests.support.hostile_plans import FIELDS, INLINE, read_as_github, twin_of, values_with, write_plans

SEED = json.loads((REPO / "tests" / "fixtures" / "seed-console-policy.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("value", "where", "markdown"),
    [
        ("production-streammanager", "text", "`production-streammanager`"),
        ("a`b", "text", "``a`b``"),
        ("`edge", "text", "`` `edge ``"),
        ("a``b", "text", "```a``b```"),
        ("x|y", "text", "`x|y`"),
        ("x|y", "table", "`x\\|y`"),
        ("x|y", "html", "<code>x|y</code>"),
        ("line\nbreak\ttab", "text", "`line\\nbreak\\ttab`"),
        ("null_resource\n\n<!--", "text", "`null_resource\\n\\n<!--`"),
        ("null_resource\n\n<!--", "html", "<code>null_resource\\n\\n&lt;!--</code>"),
        ("</code></summary><b>", "html", "<code>&lt;/code&gt;&lt;/summary&gt;&lt;b&gt;</code>"),
        ("<img src=x>", "text", "`<img src=x>`"),
        (" padded ", "text", "`  padded  `"),
        ("   ", "text", "`   `"),
        ("", "text", "` `"),
        ("\u202eevil\u200b\x00\U000e0001", "text", "`\\u202eevil\\u200b\\x00\\U000e0001`"),
    ],
)
def test_inline_code_keeps_values_inert(value: str, where: Where, markdown: str) -> None:
    assert inline_code(value, where) == markdown


@pytest.mark.parametrize("value", ["x|y", "a \\| b", "ends with \\", "`|`", "||"])
def test_a_pipe_is_escaped_in_a_table_cell_and_only_there(value: str) -> None:
    """GitHub shows ``\\|`` as it is outside a table, and a bare ``|`` ends a table cell."""
    in_text = read_as_github(f"- {inline_code(value)}\n")
    in_table = read_as_github(f"| a | b |\n|---|---|\n| {inline_code(value, 'table')} | b |\n")
    assert in_text.code == [value]
    assert in_table.code == [value]
    assert in_table.structure.count("<td []>") == 2


def test_visible_leaves_printable_text_alone_and_escapes_the_rest() -> None:
    assert visible("production-streammanager \u2795 é") == "production-streammanager \u2795 é"
    assert visible("a\r\nb\u2028c\x85d") == "a\\r\\nb\\u2028c\\x85d"


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        (Phrase("{}", ("null_resource{0}{",)), "[null_resource{0}{]"),
        (Phrase("{} {}", ("{x!r:>{1}}", "}{")), "[{x!r:>{1}}] [}{]"),
        (Phrase("moved from {}", ("a.b",)), "moved from [a.b]"),
        (Phrase("replaced on request (-replace)"), "replaced on request (-replace)"),
    ],
)
def test_a_phrase_never_reads_a_name_as_a_format_pattern(phrase: Phrase, expected: str) -> None:
    assert phrase.render(lambda name: f"[{name}]") == expected


def test_rejects_a_phrase_whose_slots_and_names_differ() -> None:
    with pytest.raises(ValueError, match="has 1 slots for 2 names"):
        Phrase("{}", ("a", "b")).render()


# ---------------------------------------------------------------------------------------------------------------------
# Hostile plans: every value that reaches the comment stays inside its code
# ---------------------------------------------------------------------------------------------------------------------

HOSTILE_PAYLOADS = [
    pytest.param("null_resource\n\n<!--", id="comment-opener"),
    pytest.param("`` ` |a|b| \\| trailing \\", id="backticks-pipes-backslashes"),
    pytest.param(
        "</code></summary></details><img src=x onerror=alert(1)>\n\n# heading\n| a | b |\n|---|---|\n", id="html"
    ),
    pytest.param("{0} {} {x!r:>{1}} }{ %s", id="format-patterns"),
    pytest.param(
        "\u202eevil\u2028\u2029\x00\r\t\x85 [link](https://evil.example) **b** _i_ @everyone &amp; -->", id="inline"
    ),
    pytest.param("\n```\n~~~\n    indented\n> quote\n- item\n<details>\n", id="blocks"),
    pytest.param("`", id="trailing-backtick"),
    pytest.param(" `` ", id="trailing-space"),
]


def review_comment(folder: Path, values: dict[str, str]) -> str:
    """``review`` run in this process on the two hostile (or benign) plans written into ``folder``."""
    plans = write_plans(folder, values)
    stdout, stderr = StringIO(), StringIO()
    code = main(["review", *(str(p) for p in plans)], environ={}, cwd=folder, stdout=stdout, stderr=stderr)
    assert (code, stderr.getvalue()) == (0, ""), stderr.getvalue()
    return stdout.getvalue()


@pytest.mark.parametrize("payload", HOSTILE_PAYLOADS)
def test_no_plan_value_escapes_its_code(tmp_path: Path, payload: str) -> None:
    """Each value from the plan, read back as GitHub reads the comment, is whole inside one code element,
    nowhere outside code, and the comment's headings, lists, tables, rows and details are those of a twin
    plan whose values are plain words."""
    values = values_with(payload)
    hostile = read_as_github(review_comment(tmp_path / "hostile", values))
    twin = read_as_github(review_comment(tmp_path / "twin", values_with(twin_of(payload))))
    assert hostile.structure == twin.structure
    for name in FIELDS:
        marker = re.search(r"Hx\d\dx", values[name])
        assert marker is not None
        assert not [text for text in hostile.outside if marker.group() in text], name
        if name == "user_module_address":  # not shown
            continue
        shown = visible(values[name] if name in INLINE else json.dumps(values[name], ensure_ascii=False)[1:-1])
        assert any(shown in code for code in hostile.code), (name, shown)


def test_the_twin_comment_shows_every_field(tmp_path: Path) -> None:
    """The benign twin names every field, so the hostile comparison above covers each one."""
    comment = review_comment(tmp_path, values_with(""))
    missing = [name for name in FIELDS if name != "user_module_address" and values_with("")[name] not in comment]
    assert missing == []
    for heading in ("User renamed", "Access key replaced", "Attachment removed", "Changed outside Terraform"):
        assert f"**{heading}**" in comment
    assert "moved to `Hx08x`" in comment  # the second policy's name


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    assert fenced(["a", "b"], "diff") == "```diff\na\nb\n```"
    assert fenced(['+ "```````"'], "diff") == '````````diff\n+ "```````"\n````````'


def test_length_counts_as_github_does() -> None:
    assert length("abc") == 3
    assert length("\u2795") == 1  # heavy plus: one UTF-16 unit
    assert length("\u26a0\ufe0f") == 2  # warning sign and its emoji selector
    assert length("\U0001f511") == 2  # outside the BMP: a surrogate pair


def test_the_seed_policy_has_the_user_data_escalation_and_destructive_actions() -> None:
    findings = {finding.title: finding for finding in assess([SEED])}
    escalation = findings["privilege escalation (ModifyEC2InstanceUserDataThenRestart)"]
    assert (escalation.severity, escalation.actions) == (
        "high",
        ("ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"),
    )
    assert escalation.link.startswith("https://")
    destructive = findings["destructive actions on any resource"]
    assert destructive.severity == "medium"
    assert "ec2:TerminateInstances" in destructive.actions
    assert set(findings) == {
        "privilege escalation (ModifyEC2InstanceUserDataThenRestart)",
        "destructive actions on any resource",
    }


def test_a_path_across_two_policies_is_found() -> None:
    run = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}]}
    pass_role = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}
    titles = [finding.title for finding in assess([run, pass_role])]
    assert "privilege escalation (CreateEC2WithExistingIP)" in titles
    assert "privilege escalation (CreateEC2WithExistingIP)" not in [f.title for f in assess([run])]


def test_a_condition_scopes_the_actions_it_guards() -> None:
    scoped = dict(SEED["Statement"][0], Condition={"StringEquals": {"aws:ResourceTag/app": "streammanager"}})
    assert assess([{"Version": "2012-10-17", "Statement": [scoped]}]) == ()


def test_only_new_or_grown_findings_are_new() -> None:
    before = assess([SEED])
    grown = dict(SEED["Statement"][0], Action=[*SEED["Statement"][0]["Action"], "ec2:DeleteVolume"])
    after = assess([{"Version": "2012-10-17", "Statement": [grown]}])
    assert [f.title for f in new_findings(before, after)] == ["destructive actions on any resource"]
    assert new_findings(after, before) == ()


# ---------------------------------------------------------------------------------------------------------------------
# What each kind of plan reads as (plans shaped as Terraform writes them: tests/support/review_plans.py)
# ---------------------------------------------------------------------------------------------------------------------


def reviewed(folder: Path, *plans: dict[str, Any]) -> tuple[list[StackReview], str]:
    """Each plan read from a file in ``folder`` as ``review`` reads it, its review, and the comment."""
    # A plan without a user is named by its folder: a lone one by the user's name, as its stack would be.
    names = [review_plans.USER] if len(plans) == 1 else [f"stack-{index}" for index in range(len(plans))]
    paths = [review_plans.write(folder / name, data) for name, data in zip(names, plans, strict=True)]
    stacks = [review_stack(read_plan(path, display=path.name)) for path in paths]
    return stacks, render_comment(stacks)


def stack_row(comment: str, label: str = review_plans.USER) -> list[str]:
    """The cells of a stack's row in the stacks table (label and verdict, then the numbers)."""
    (row,) = [line for line in comment.splitlines() if line.startswith(f"| `{label}` |")]
    return [cell.strip() for cell in row.strip("|").split("|")]


@pytest.mark.parametrize(("settings", "reading"), review_plans.ROTATION_READINGS.items(), ids=str)
def test_every_change_of_the_rotation_settings_reads_as_what_it_does(
    tmp_path: Path, settings: tuple[review_plans.Settings, review_plans.Settings], reading: tuple[str, str | None]
) -> None:
    (stack,), comment = reviewed(tmp_path, review_plans.rotation_plan(*settings))
    verdict, title = reading
    assert stack.verdict == verdict
    assert [warning.title for warning in stack.warnings] == ([title] if title else [])
    if title is None:
        assert "no changes" in comment


def test_step_one_names_the_old_key_and_says_it_stays_active(tmp_path: Path) -> None:
    _, comment = reviewed(tmp_path, review_plans.rotation_plan((2, "none"), (3, "active")))
    assert f"  - `{review_plans.USER}` (old key `{review_plans.KEY_IDS['access_key_2']}` stays active)" in comment
    assert "the outputs and stores hold the new key once this is applied" in comment


def test_previous_active_after_a_finished_rotation_is_not_called_step_one(tmp_path: Path) -> None:
    """``previous = "active"`` with the generation unchanged makes a key nobody receives: no rotation step."""
    _, comment = reviewed(tmp_path, review_plans.rotation_plan((2, "none"), (2, "active")))
    assert "step 1" not in comment
    assert "nothing delivers the new one" in comment
    assert "(new active key `aws_iam_access_key.access_key`)" in comment


def test_outputs_switched_back_name_both_keys(tmp_path: Path) -> None:
    _, comment = reviewed(tmp_path, review_plans.rotation_plan((2, "inactive"), (3, "none")))
    older, current = review_plans.KEY_IDS["access_key"], review_plans.KEY_IDS["access_key_2"]
    assert f"(older key `{older}` reactivated and now in the outputs and stores; key `{current}` is deleted)" in comment


@pytest.mark.parametrize(
    ("actions", "verdict", "title"),
    [(["create"], "adds a key", "Access key created"), (["delete"], "removes a key", "Access key destroyed")],
)
def test_the_first_and_the_last_key_are_plain_changes(
    tmp_path: Path, actions: list[str], verdict: str, title: str
) -> None:
    """``access_key.create`` turned on after an adoption, or off: no rotation to speak of."""
    user = {"name": review_plans.USER, "path": "/"}
    key = {"user": review_plans.USER, "status": "Active", "id": "AKIAEXAMPLEKEY000001"}
    changes = [
        review_plans.change("aws_iam_user.user", "aws_iam_user", ["no-op"], user, user),
        review_plans.change(
            "aws_iam_access_key.access_key",
            "aws_iam_access_key",
            actions,
            key if actions == ["delete"] else None,
            key if actions == ["create"] else None,
        ),
    ]
    (stack,), _ = reviewed(tmp_path, review_plans.plan(changes))
    assert (stack.verdict, [w.title for w in stack.warnings]) == (verdict, [title])


def test_an_adoption_says_what_is_imported_and_that_nothing_is_created(tmp_path: Path) -> None:
    user = {"name": "legacy-streammanager", "path": "/"}
    arn = f"arn:aws:iam::{review_plans.ACCOUNT}:policy/stream-manager-ec2"
    policy = {"name": "stream-manager-ec2", "path": "/", "policy": review_plans.policy_document(), "arn": arn}
    attachment = {"user": "legacy-streammanager", "policy_arn": arn}
    imports = [
        ("aws_iam_user.user", "aws_iam_user", user, "legacy-streammanager"),
        ("aws_iam_policy.policy", "aws_iam_policy", policy, arn),
        (
            "aws_iam_user_policy_attachment.policy_attachment",
            "aws_iam_user_policy_attachment",
            attachment,
            f"legacy-streammanager/{arn}",
        ),
    ]
    changes = [
        review_plans.change(address, kind, ["no-op"], values, values, change={"importing": {"id": id_}})
        for address, kind, values, id_ in imports
    ]
    _, comment = reviewed(tmp_path, review_plans.plan(changes))
    assert "no changes" not in comment
    assert comment.startswith(f"{MARKER}\n### Identity review: 1 stack: 1 imports existing resources\n")
    assert "Plan: 3 to import, 0 to add, 0 to change, 0 to destroy.\n" in comment
    assert stack_row(comment, "legacy-streammanager")[2:7] == ["3", "0", "0", "0", "0"]
    assert (
        f"- **import** policy `stream-manager-ec2`: imported by id `{arn}` <sub>`aws_iam_policy.policy`</sub>"
        in comment
    )
    assert "**Existing resources imported** (medium)" in comment
    assert f"`legacy-streammanager`, `{arn}`, `legacy-streammanager/{arn}` (3 imported, nothing created)" in comment


@pytest.mark.parametrize(
    ("gone", "come", "stores", "why"),
    [
        (
            "secret_access_key",
            "secret_arn",
            [("aws_secretsmanager_secret.secret", "aws_secretsmanager_secret", "Secrets Manager secret")],
            "the state keeps the secret in plaintext",
        ),
        (
            "secret_access_key",
            "parameter_names",
            [("aws_ssm_parameter.secret_access_key_parameter", "aws_ssm_parameter", "SSM parameter")],
            "the state keeps the secret in plaintext",
        ),
        ("secret_access_key", "encrypted_secret_access_key", [], "from now on no plaintext secret enters the state"),
        ("secret_arn", "secret_access_key", [], "the state keeps the secret in plaintext"),
    ],
)
def test_a_change_of_delivery_names_the_outputs_that_go_the_store_that_comes_and_the_old_state_versions(
    tmp_path: Path, gone: str, come: str, stores: list[tuple[str, str, str]], why: str
) -> None:
    user = {"name": review_plans.USER, "path": "/"}
    changes = [review_plans.change("aws_iam_user.user", "aws_iam_user", ["no-op"], user, user)]
    changes += [
        review_plans.change(address, kind, ["create"], None, {"name": "store-name"}) for address, kind, _ in stores
    ]
    outputs = {gone: review_plans.output("old", None), come: review_plans.output(None, None, unknown=True)}
    (stack,), comment = reviewed(tmp_path, review_plans.plan(changes, outputs=outputs))
    assert stack.verdict == "changes the key's delivery"
    (warning,) = [warning for warning in stack.warnings if warning.title == "Access key delivery changed"]
    assert why in warning.why
    assert "the earlier versions of the state object keep" in warning.why
    created = "".join(f"; {readable} `store-name` created" for _, _, readable in stores)
    assert f"(output `{gone}` removed; output `{come}` added{created})" in comment


# ---------------------------------------------------------------------------------------------------------------------
# Permissions: actions counted as actions, each with what it is granted on
# ---------------------------------------------------------------------------------------------------------------------

ADDED, REMOVED = "\u2795", "\u2796"  # the signs the comment puts before an action
EVERYWHERE: dict[str, Any] = {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}


def permissions_plan(before: list[dict[str, Any]], after: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    document_before, document_after = review_plans.policy_document(*before), review_plans.policy_document(*after)
    actions = ["update"] if document_before != document_after else ["no-op"]
    return review_plans.plan([review_plans.policy_change(actions, document_before, document_after, **more)])


def test_an_action_on_every_resource_and_one_on_a_users_prefix_do_not_look_alike(tmp_path: Path) -> None:
    scoped = "arn:aws:s3:::bucket/${aws:username}/*"
    after: list[dict[str, Any]] = [
        EVERYWHERE,
        {"Effect": "Allow", "Action": "ec2:RebootInstances", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObjectVersion", "Resource": scoped},
    ]
    _, comment = reviewed(tmp_path, permissions_plan([EVERYWHERE], after))
    assert "| Change | Action | Access level | Granted on |\n" in comment
    assert f"| {ADDED} | `ec2:RebootInstances` | Write | `*` |\n" in comment
    assert f"| {ADDED} | `s3:GetObjectVersion` | Read | `{scoped}` |\n" in comment


def test_an_action_whose_resource_or_condition_changes_is_rescoped_not_gained(tmp_path: Path) -> None:
    condition = {"StringEquals": {"aws:ResourceTag/app": "streammanager"}}
    reboot = {"Effect": "Allow", "Action": "ec2:RebootInstances", "Resource": "*"}
    before: list[dict[str, Any]] = [EVERYWHERE, reboot]
    after: list[dict[str, Any]] = [EVERYWHERE, dict(reboot, Condition=condition)]
    _, comment = reviewed(tmp_path, permissions_plan(before, after))
    assert stack_row(comment)[7:] == ["0", "0", "1"]
    assert f"| {REMOVED} | `ec2:RebootInstances` | Write | `*` | resource or condition changed |" in comment
    compact = '{"StringEquals":{"aws:ResourceTag/app":"streammanager"}}'
    assert (
        f"| {ADDED} | `ec2:RebootInstances` | Write | `*` if `{compact}` | resource or condition changed |" in comment
    )


def test_actions_gained_counts_every_action_a_wildcard_matches(tmp_path: Path) -> None:
    matched = expand("s3:List*", load_catalogue())
    assert len(matched) > 10
    after = [EVERYWHERE, {"Effect": "Allow", "Action": ["s3:List*", "s3:ListBucket"], "Resource": "*"}]
    (stack,), comment = reviewed(tmp_path, permissions_plan([EVERYWHERE], after))
    assert stack.permissions.gained == matched
    assert stack_row(comment)[7:] == [str(len(matched)), "0", "0"]
    assert "Every action below is granted on `*`.\n\n| Change | Action | Access level | Notes |\n" in comment
    assert f"| {ADDED} | `s3:List*` | {len(matched)} actions: List | wildcard |" in comment


@pytest.mark.parametrize(
    ("deny", "lost"),
    [
        ({"Effect": "Deny", "Action": "ec2:DescribeInstances", "Resource": "*"}, "1"),
        ({"Effect": "Deny", "Action": "ec2:DescribeInstances", "Resource": "arn:aws:ec2:*:*:instance/i-1"}, "0"),
    ],
)
def test_an_action_denied_everywhere_is_lost_and_one_denied_somewhere_is_not(
    tmp_path: Path, deny: dict[str, Any], lost: str
) -> None:
    _, comment = reviewed(tmp_path, permissions_plan([EVERYWHERE], [EVERYWHERE, deny]))
    assert stack_row(comment)[7:] == ["0", lost, "0"]
    assert f"| {ADDED} | `ec2:DescribeInstances` (Deny) |" in comment


@pytest.mark.parametrize(
    ("actions", "document_after", "gained"),
    [
        (["no-op"], [EVERYWHERE], "0"),
        (["update"], [dict(EVERYWHERE, Action=["ec2:DescribeInstances", "ec2:DescribeImages"])], "1"),
    ],
)
def test_a_policy_moved_by_a_moved_block_gains_nothing_by_moving(
    tmp_path: Path, actions: list[str], document_after: list[dict[str, Any]], gained: str
) -> None:
    """The stack row counts what the identity gains, not what a moved block renames."""
    before, after = review_plans.policy_document(EVERYWHERE), review_plans.policy_document(*document_after)
    moved = review_plans.policy_change(
        actions, before, after, previous_address="aws_iam_policy.identity_policy_1A2B3C4D"
    )
    _, comment = reviewed(tmp_path, review_plans.plan([moved]))
    row = stack_row(comment)
    assert row[1] == ("only moves addresses" if gained == "0" else "changes permissions")
    assert row[2:] == ["0", "0", "1" if gained == "1" else "0", "0", "0", gained, "0", "0"]
    assert "moved from `aws_iam_policy.identity_policy_1A2B3C4D`" in comment


# ---------------------------------------------------------------------------------------------------------------------
# Readable names, column headers
# ---------------------------------------------------------------------------------------------------------------------

SNAPSHOT_RESOURCES = sorted(
    {
        (kind, json.dumps(config, sort_keys=True))
        for path in (REPO / "tests" / "snapshots" / "identity").glob("*/*.json")
        for kind, resources in json.loads(path.read_text(encoding="utf-8")).get("resource", {}).items()
        for config in resources.values()
    }
)


@pytest.mark.parametrize("kind", sorted({kind for kind, _ in SNAPSHOT_RESOURCES}))
def test_every_resource_type_the_stacks_make_has_a_readable_name(tmp_path: Path, kind: str) -> None:
    """A reviewer reads "version of Secrets Manager secret `...`", never the Terraform type."""
    configs = [json.loads(config) for k, config in SNAPSHOT_RESOURCES if k == kind]
    changes = [
        review_plans.change(f"{kind}.r{index}", kind, ["create"], None, config) for index, config in enumerate(configs)
    ]
    (stack,), comment = reviewed(tmp_path, review_plans.plan(changes))
    assert len(stack.changes) == len(configs)
    for change in stack.changes:
        assert kind not in change.description.names
        assert change.description.words.strip("{} ")
    assert f"**create** `{kind}`" not in comment


def table_headers(comment: str) -> list[list[str]]:
    """The header cells of each table in the comment (the row above a ``|---|`` line)."""
    lines = comment.splitlines()
    return [
        [cell.strip() for cell in lines[index - 1].strip("|").split("|")]
        for index, line in enumerate(lines)
        if index and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line)
    ]


def test_every_table_column_has_a_header(tmp_path: Path) -> None:
    plans = [
        permissions_plan([EVERYWHERE], [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]),
        review_plans.rotation_plan((2, "none"), (3, "active")),
    ]
    _, comment = reviewed(tmp_path, *plans)
    headers = table_headers(comment)
    assert len(headers) == 2
    assert [cell for header in headers for cell in header if not cell] == []


# ---------------------------------------------------------------------------------------------------------------------
# GitHub's limit: cut to the character
# ---------------------------------------------------------------------------------------------------------------------


NO_PERMISSIONS = PermissionChange((), frozenset(), frozenset(), frozenset(), (), ())


@pytest.mark.parametrize("limit", [2_000, 2_001, 2_999])
@pytest.mark.parametrize("early", ["", "\U0001f511"], ids=["ascii", "astral-early"])
def test_a_comment_cut_at_the_limit_is_as_long_as_the_limit(limit: int, early: str) -> None:
    warnings = tuple(
        Warning(f"{early}Warning number {index:03d}", "why " * 20, "stack", severity="medium") for index in range(60)
    )
    stacks = [StackReview("stack", "changes other settings", dict.fromkeys(COUNTED, 0), (), NO_PERMISSIONS, warnings)]
    assert length(render_comment(stacks, limit=10**7)) > limit
    comment = render_comment(stacks, limit=limit)
    assert comment.endswith(f"_Cut here to stay within {limit:,} characters._\n")
    # Exactly the limit, unless the cut fell on a character of two UTF-16 units, which is never split.
    assert length(comment) in ((limit, limit - 1) if early else (limit,))


def test_the_comment_is_cut_when_one_more_character_would_not_fit_and_not_before(tmp_path: Path) -> None:
    actions = sorted(load_catalogue().matching("ec2:Describe*"))
    after = [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    plans = [
        review_plans.plan([review_plans.policy_change(["create"], None, review_plans.policy_document(*after))])
        for _ in range(2)
    ]
    paths = [review_plans.write(tmp_path / f"env{index}", data) for index, data in enumerate(plans)]
    stacks = [review_stack(read_plan(path, display=str(path))) for path in paths]
    whole = render_comment(stacks, limit=10**7)
    assert render_comment(stacks, limit=length(whole)) == whole
    cut = render_comment(stacks, limit=length(whole) - 1)
    assert length(cut) <= length(whole) - 1
    assert "_To stay within" in cut and "the per-action tables of 1 stack" in cut

    # What fits exactly is kept whole: a limit of that very length leaves out no more (the note names the limit).
    def without_limit(comment: str) -> str:
        return re.sub(r"within [0-9,]+ characters", "within N characters", comment)

    assert without_limit(render_comment(stacks, limit=length(cut))) == without_limit(cut)
