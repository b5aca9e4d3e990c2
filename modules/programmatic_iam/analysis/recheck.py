"""``usage recheck``: the removals a plan makes on IAM's evidence, judged again on IAM's evidence read for that plan
(docs/tightening.md).

``usage tighten`` writes ``policy.remove_actions`` from evidence taken on one day; the plan that applies it comes
days or weeks later. Before a removal is reviewed and before it is applied, the evidence is read again: an action
used since (IAM records every authenticated attempt) must not be removed. The re-check covers exactly the entries
of ``policy.remove_actions`` whose actions the plan takes away from the user, so an action removed months ago, or
an action removed by hand, is never held against the apply.

The result travels as JSON from the workflow's job that reads IAM to ``review --evidence``, which shows each
removal with its evidence (:func:`recheck_json`, :func:`read_recheck`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
import re
from typing import Any

from ..errors import Problem, show
from ..files import MAX_PLAN_BYTES, RefusedError, read_text
from ..strict_json import parse_json
from .usage import VERDICT_LABELS, VERDICTS, StackUsage, Verdict, action_json, day

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
TRACKING_DAYS = 400
"""How far back IAM's last-accessed record goes (at least; AWS's documentation)."""
_FIX = "pass the file `usage recheck --format json` wrote, unchanged"


def removals_in_plan(
    remove_actions: Sequence[str], lost: Collection[str], expand: Callable[[str], Collection[str]]
) -> list[str]:
    """The entries of ``remove_actions`` the plan acts on: those covering an action the identity loses (``lost``,
    from the plan's policy documents, wildcards expanded), each once, in the file's order."""
    losing = {action.lower() for action in lost}
    return [
        entry for entry in dict.fromkeys(remove_actions) if any(action.lower() in losing for action in expand(entry))
    ]


def recheck_refusal(usage: StackUsage) -> str:
    """Why the apply must not make ``usage``'s removals: a user too young to judge, or a removal used in the window
    ending at the new evidence; empty when the evidence still supports every one."""
    if usage.young:
        return (
            f"the user was created on {day(usage.evidence.created)}, less than {usage.window_days} days before IAM's "
            "evidence: it has not had the time to use what it needs"
        )
    used = [use for use in usage.actions if use.verdict == "used"]
    if used:
        listed = ", ".join(f"{use.action} (used {day(use.last_used)})" for use in used)
        return f"used in the {usage.window_days} days before IAM's evidence of {day(usage.evidence.taken)}: {listed}"
    return ""


def recheck_json(usages: Sequence[StackUsage], refused: Mapping[str, str]) -> dict[str, Any]:
    """What ``usage recheck --format json`` prints: per stack its removals judged, and why the apply refuses them
    (``refused``: by stack, including the stacks whose evidence could not be read, which have no ``usage``)."""
    judged = {usage.stack: usage for usage in usages}
    stacks = []
    for stack in dict.fromkeys([*judged, *refused]):
        usage = judged.get(stack)
        stacks.append(
            {
                "stack": stack,
                "evidence_taken": day(usage.evidence.taken) if usage else None,
                "user_created": day(usage.evidence.created) if usage else None,
                "window_days": usage.window_days if usage else None,
                "refused": refused.get(stack) or None,
                "removals": [action_json(use) for use in (usage.actions if usage else ())],
            }
        )
    return {"stacks": stacks}


# ---------------------------------------------------------------------------------------------------------------------
# review --evidence: the file read back
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemovalEvidence:
    """One removal as the re-check judged it."""

    action: str
    verdict: Verdict
    last_used: str = ""
    """YYYY-MM-DD, or empty."""
    region: str = ""
    why: str = ""

    @property
    def label(self) -> str:
        return VERDICT_LABELS[self.verdict]


@dataclass(frozen=True, slots=True)
class StackRecheck:
    """One stack's re-check: the evidence's day and window, its removals, and why the apply refuses (or ``""``)."""

    stack: str
    taken: str
    window_days: int | None
    refused: str
    removals: tuple[RemovalEvidence, ...]
    created: str = ""
    """The day the user was created (YYYY-MM-DD): a removal never used was unused for as long, up to 400 days."""

    def of(self, action: str) -> RemovalEvidence | None:
        """The evidence of a removed grant (as the plan's table shows it), ignoring case as IAM does."""
        return next((removal for removal in self.removals if removal.action.lower() == action.lower()), None)

    def days_unused(self, removal: RemovalEvidence) -> int:
        """How many days before the evidence the removal was last used (:func:`read_recheck` makes sure both days are
        there for a removal used before the window)."""
        return (date.fromisoformat(self.taken) - date.fromisoformat(removal.last_used)).days

    def days_tracked(self) -> int:
        """For how many days before the evidence IAM's record covers the user: its age, at most
        :data:`TRACKING_DAYS`."""
        return min(self._age(), TRACKING_DAYS)

    def user_outlives_the_record(self) -> bool:
        """Whether the user is older than IAM's record goes back."""
        return self._age() >= TRACKING_DAYS

    def _age(self) -> int:
        return (date.fromisoformat(self.taken) - date.fromisoformat(self.created)).days


_STACK_KEYS = {"stack", "evidence_taken", "user_created", "window_days", "refused", "removals"}
_REMOVAL_KEYS = {"action", "class", "last_used", "region", "why"}


def read_recheck(path: Path, display: str) -> tuple[dict[str, StackRecheck], list[Problem]]:
    """``usage recheck --format json``'s output, read strictly: by stack, and every problem (file, key, value, fix)."""
    try:
        text = read_text(path, limit=MAX_PLAN_BYTES)
    except RefusedError as error:
        return {}, [error.problem(display, "")]
    data, problems = parse_json(text, display, fix=_FIX)
    if problems:
        return {}, problems
    if not isinstance(data, dict) or set(data) != {"stacks"} or not isinstance(data["stacks"], list):
        return {}, [Problem(display, "", 'is not an object of exactly "stacks", a list', _FIX)]
    found: dict[str, StackRecheck] = {}
    for index, item in enumerate(data["stacks"]):
        where = f"{display}: stacks[{index}]"
        stack, stack_problems = _stack(item, where)
        problems += stack_problems
        if stack is not None and stack.stack in found:
            problems.append(Problem(f"{where}.stack", show(stack.stack), "is listed twice", _FIX))
        elif stack is not None:
            found[stack.stack] = stack
    return found, problems


def _stack(item: Any, where: str) -> tuple[StackRecheck | None, list[Problem]]:
    if not isinstance(item, dict) or set(item) != _STACK_KEYS:
        return None, [Problem(where, "", f"is not an object of exactly {', '.join(sorted(_STACK_KEYS))}", _FIX)]
    problems = []
    if not isinstance(item["stack"], str) or not item["stack"]:
        problems.append(Problem(f"{where}.stack", show(item["stack"]), "is not a stack name", _FIX))
    taken = item["evidence_taken"]
    if taken is not None and not _is_day(taken):
        problems.append(Problem(f"{where}.evidence_taken", show(taken), "is not a day (YYYY-MM-DD)", _FIX))
    created = item["user_created"]
    if created is not None and not _is_day(created):
        problems.append(Problem(f"{where}.user_created", show(created), "is not a day (YYYY-MM-DD)", _FIX))
    window = item["window_days"]
    if window is not None and (type(window) is not int or not 1 <= window <= 3650):
        problems.append(Problem(f"{where}.window_days", show(window), "is not a number of days (1 to 3650)", _FIX))
    refused = item["refused"]
    if refused is not None and not isinstance(refused, str):
        problems.append(Problem(f"{where}.refused", show(refused), "is not a text", _FIX))
    if not isinstance(item["removals"], list):
        problems.append(Problem(f"{where}.removals", show(item["removals"]), "is not a list", _FIX))
        return None, problems
    removals = []
    for index, removal in enumerate(item["removals"]):
        read, removal_problems = _removal(removal, f"{where}.removals[{index}]")
        problems += removal_problems
        if read is not None:
            removals.append(read)
    if removals and (taken is None or created is None or window is None):
        problems.append(Problem(where, "", "has removals but no evidence_taken, user_created or window_days", _FIX))
    if problems:
        return None, problems
    return StackRecheck(item["stack"], taken or "", window, refused or "", tuple(removals), created or ""), []


def _removal(item: Any, where: str) -> tuple[RemovalEvidence | None, list[Problem]]:
    if not isinstance(item, dict) or set(item) != _REMOVAL_KEYS:
        return None, [Problem(where, "", f"is not an object of exactly {', '.join(sorted(_REMOVAL_KEYS))}", _FIX)]
    problems = []
    if not isinstance(item["action"], str) or not item["action"]:
        problems.append(Problem(f"{where}.action", show(item["action"]), "is not an action", _FIX))
    if item["class"] not in VERDICTS:
        problems.append(Problem(f"{where}.class", show(item["class"]), f"is not one of {', '.join(VERDICTS)}", _FIX))
    if item["last_used"] is not None and not _is_day(item["last_used"]):
        problems.append(Problem(f"{where}.last_used", show(item["last_used"]), "is not a day (YYYY-MM-DD)", _FIX))
    elif item["last_used"] is None and item["class"] in ("used", "used-before-window"):
        problems.append(Problem(f"{where}.last_used", "null", f"is missing for an action {item['class']}", _FIX))
    for key in ("region", "why"):
        if item[key] is not None and not isinstance(item[key], str):
            problems.append(Problem(f"{where}.{key}", show(item[key]), "is not a text", _FIX))
    if problems:
        return None, problems
    return RemovalEvidence(
        item["action"], item["class"], item["last_used"] or "", item["region"] or "", item["why"] or ""
    ), []


def _is_day(value: Any) -> bool:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
