"""Which stacks the pull-request workflow plans, its shards, and the review's section on the stacks not planned."""

from __future__ import annotations

from io import StringIO
import json
import os
from pathlib import Path
from typing import Any

import pytest

from programmatic_iam.analysis.comment import MARKER, length
from programmatic_iam.plan_matrix import (
    MAX_NOT_PLANNED_BYTES,
    MAX_SHARDS,
    REMOVED,
    UNCHANGED,
    NotPlanned,
    main,
    matrix_document,
    plan_decision,
    read_not_planned,
    render_not_planned,
    same_terraform,
    shard_of,
    split,
    stack_name_problem,
)
from tests.support import review_plans
from tests.support.helpers import run_cli
from tests.support.hostile_plans import read_as_github

HOSTILE_ACCEPTED = ["a b", "$(touch pwned)", "`id`", "it's", "a;b&c", "%0A%25x", "ünïcødé", "-rf", "x" * 255]


def stack(user: str = "staging-app", *, version: str = "0.21.0", tags: dict[str, str] | None = None) -> dict[str, Any]:
    """A stack's ``cdk.tf.json`` as cdktf writes it, ``//`` metadata included."""
    return {
        "//": {"metadata": {"backend": "s3", "stackName": user, "version": version}},
        "provider": {"aws": [{"region": "eu-west-1"}]},
        "resource": {
            "aws_iam_user": {
                "user": {
                    "//": {"metadata": {"path": f"{user}/identity/user", "uniqueId": "user"}},
                    "name": user,
                    "force_destroy": False,
                    "tags": tags or {"programmatic-iam:identity": "app"},
                }
            }
        },
        "data": {"aws_caller_identity": {"current": {"//": {"metadata": {"path": f"{user}/identity/current"}}}}},
    }


def text(document: Any) -> str:
    return json.dumps(document, indent=2)


def with_(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``document`` with the value at ``path`` (its keys, outermost first) set."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    *parents, last = path
    target = copy
    for key in parents:
        target = target[key]
    target[last] = value
    return copy


USER = ("resource", "aws_iam_user", "user")


# ---------------------------------------------------------------------------------------------------------------------
# What counts as a change
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "base"),
    [
        pytest.param(text(stack()), text(stack()), id="byte-identical"),
        pytest.param(json.dumps(stack(), sort_keys=True), text(stack()), id="other-key-order-and-spacing"),
        pytest.param(text(stack(version="0.22.0")), text(stack()), id="cdktf-version-in-top-metadata"),
        pytest.param(text(with_(stack(), (*USER, "//"), {"x": 1})), text(stack()), id="resource-metadata"),
        pytest.param(
            text(with_(stack(), ("data", "aws_caller_identity", "current", "//"), {})),
            text(stack()),
            id="data-source-metadata",
        ),
        pytest.param("not json {", "not json {", id="identical-bytes-even-unreadable"),
    ],
)
def test_the_same_terraform_is_unchanged(head: str, base: str) -> None:
    assert same_terraform(head, base)


@pytest.mark.parametrize(
    ("head", "base"),
    [
        pytest.param(text(stack("prod-app")), text(stack()), id="a-name"),
        pytest.param(text(with_(stack(), (*USER, "force_destroy"), 1)), text(stack()), id="false-is-not-0"),
        pytest.param(
            text(with_(stack(), (*USER, "force_destroy"), True)),
            text(with_(stack(), (*USER, "force_destroy"), 1)),
            id="true-is-not-1",
        ),
        pytest.param(
            text(stack(tags={"//": "a"})), text(stack(tags={"//": "b"})), id="a-tag-named-//-is-data-not-a-comment"
        ),
        pytest.param(
            text(with_(stack(), ("provider", "aws"), [{"region": "eu-west-1", "//": "x"}])),
            text(stack()),
            id="//-where-cdktf-writes-none-counts",
        ),
        pytest.param(text(stack()) + "x", text(stack()), id="head-unreadable"),
        pytest.param(text(stack()), '{"a": 1, "a": 2}', id="base-with-a-duplicate-key"),
        pytest.param("not json {", "not json either", id="two-unreadable-texts"),
    ],
)
def test_rejects_as_unchanged_what_terraform_would_read_differently(head: str, base: str) -> None:
    assert not same_terraform(head, base)


@pytest.mark.parametrize(
    ("head", "base", "planned", "not_planned"),
    [
        pytest.param({"a": "1", "b": "2"}, None, ["a", "b"], [], id="no-base-plans-every-stack"),
        pytest.param({"a": "1"}, {"a": "1"}, [], [NotPlanned("a", UNCHANGED)], id="unchanged"),
        pytest.param({"a": "1"}, {"a": "2"}, ["a"], [], id="changed"),
        pytest.param({"a": "1", "new": "1"}, {"a": "1"}, ["new"], [NotPlanned("a", UNCHANGED)], id="new"),
        pytest.param(
            {"a": "1"},
            {"a": "1", "gone": "1"},
            [],
            [NotPlanned("a", UNCHANGED), NotPlanned("gone", REMOVED)],
            id="removed",
        ),
        pytest.param({"a": "1"}, {"a": None}, ["a"], [], id="unreadable-in-the-base-is-planned"),
        pytest.param({}, {}, [], [], id="nothing"),
    ],
)
def test_plans_the_new_and_changed_stacks(
    head: dict[str, str], base: dict[str, str | None] | None, planned: list[str], not_planned: list[NotPlanned]
) -> None:
    assert plan_decision(head, base) == (planned, not_planned)


# ---------------------------------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------------------------------

FLEET = [f"identity{number:03}-{environment}" for number in range(200) for environment in ("dev", "staging", "prod")]


@pytest.mark.parametrize("shards", [1, 2, 20, 255, MAX_SHARDS])
def test_600_stacks_fit_in_at_most_the_given_shards_each_stack_once(shards: int) -> None:
    split_up = split(FLEET, shards)
    assert len(split_up) <= shards <= 256
    assert [index for index, _ in split_up] == sorted({index for index, _ in split_up})
    assert all(0 <= index < shards and members == sorted(members) and members for index, members in split_up)
    assert sorted(name for _, members in split_up for name in members) == sorted(FLEET)


def test_20_shards_of_600_stacks_are_balanced_enough() -> None:
    sizes = [len(members) for _, members in split(FLEET, 20)]
    assert len(sizes) == 20
    assert max(sizes) <= 45  # 30 on average: no job plans half again as many


@pytest.mark.parametrize(("stack", "shards", "shard"), [("production-streammanager", 20, 18), ("a b", 256, 210)])
def test_a_stacks_shard_is_fixed_by_its_name(stack: str, shards: int, shard: int) -> None:
    """A digest, not Python's ``hash()``, which changes from one process to the next."""
    assert shard_of(stack, shards) == shard


@pytest.mark.parametrize("change", ["add", "remove"])
def test_adding_or_removing_a_stack_moves_no_other(change: str) -> None:
    before = dict(split(FLEET, 20))
    changed = [*FLEET, "identity999-prod"] if change == "add" else FLEET[1:]
    after = dict(split(changed, 20))
    moved = {index for index in before.keys() | after.keys() if before.get(index) != after.get(index)}
    assert len(moved) == 1


@pytest.mark.parametrize("shards", [0, -1, MAX_SHARDS + 1])
def test_rejects_a_shard_count_github_cannot_run(shards: int) -> None:
    with pytest.raises(ValueError, match="from 1 to 256"):
        split(["a"], shards)


def test_the_document_the_workflow_reads() -> None:
    document = matrix_document(["b", "a"], [NotPlanned("c", UNCHANGED)], 1)
    assert document == {
        "shard_count": 1,
        "shards": [{"shard": 0, "stacks": ["a", "b"]}],
        "not_planned": [{"stack": "c", "reason": UNCHANGED}],
    }
    assert matrix_document([], [], 20)["shards"] == []


# ---------------------------------------------------------------------------------------------------------------------
# Hostile stack names
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["production-streammanager", *HOSTILE_ACCEPTED])
def test_accepts_a_name_that_travels_safely_as_data(name: str) -> None:
    assert stack_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a\nb", "not printable"),
        ("a\rb", "not printable"),
        ("\u202eevil", "not printable"),
        ("zero\u200bwidth", "not printable"),
        ("a\x1b[31m", "not printable"),
        ('a"b', "artifact path"),
        ("a:b", "artifact path"),
        ("a<b>", "artifact path"),
        ("a|b", "artifact path"),
        ("*", "artifact path"),
        ("a?", "artifact path"),
        ("a\\b", "artifact path"),
        ("a/b", "artifact path"),
        ("", "empty"),
        ("..", "only dots"),
        ("  ", "blank"),
    ],
)
def test_rejects_a_stack_name_the_workflow_cannot_carry(name: str, why: str) -> None:
    assert why in (stack_name_problem(name) or "")


def synthesized(folder: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    for name, document in stacks.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "cdk.tf.json").write_text(text(document), encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run(cwd: Path, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    code = main(list(argv), cwd, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_the_command_prints_the_matrix_of_the_changed_stacks(tmp_path: Path) -> None:
    names = ["same", "changed", *HOSTILE_ACCEPTED]
    synthesized(tmp_path / "head", {name: stack(name) for name in names})
    synthesized(tmp_path / "base", {"same": stack("same"), "changed": stack("other"), "gone": stack("gone")})
    code, out, err = run(tmp_path, "head", "--base", "base", "--shards", "3")
    assert code == 0, err
    document = json.loads(out)
    planned = sorted(name for shard in document["shards"] for name in shard["stacks"])
    assert planned == sorted(["changed", *HOSTILE_ACCEPTED])
    assert document["not_planned"] == [{"stack": "same", "reason": UNCHANGED}, {"stack": "gone", "reason": REMOVED}]
    assert document["shard_count"] == 3 and len(document["shards"]) <= 3
    assert f"planning {len(planned)} of {len(names)} stacks" in err


def test_without_a_base_the_command_plans_every_stack(tmp_path: Path) -> None:
    synthesized(tmp_path / "head", {name: stack(name) for name in FLEET})
    code, out, err = run(tmp_path, "head")
    assert code == 0, err
    document = json.loads(out)
    assert len(document["shards"]) == document["shard_count"] == 20
    assert sum(len(shard["stacks"]) for shard in document["shards"]) == 600
    assert document["not_planned"] == []


def test_a_base_that_did_not_synthesize_plans_every_stack(tmp_path: Path) -> None:
    synthesized(tmp_path / "head", {"a": stack("a")})
    code, out, _ = run(tmp_path, "head", "--base", "missing")
    assert code == 0
    assert json.loads(out)["shards"] == [{"shard": shard_of("a", 20), "stacks": ["a"]}]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["head", "--shards", "0"], "'0' is not a whole number from 1 to 256"),
        (["head", "--shards", "257"], "'257' is not a whole number"),
        (["head", "--shards", "twenty"], "'twenty' is not a whole number"),
        (["head", "--shards", "²"], "is not a whole number"),
        (["head", "--shards", ""], "'' is not a whole number"),
        (["head", "--shards"], "--shards: needs a value"),
        (["head", "--base"], "--base: needs a value"),
        (["head", "--planned"], "'--planned' is not expected"),
        (["head", "other"], "'other' is not expected"),
        ([], "name no stacks folder"),
        (["absent"], "absent: is not a folder of synthesized stacks"),
        (["empty"], "empty: holds no stack"),
        (["head-without-file"], "does not exist"),
    ],
)
def test_rejects_a_bad_command_line_or_stacks_folder(tmp_path: Path, argv: list[str], said: str) -> None:
    synthesized(tmp_path / "head", {"a": stack("a")})
    (tmp_path / "empty").mkdir()
    (tmp_path / "head-without-file" / "a").mkdir(parents=True)
    code, out, err = run(tmp_path, *argv)
    assert (code, out) == (2, "")
    assert said in err
    assert "nothing was printed" in err


@pytest.mark.parametrize("name", ["a\nb", "\u202eevil", "a:b", 'a"b', "a\\b", "a|b", "*"])
def test_rejects_a_hostile_stack_folder_naming_it_escaped(tmp_path: Path, name: str) -> None:
    synthesized(tmp_path / "head", {"fine": stack("fine"), name: stack("x")})
    code, out, err = run(tmp_path, "head")
    assert (code, out) == (2, "")
    assert repr(name) in err
    assert "\n" not in repr(name) and "\u202e" not in err and "change the naming template" in err


def test_rejects_a_stack_file_that_leads_out_of_the_folder(tmp_path: Path) -> None:
    synthesized(tmp_path / "head", {"a": stack("a")})
    (tmp_path / "secret").write_text("{}", encoding="utf-8")
    (tmp_path / "head" / "b").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "head" / "b" / "cdk.tf.json")
    code, _, err = run(tmp_path, "head")
    assert code == 2
    assert "head/b/cdk.tf.json: leads outside" in err


# ---------------------------------------------------------------------------------------------------------------------
# The review's section
# ---------------------------------------------------------------------------------------------------------------------


def test_the_section_lists_removed_stacks_first_with_every_name_inert() -> None:
    names = ["fine", "a`b", "<!--", "x|y", "line\nbreak", "\u202eevil", "**bold**", "[l](http://x)"]
    entries = [NotPlanned(name, UNCHANGED) for name in names] + [NotPlanned("gone", REMOVED)]
    section = render_not_planned(entries)
    lines = section.strip().splitlines()
    assert lines[0] == "#### Not planned"
    assert lines[2].startswith(f"- {REMOVED[0].upper()}{REMOVED[1:]} (1 stack): `gone`")
    assert lines[3].startswith(f"- {UNCHANGED[0].upper()}{UNCHANGED[1:]} ({len(names)} stacks): ")
    rendered = read_as_github(section)
    shown = [code.replace("\\n", "\n").replace("\\u202e", "\u202e") for code in rendered.code]
    assert sorted(shown) == sorted([*names, "gone"])
    tags = [part for part in rendered.structure if part.startswith("<") and not part.startswith(("<code", "</code"))]
    assert tags == ["<h4 []>", "</h4>", "<ul []>", "<li []>", "</li>", "<li []>", "</li>", "</ul>"]


@pytest.mark.parametrize("budget", [4_000, 200, 19, 18, 0])
def test_the_section_counts_the_names_beyond_its_budget(budget: int) -> None:
    section = render_not_planned([NotPlanned(name, UNCHANGED) for name in FLEET], budget)
    shown = section.count("`") // 2
    assert section.endswith(f", and {600 - shown} more.\n" if shown else "(600 stacks): 600 more.\n")
    costs = [len(f"`{name}`, ") for name in sorted(FLEET)]
    assert sum(costs[:shown]) <= budget < sum(costs[: shown + 1])  # as many as fit, in order


def test_there_is_no_section_when_every_stack_was_planned() -> None:
    assert render_not_planned([]) == ""


def write_list(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_reads_the_list_the_workflow_wrote(tmp_path: Path) -> None:
    entries = [{"stack": "a", "reason": UNCHANGED}, {"stack": "b", "reason": REMOVED}]
    assert read_not_planned(write_list(tmp_path / "l.json", entries), "l.json") == (
        [NotPlanned("a", UNCHANGED), NotPlanned("b", REMOVED)],
        [],
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[", "is not valid JSON"),
        ('[{"stack": "a", "stack": "b", "reason": "x"}]', "[0].stack: is a key written more than once"),
        ({"stack": "a"}, "is not a JSON list"),
        ([["a", UNCHANGED]], '[0]: is not an object of exactly "stack" and "reason"'),
        ([{"stack": "a", "reason": UNCHANGED, "more": 1}], '[0]: is not an object of exactly "stack" and "reason"'),
        ([{"stack": 1, "reason": UNCHANGED}], "[0].stack: 1 is not a stack name"),
        ([{"stack": "", "reason": UNCHANGED}], "[0].stack: '' is not a stack name"),
        ([{"stack": "a", "reason": "**bold** <b>"}], "[0].reason: '**bold** <b>' is not a reason the workflow writes"),
        (" " * (MAX_NOT_PLANNED_BYTES + 1), "over the limit of 1 MiB"),
    ],
)
def test_rejects_a_list_the_workflow_did_not_write(tmp_path: Path, content: Any, said: str) -> None:
    entries, problems = read_not_planned(write_list(tmp_path / "l.json", content), "l.json")
    assert entries == []
    assert said in "\n".join(problem.render() for problem in problems)


def test_rejects_a_list_that_is_a_named_pipe_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    _, problems = read_not_planned(tmp_path / "pipe", "pipe")
    assert "is a named pipe (FIFO), not a regular file" in problems[0].render()


# ---------------------------------------------------------------------------------------------------------------------
# review --not-planned
# ---------------------------------------------------------------------------------------------------------------------


def a_plan(folder: Path) -> Path:
    document = review_plans.policy_document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    return review_plans.write(folder, review_plans.plan([review_plans.policy_change(["create"], None, document)]))


def test_review_without_plans_says_no_stack_was_planned(tmp_path: Path) -> None:
    write_list(tmp_path / "not-planned.json", [{"stack": "a", "reason": UNCHANGED}])
    code, out, err = run_cli(tmp_path, "review", "--not-planned", "not-planned.json")
    assert code == 0, err
    assert out.startswith(f"{MARKER}\n### ✅ Identity review: no stack planned\n")
    assert out.endswith("#### Not planned\n\n- Unchanged against the base branch (1 stack): `a`.\n")


@pytest.mark.parametrize(("plans", "limit"), [(1, 2_000), (1, 65_536), (40, 2_000), (600, 65_536)])
def test_review_with_plans_and_600_unplanned_stacks_stays_within_the_limit(
    tmp_path: Path, plans: int, limit: int
) -> None:
    paths = [str(a_plan(tmp_path / "plans" / name).relative_to(tmp_path)) for name in FLEET[:plans]]
    write_list(tmp_path / "n.json", [{"stack": name * 3, "reason": UNCHANGED} for name in FLEET])
    code, out, err = run_cli(tmp_path, "review", *paths, "--not-planned", "n.json", "--max-characters", str(limit))
    assert code == 0, err
    assert length(out) <= limit
    assert out.startswith(MARKER) and "#### Not planned" in out and out.endswith(" more.\n")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "PLAN_JSON: names no plan"),
        (["--not-planned", "absent.json"], "absent.json: does not exist"),
        (["--not-planned", "bad.json"], "[0].reason: 'made up' is not a reason the workflow writes"),
    ],
)
def test_rejects_a_review_without_plans_or_with_a_bad_list(tmp_path: Path, argv: list[str], said: str) -> None:
    write_list(tmp_path / "bad.json", [{"stack": "a", "reason": "made up"}])
    code, out, err = run_cli(tmp_path, "review", *argv)
    assert (code, out) == (2, "")
    assert said in err
