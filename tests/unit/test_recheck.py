"""The re-check's pieces: which entries of ``policy.remove_actions`` a plan acts on, why the apply refuses, the JSON it
hands to ``review --evidence`` read back strictly, and the review's rows and warnings from it, hostile text kept in
its code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
import json
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.recheck import read_recheck, recheck_json, recheck_refusal, removals_in_plan
from programmatic_iam.analysis.scope import expand
from programmatic_iam.analysis.usage import ActionUse, Evidence, StackUsage
from programmatic_iam.cli import main
from programmatic_iam.policy.catalogue import load_catalogue
from tests.support.hostile_plans import read_as_github
from tests.support.review_plans import USER, change, plan, policy_change, policy_document, write

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def covered(entry: str) -> frozenset[str]:
    return expand(entry, load_catalogue())


def test_the_entries_a_plan_acts_on_are_those_covering_an_action_it_takes_away() -> None:
    lost = {"ec2:DescribeRegions", "ec2:RunInstances"}
    entries = ["EC2:runinstances", "ec2:Describe*", "ec2:TerminateInstances", "ec2:Describe*"]
    # case ignored as IAM ignores it; a wildcard once; an entry whose actions the plan keeps (or took away
    # before) left out
    assert removals_in_plan(entries, lost, covered) == ["EC2:runinstances", "ec2:Describe*"]
    assert removals_in_plan(entries, set(), covered) == []


def usage(actions: list[ActionUse], *, created: datetime = NOW - timedelta(days=400)) -> StackUsage:
    return StackUsage(USER, "streammanager", "production", 90, Evidence("arn", created, NOW, ()), tuple(actions))


def test_the_apply_is_refused_for_a_use_in_the_window_or_a_young_user_and_nothing_else() -> None:
    never = ActionUse("ec2:RunInstances", "never-used")
    before = ActionUse("ec2:DescribeRegions", "used-before-window", NOW - timedelta(days=100))
    unjudged = ActionUse("iam:PassRole", "not-judged", why="an authorization check")
    assert recheck_refusal(usage([never, before, unjudged])) == ""
    used = ActionUse("ec2:TerminateInstances", "used", NOW - timedelta(days=1), "eu-west-1")
    assert recheck_refusal(usage([never, used])) == (
        "used in the 90 days before IAM's evidence of 2026-12-07: ec2:TerminateInstances (used 2026-12-06)"
    )
    assert recheck_refusal(usage([never], created=NOW - timedelta(days=10))).startswith(
        "the user was created on 2026-11-27, less than 90 days before IAM's evidence"
    )


def test_what_the_recheck_prints_is_what_the_review_reads(tmp_path: Path) -> None:
    used = ActionUse("ec2:TerminateInstances", "used", NOW - timedelta(days=1), "eu-west-1")
    printed = recheck_json([usage([used])], {USER: "used...", "staging-streammanager": "no evidence: IAM refused"})
    (tmp_path / "recheck.json").write_text(json.dumps(printed))
    found, problems = read_recheck(tmp_path / "recheck.json", "recheck.json")
    assert problems == []
    assert found[USER].taken == "2026-12-07" and found[USER].window_days == 90 and found[USER].refused == "used..."
    assert found[USER].of("EC2:TERMINATEINSTANCES") == found[USER].removals[0]
    assert found["staging-streammanager"].removals == () and found["staging-streammanager"].taken == ""


GOOD_STACK: dict[str, Any] = {
    "stack": USER,
    "evidence_taken": "2026-12-07",
    "user_created": "2025-01-01",
    "window_days": 90,
    "refused": None,
    "removals": [{"action": "ec2:RunInstances", "class": "never-used", "last_used": None, "region": None, "why": None}],
}


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param("{", "recheck.json: ", id="not-json"),
        pytest.param("[]", 'recheck.json: is not an object of exactly "stacks", a list', id="not-an-object"),
        pytest.param({"stacks": [{**GOOD_STACK, "extra": 1}]}, "stacks[0]: is not an object of exactly", id="key"),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "evidence_taken": "2026-13-01"}]},
            "stacks[0].evidence_taken: '2026-13-01' is not a day (YYYY-MM-DD)",
            id="day",
        ),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "window_days": True}]},
            "stacks[0].window_days: True is not a number of days (1 to 3650)",
            id="window",
        ),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "removals": [{**GOOD_STACK["removals"][0], "class": "unused"}]}]},
            "stacks[0].removals[0].class: 'unused' is not one of used, used-before-window",
            id="class",
        ),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "removals": [{**GOOD_STACK["removals"][0], "last_used": "yesterday"}]}]},
            "stacks[0].removals[0].last_used: 'yesterday' is not a day",
            id="last-used",
        ),
        pytest.param({"stacks": [GOOD_STACK, GOOD_STACK]}, f"stacks[1].stack: '{USER}' is listed twice", id="twice"),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "removals": [{**GOOD_STACK["removals"][0], "class": "used"}]}]},
            "stacks[0].removals[0].last_used: null is missing for an action used",
            id="use-without-day",
        ),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "evidence_taken": None}]},
            "stacks[0]: has removals but no evidence_taken, user_created or window_days",
            id="removals-without-evidence",
        ),
        pytest.param(
            {"stacks": [{**GOOD_STACK, "user_created": "2025-02-30"}]},
            "stacks[0].user_created: '2025-02-30' is not a day (YYYY-MM-DD)",
            id="created",
        ),
    ],
)
def test_a_bad_evidence_file_is_refused_naming_the_key_value_and_fix(tmp_path: Path, content: Any, said: str) -> None:
    removing = write(tmp_path, removal_plan(["ec2:RunInstances"]))
    (tmp_path / "recheck.json").write_text(content if isinstance(content, str) else json.dumps(content))
    code, out, err = review(tmp_path, removing.name, "--evidence", "recheck.json")
    assert code == 2 and out == "" and said in err, err
    assert "usage recheck --format json" in err  # the fix


def removal_plan(removed: list[str]) -> dict[str, Any]:
    kept = ["ec2:DescribeInstances"]
    statement = {"Effect": "Allow", "Resource": "*"}
    user = {"name": USER, "path": "/", "force_destroy": False, "permissions_boundary": None, "tags": None}
    return plan(
        [
            change("aws_iam_user.user", "aws_iam_user", ["no-op"], user, user),
            policy_change(
                ["update"],
                policy_document({**statement, "Action": [*kept, *removed]}),
                policy_document({**statement, "Action": kept}),
            ),
        ]
    )


def review(folder: Path, *args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = main(["review", *args], environ={}, cwd=folder, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_evidence_of_a_stack_no_plan_is_of_is_refused(tmp_path: Path) -> None:
    removing = write(tmp_path, removal_plan(["ec2:RunInstances"]))
    (tmp_path / "recheck.json").write_text(json.dumps({"stacks": [{**GOOD_STACK, "stack": "staging-streammanager"}]}))
    code, _, err = review(tmp_path, removing.name, "--evidence", "recheck.json")
    assert code == 2 and "recheck.json: 'staging-streammanager' is a stack no plan given is of" in err


HOSTILE = "a | b\n\n<!-- `x` </code></details> [l](https://evil.example) \u202e"


def test_each_removal_shows_its_evidence_and_hostile_text_stays_in_its_code(tmp_path: Path) -> None:
    actions = ["ec2:RunInstances", "ec2:DescribeRegions", "ec2:TerminateInstances", "ec2:InjectApiError"]
    removing = write(tmp_path, removal_plan(actions))
    rows = [
        {"action": "ec2:RunInstances", "class": "never-used", "last_used": None, "region": None, "why": None},
        {
            "action": "ec2:describeregions",
            "class": "used-before-window",
            "last_used": "2026-08-01",
            "region": HOSTILE,
            "why": None,
        },
        {
            "action": "ec2:TerminateInstances",
            "class": "used",
            "last_used": "2026-12-06",
            "region": HOSTILE,
            "why": None,
        },
        {"action": "ec2:InjectApiError", "class": "not-judged", "last_used": None, "region": None, "why": HOSTILE},
    ]
    stack = {**GOOD_STACK, "refused": HOSTILE, "removals": rows}
    (tmp_path / "recheck.json").write_text(json.dumps({"stacks": [stack]}))
    code, comment, err = review(tmp_path, removing.name, "--evidence", "recheck.json")
    assert code == 0, err
    lines = comment.splitlines()
    row = {action: next(line for line in lines if f"| `{action}` |" in line) for action in actions}
    assert row["ec2:RunInstances"].endswith("| never used in the 400 days IAM's record covers |")
    assert row["ec2:DescribeRegions"].endswith("| last used `2026-08-01`, 128 days before |")
    assert "| \u26d4 used `2026-12-06` in ``a \\| b\\n\\n<!-- `x` " in row["ec2:TerminateInstances"]
    assert row["ec2:TerminateInstances"].endswith(": the apply refuses |")
    assert "| not judged by use: ``a \\| b\\n\\n<!-- `x` " in row["ec2:InjectApiError"]
    assert "A removal on IAM's evidence is in use" in comment
    assert "evidence of `2026-12-07`, a window of 90 days" in comment
    # Read as GitHub reads it: the hostile text never outside code, and the table's rows whole.
    read = read_as_github(comment)
    assert not [text for text in read.outside if "evil.example" in text or "\u202e" in text]
    assert [line.replace("\\|", "").count("|") for line in row.values()] == [5] * 4  # four cells each


def test_a_removal_never_used_is_unused_for_the_users_age_up_to_the_record(tmp_path: Path) -> None:
    removing = write(tmp_path, removal_plan(["ec2:RunInstances"]))
    for created, said in [
        ("2025-01-01", "never used in the 400 days IAM's record covers"),
        ("2026-08-01", "never used since the user was created, 128 days before"),
    ]:
        (tmp_path / "recheck.json").write_text(json.dumps({"stacks": [{**GOOD_STACK, "user_created": created}]}))
        code, comment, err = review(tmp_path, removing.name, "--evidence", "recheck.json")
        assert code == 0, err
        assert f"| `ec2:RunInstances` | Write | {said} |" in comment
