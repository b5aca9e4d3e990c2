"""Which stacks the pull-request workflow plans, split into a bounded number of jobs, and the review's note on the rest.

``python -m programmatic_iam.plan_matrix STACKS [--base BASE_STACKS] [--shards K]`` prints the JSON the
workflow consumes (:func:`matrix_document`). With ``--base`` (the base branch's synthesized stacks), only the
stacks whose Terraform JSON differs are planned; without it (a scheduled or manual run, to see drift), all of
them. Stack folder names come from the users' naming templates: a name that could not travel safely through
the workflow (as an artifact path, a log line, a shell word) is refused here, before any job uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
import hashlib
import json
import os
from pathlib import Path
import re
import sys
from typing import Any, TextIO

from .analysis.comment import inline_code, length
from .errors import ConfigError, Problem, show
from .files import MAX_PLAN_BYTES, MIB, RefusedError, is_real_folder, read_text
from .strict_json import parse_json

STACK_FILE = "cdk.tf.json"
DEFAULT_SHARDS = 20
"""Plan (and apply) jobs per run unless the workflow variable ``IDENTITY_PLAN_SHARDS`` says otherwise: 600
stacks make 20 jobs of about 30 stacks each."""
MAX_SHARDS = 256
"""GitHub runs at most 256 jobs per matrix."""
MAX_NOT_PLANNED_BYTES = 1 * MIB
"""The not-planned list the review reads: 600 stacks with the longest reason are about 100 KB."""

UNCHANGED = "unchanged against the base branch"
REMOVED = "removed from the configuration: its user, policy and access key stay in AWS until its stack is destroyed"
REASONS = (REMOVED, UNCHANGED)
"""Every reason the workflow writes, in the order the review lists them (what needs action first)."""
NAMES_BUDGET = 4_000
"""At most this many characters of stack names in the review's not-planned section (the rest are counted)."""

# Characters GitHub's artifact upload refuses in a path, the path separators, and any character that is not
# printable (a line break would split the shell's list of stacks and could start a workflow command).
_UNSAFE = re.compile(r'[":<>|*?\\/]')


@dataclass(frozen=True, slots=True)
class NotPlanned:
    """A stack the workflow does not plan, and why (one of :data:`REASONS`)."""

    stack: str
    reason: str


# ---------------------------------------------------------------------------------------------------------------------
# Which stacks are planned
# ---------------------------------------------------------------------------------------------------------------------


def stack_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a stack folder the workflow handles, or ``None`` if it can."""
    if not name.isprintable():
        return "holds a character that is not printable (a line break, a control or an invisible mark)"
    if _UNSAFE.search(name):
        return 'holds one of " : < > | * ? \\ /, which GitHub refuses in an artifact path'
    if name.strip(" .") == "":
        return "is empty, blank or only dots"
    return None


def terraform_view(document: Any) -> Any:
    """``document`` (a stack's ``cdk.tf.json``) without the ``//`` metadata cdktf writes, where Terraform ignores it.

    cdktf writes ``//`` at the top (its version, the stack's name, the backend kind, output names) and in each
    resource and data source (the construct path); Terraform reads ``//`` in a block's body as a comment.
    A ``//`` anywhere else (a key of a tag map, say) is data and stays.
    """
    if not isinstance(document, dict):
        return document
    view = {key: value for key, value in document.items() if key != "//"}
    for kind in ("resource", "data"):
        blocks = view.get(kind)
        if isinstance(blocks, dict):
            view[kind] = {
                type_name: (
                    {name: _without_comment(body) for name, body in named.items()} if isinstance(named, dict) else named
                )
                for type_name, named in blocks.items()
            }
    return view


def _without_comment(body: Any) -> Any:
    return {key: value for key, value in body.items() if key != "//"} if isinstance(body, dict) else body


def same_terraform(head: str, base: str) -> bool:
    """Whether two ``cdk.tf.json`` texts configure the same thing for Terraform (anything unreadable differs)."""
    if head == base:
        return True
    head_data, head_problems = parse_json(head, STACK_FILE, fix="")
    base_data, base_problems = parse_json(base, STACK_FILE, fix="")
    if head_problems or base_problems:
        return False
    return _canonical(terraform_view(head_data)) == _canonical(terraform_view(base_data))


def _canonical(value: Any) -> str:
    # As text, so that true and 1 (equal in Python) differ, as they do to Terraform.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_decision(head: Mapping[str, str], base: Mapping[str, str | None] | None) -> tuple[list[str], list[NotPlanned]]:
    """The stacks to plan (sorted) and those not planned, from each stack's ``cdk.tf.json`` text.

    ``base`` is the base branch's stacks (``None`` for one whose file could not be read, which is planned);
    without a base, every stack is planned. A stack only in the base was removed: there is nothing to plan it
    with, so it is listed, for the review to say that its resources remain.
    """
    if base is None:
        return sorted(head), []
    planned: list[str] = []
    not_planned: list[NotPlanned] = []
    for stack in sorted(head):
        before = base.get(stack)
        if before is not None and same_terraform(head[stack], before):
            not_planned.append(NotPlanned(stack, UNCHANGED))
        else:
            planned.append(stack)
    not_planned += [NotPlanned(stack, REMOVED) for stack in sorted(set(base) - set(head))]
    return planned, not_planned


# ---------------------------------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------------------------------


def shard_of(stack: str, shards: int) -> int:
    """The shard of ``stack`` among ``shards``: from its name alone, so that adding or removing another stack
    never moves it, and its plan and apply land in the same shard (and concurrency group)."""
    digest = hashlib.sha256(stack.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def split(stacks: Iterable[str], shards: int) -> list[tuple[int, list[str]]]:
    """``stacks`` by shard: only the shards that have any, in order, each stack once, each shard's stacks sorted."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be from 1 to {MAX_SHARDS}, not {shards}")
    by_shard: dict[int, list[str]] = {}
    for stack in sorted(set(stacks)):
        by_shard.setdefault(shard_of(stack, shards), []).append(stack)
    return sorted(by_shard.items())


def matrix_document(planned: Sequence[str], not_planned: Sequence[NotPlanned], shards: int) -> dict[str, Any]:
    """The JSON the workflow reads: its matrix is ``[.shards[].shard]``, each plan job plans its ``stacks``,
    and the review gets ``not_planned``."""
    return {
        "shard_count": shards,
        "shards": [{"shard": index, "stacks": stacks} for index, stacks in split(planned, shards)],
        "not_planned": [{"stack": entry.stack, "reason": entry.reason} for entry in not_planned],
    }


# ---------------------------------------------------------------------------------------------------------------------
# Reading the synthesized stacks
# ---------------------------------------------------------------------------------------------------------------------


def read_stacks(folder: Path, display: str) -> tuple[dict[str, str], list[Problem]]:
    """Each stack's ``cdk.tf.json`` text by stack name, from a synthesized ``stacks`` folder; every problem."""
    if not is_real_folder(folder):
        return {}, [Problem(display, "", "is not a folder of synthesized stacks", "run `make synth` first")]
    stacks: dict[str, str] = {}
    problems: list[Problem] = []
    for name in sorted(os.listdir(folder)):
        where = f"{display}/{name}"
        why = stack_name_problem(name)
        if why is not None:
            problems.append(Problem(display, show(name), why, "change the naming template that made this stack id"))
            continue
        try:
            stacks[name] = read_text(folder / name / STACK_FILE, limit=MAX_PLAN_BYTES, inside=folder)
        except RefusedError as error:
            problems.append(error.problem(f"{where}/{STACK_FILE}", ""))
    if not stacks and not problems:
        problems.append(Problem(display, "", "holds no stack", "run `make synth` first"))
    return stacks, problems


def read_base_stacks(folder: Path) -> dict[str, str | None]:
    """The base branch's stacks as :func:`read_stacks` reads them, but forgiving: an unreadable one is ``None``
    (planned), and a missing folder is no stack at all (every stack new)."""
    if not is_real_folder(folder):
        return {}
    stacks: dict[str, str | None] = {}
    for name in os.listdir(folder):
        try:
            stacks[name] = read_text(folder / name / STACK_FILE, limit=MAX_PLAN_BYTES, inside=folder)
        except RefusedError:
            stacks[name] = None
    return stacks


# ---------------------------------------------------------------------------------------------------------------------
# The review's section on the stacks not planned
# ---------------------------------------------------------------------------------------------------------------------


def read_not_planned(path: Path, display: str) -> tuple[list[NotPlanned], list[Problem]]:
    """The list a workflow run wrote (``[{"stack": ..., "reason": ...}]``), read strictly; every problem."""
    try:
        text = read_text(path, limit=MAX_NOT_PLANNED_BYTES)
    except RefusedError as error:
        return [], [error.problem(display, "")]
    data, problems = parse_json(text, display, fix="pass the not-planned list the workflow's check job wrote")
    if problems:
        return [], problems
    if not isinstance(data, list):
        return [], [Problem(display, "", "is not a JSON list", 'write [{"stack": "...", "reason": "..."}, ...]')]
    entries: list[NotPlanned] = []
    for index, item in enumerate(data):
        where = f"{display}: [{index}]"
        if not isinstance(item, dict) or set(item) != {"stack", "reason"}:
            problems.append(Problem(where, "", 'is not an object of exactly "stack" and "reason"', "fix the list"))
        elif not isinstance(item["stack"], str) or not item["stack"]:
            problems.append(Problem(f"{where}.stack", show(item["stack"]), "is not a stack name", "fix the list"))
        elif item["reason"] not in REASONS:
            problems.append(
                Problem(
                    f"{where}.reason",
                    show(item["reason"]),
                    "is not a reason the workflow writes",
                    "use one of: " + "; ".join(repr(reason) for reason in REASONS),
                )
            )
        else:
            entries.append(NotPlanned(item["stack"], item["reason"]))
    return entries, problems


def render_not_planned(entries: Sequence[NotPlanned], names_budget: int = NAMES_BUDGET) -> str:
    """The review's section on ``entries``: one line per reason with its count, and as many stack names (as code)
    as ``names_budget`` characters allow, the rest counted. Empty when every stack was planned."""
    if not entries:
        return ""
    lines = ["", "#### Not planned", ""]
    used = 0
    for reason in REASONS:
        stacks = sorted({entry.stack for entry in entries if entry.reason == reason})
        if not stacks:
            continue
        shown: list[str] = []
        for stack in stacks:
            code = inline_code(stack)
            if used + length(code) + 2 > names_budget:
                break
            shown.append(code)
            used += length(code) + 2
        more = len(stacks) - len(shown)
        names = ", ".join(shown)
        if more:
            names += f"{', and ' if shown else ''}{more} more"
        noun = "stack" if len(stacks) == 1 else "stacks"
        lines.append(f"- {reason[0].upper()}{reason[1:]} ({len(stacks)} {noun}): {names}.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------

USAGE = "python -m programmatic_iam.plan_matrix STACKS [--base BASE_STACKS] [--shards K]"


def main(argv: Sequence[str], cwd: Path, stdout: TextIO, stderr: TextIO) -> int:
    """Print :func:`matrix_document` (exit 0), or every problem with the arguments or the stacks (exit 2)."""
    arguments, problems = _parse(argv)
    head: dict[str, str] = {}
    if "stacks" in arguments:
        head, found = read_stacks(cwd / arguments["stacks"], arguments["stacks"])
        problems += found
    if problems:
        print(ConfigError(problems, subject="the plan matrix").render("nothing was printed"), file=stderr)
        return 2
    base = read_base_stacks(cwd / arguments["base"]) if "base" in arguments else None
    shards = int(arguments.get("shards", DEFAULT_SHARDS))
    planned, not_planned = plan_decision(head, base)
    document = matrix_document(planned, not_planned, shards)
    json.dump(document, stdout, indent=1)
    stdout.write("\n")
    print(
        f"plan_matrix: planning {len(planned)} of {len(head)} stacks in {len(document['shards'])} jobs"
        f"{'' if base is not None else ' (no base branch: every stack)'}; {len(not_planned)} not planned",
        file=stderr,
    )
    return 0


def _parse(argv: Sequence[str]) -> tuple[dict[str, str], list[Problem]]:
    arguments: dict[str, str] = {}
    problems: list[Problem] = []
    rest = list(argv)
    while rest:
        given = rest.pop(0)
        if given in ("--base", "--shards"):
            if not rest:
                problems.append(Problem(given, "", "needs a value", f"usage: {USAGE}"))
                break
            arguments[given[2:]] = rest.pop(0)
        elif given.startswith("-") or "stacks" in arguments:
            problems.append(Problem("arguments", show(given), "is not expected", f"usage: {USAGE}"))
        else:
            arguments["stacks"] = given
    if "stacks" not in arguments and not problems:
        problems.append(Problem("arguments", "", "name no stacks folder", f"usage: {USAGE}"))
    shards = arguments.get("shards", str(DEFAULT_SHARDS))
    if not (shards.isascii() and shards.isdigit() and 1 <= int(shards) <= MAX_SHARDS):
        problems.append(
            Problem(
                "--shards",
                show(shards),
                f"is not a whole number from 1 to {MAX_SHARDS} (GitHub runs at most {MAX_SHARDS} jobs per matrix)",
                f"leave the variable IDENTITY_PLAN_SHARDS unset for {DEFAULT_SHARDS}, or set it to such a number",
            )
        )
    return arguments, problems


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], Path.cwd(), sys.stdout, sys.stderr))
