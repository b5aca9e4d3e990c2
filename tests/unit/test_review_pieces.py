"""The review's pure pieces: Markdown that nothing can break out of, GitHub's count, the risk engine."""

from __future__ import annotations

from io import StringIO
import json
from pathlib import Path
import re

import pytest

from programmatic_iam.analysis.comment import Where, fenced, inline_code, length, visible
from programmatic_iam.analysis.review import Phrase
from programmatic_iam.analysis.risk import assess, new_findings
from programmatic_iam.cli import main
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
