"""``usage report``: what IAM's last-accessed evidence says of each action a stack's policy grants (docs/tightening.md).

IAM records, per user, the last authenticated use of each service and, for the services it tracks at action
level, of each tracked action (``GetServiceLastAccessedDetails`` with ``ACTION_LEVEL``). Each granted action falls
in one class:

- ``used``: used in the window (the days before the evidence was taken), with when and where;
- ``used-before-window``: last used before the window, with the day;
- ``never-used``: tracked, and not used in IAM's tracking period;
- ``no-action-data``: IAM tracks the service at service level only, or does not track the action: no evidence
  either way;
- ``not-judged``: an authorization check rather than a call (``iam:PassRole``, and every action the Service
  Authorization Reference documents with a guide page instead of an API operation, as the IAM catalogue records
  it): IAM never sees it called, so its absence proves nothing.

A wildcard is used when any action it covers was used in the window; otherwise it can be judged only when every
action it covers can be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from ..errors import printable
from .comment import inline_code

Verdict = Literal["used", "used-before-window", "never-used", "no-action-data", "not-judged"]
VERDICTS: tuple[Verdict, ...] = ("used", "used-before-window", "never-used", "no-action-data", "not-judged")
VERDICT_LABELS: Mapping[Verdict, str] = {
    "used": "used in the window",
    "used-before-window": "last used before the window",
    "never-used": "never used in IAM's tracking period",
    "no-action-data": "no action-level data",
    "not-judged": "not judged by use",
}
# Always an authorization check, whatever the catalogue says of it.
ALWAYS_NOT_JUDGED = frozenset({"iam:passrole"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """One stack's user as IAM's last-accessed report showed it."""

    entity: str
    """The user's ARN."""
    created: datetime
    """When the user was created: an identity younger than the window has not had the time to use everything."""
    taken: datetime
    """When IAM finished the report: the window ends there."""
    services: tuple[Mapping[str, Any], ...]
    """``ServicesLastAccessed``, every page, as IAM answered it."""


@dataclass(frozen=True, slots=True)
class ActionUse:
    """One granted action (as the policy writes it, wildcards included), judged."""

    action: str
    verdict: Verdict
    last_used: datetime | None = None
    region: str | None = None
    why: str = ""
    """For ``no-action-data`` and ``not-judged``: why the evidence cannot tell."""


@dataclass(frozen=True, slots=True)
class StackUsage:
    stack: str
    identity: str
    environment: str
    window_days: int
    evidence: Evidence
    actions: tuple[ActionUse, ...]

    @property
    def young(self) -> bool:
        """Whether the user is younger than the window (then no action's absence means anything yet)."""
        return self.evidence.created > self.evidence.taken - timedelta(days=self.window_days)


@dataclass(frozen=True, slots=True)
class Catalogued:
    """What the IAM catalogue tells of actions: every action a pattern covers, and which are authorization checks."""

    covered: Callable[[str], list[str]]
    is_authorization_check: Callable[[str], bool]


def judge(
    granted: Sequence[str], evidence: Evidence, window_days: int, catalogued: Catalogued
) -> tuple[ActionUse, ...]:
    """Each of ``granted`` (once each, in order) judged on ``evidence`` with a window of ``window_days``."""
    services = {str(service.get("ServiceNamespace", "")).lower(): service for service in evidence.services}
    since = evidence.taken - timedelta(days=window_days)
    judged = []
    for action in dict.fromkeys(granted):
        covered = catalogued.covered(action) if "*" in action or "?" in action else [action]
        uses = [_judge_one(name, services, since, catalogued) for name in covered]
        judged.append(_combined(action, uses, since))
    return tuple(judged)


def _judge_one(
    action: str, services: Mapping[str, Mapping[str, Any]], since: datetime, catalogued: Catalogued
) -> ActionUse:
    namespace, _, name = action.partition(":")
    if action.lower() in ALWAYS_NOT_JUDGED or catalogued.is_authorization_check(action):
        return ActionUse(action, "not-judged", why="an authorization check, not a call: IAM never sees it used")
    service = services.get(namespace.lower())
    if service is None:
        return ActionUse(action, "no-action-data", why=f"IAM's report does not list the service {namespace}")
    tracked = service.get("TrackedActionsLastAccessed")
    if tracked is None:
        return ActionUse(action, "no-action-data", why=f"IAM tracks {namespace} at service level only")
    row = next((row for row in tracked if str(row.get("ActionName", "")).lower() == name.lower()), None)
    if row is None:
        return ActionUse(action, "no-action-data", why="IAM does not track this action")
    last = row.get("LastAccessedTime")
    if last is None:
        return ActionUse(action, "never-used")
    region = row.get("LastAccessedRegion")
    return ActionUse(action, "used" if last >= since else "used-before-window", last, region)


def _combined(action: str, uses: Sequence[ActionUse], since: datetime) -> ActionUse:
    """A granted action from the judgements of the actions it covers (one, unless it is a wildcard)."""
    if not uses:
        return ActionUse(action, "no-action-data", why="the IAM catalogue knows no action it covers")
    if len(uses) == 1:
        return replace(uses[0], action=action)
    used = [use for use in uses if use.last_used is not None]
    latest = max(used, key=lambda use: use.last_used or since, default=None)
    if latest is not None and latest.verdict == "used":
        return ActionUse(action, "used", latest.last_used, latest.region, f"through {latest.action}")
    for verdict in ("not-judged", "no-action-data"):
        unjudged = [use.action for use in uses if use.verdict == verdict]
        if unjudged:
            more = f" and {len(unjudged) - 1} more" if len(unjudged) > 1 else ""
            return ActionUse(action, verdict, why=f"it covers {unjudged[0]}{more}, which {_cannot(verdict)}")
    if latest is not None:
        return ActionUse(action, "used-before-window", latest.last_used, latest.region, f"through {latest.action}")
    return ActionUse(action, "never-used")


def _cannot(verdict: str) -> str:
    return "is an authorization check" if verdict == "not-judged" else "IAM does not track"


# ---------------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------------


def day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else ""


def usage_json(usages: Sequence[StackUsage]) -> dict[str, Any]:
    return {
        "stacks": [
            {
                "stack": usage.stack,
                "identity": usage.identity,
                "environment": usage.environment,
                "user": usage.evidence.entity,
                "window_days": usage.window_days,
                "evidence_taken": day(usage.evidence.taken),
                "user_created": day(usage.evidence.created),
                "younger_than_window": usage.young,
                "actions": [action_json(use) for use in usage.actions],
            }
            for usage in usages
        ]
    }


def action_json(use: ActionUse) -> dict[str, Any]:
    """One judged action as ``--format json`` prints it (dates as YYYY-MM-DD)."""
    return {
        "action": use.action,
        "class": use.verdict,
        "last_used": day(use.last_used) or None,
        "region": use.region,
        "why": use.why or None,
    }


def _evidence_heading(usage: StackUsage) -> str:
    """``(identity i, environment e): IAM's evidence of D, a window of N days``, and whether the user is young."""
    young = (
        f"; the user was created on {day(usage.evidence.created)}, less than {usage.window_days} days before: too "
        "young to judge what it has not used"
        if usage.young
        else ""
    )
    return (
        f"(identity {usage.identity}, environment {usage.environment}): IAM's evidence of "
        f"{day(usage.evidence.taken)}, a window of {usage.window_days} days{young}"
    )


def by_class(uses: Sequence[ActionUse]) -> list[ActionUse]:
    """``uses`` in the order of :data:`VERDICTS`, each class in its own order."""
    return sorted(uses, key=lambda use: VERDICTS.index(use.verdict))


def counted(uses: Sequence[ActionUse]) -> str:
    """``2 used in the window, 60 never used in IAM's tracking period``: each class present, with its count."""
    counts = [(verdict, sum(use.verdict == verdict for use in uses)) for verdict in VERDICTS]
    return ", ".join(f"{count} {VERDICT_LABELS[verdict]}" for verdict, count in counts if count)


def usage_text(usages: Sequence[StackUsage]) -> str:
    lines = []
    for usage in usages:
        lines.append(printable(f"{usage.stack} {_evidence_heading(usage)}"))
        width = max((len(use.action) for use in usage.actions), default=0)
        for use in by_class(usage.actions):
            detail = " ".join(printable(part) for part in (day(use.last_used), use.region or "", use.why) if part)
            label = VERDICT_LABELS[use.verdict]
            lines.append(f"  {label:<36} {printable(use.action):<{width}}  {detail}".rstrip(" "))
        lines += [f"  {summary(usage)}", ""]
    return "\n".join(lines)


def summary(usage: StackUsage) -> str:
    """``63 actions: 2 used in the window, 1 last used before the window, 60 never used in IAM's tracking period``."""
    return f"{len(usage.actions)} action{'' if len(usage.actions) == 1 else 's'}: {counted(usage.actions) or 'none granted'}"


def usage_markdown(usages: Sequence[StackUsage]) -> str:
    lines = []
    for usage in usages:
        lines += [f"### {inline_code(usage.stack)}", "", printable(_evidence_heading(usage)), ""]
        lines += [summary(usage) + ".", "", "| action | class | last used | region | why |", "|---|---|---|---|---|"]
        for use in by_class(usage.actions):
            cells = [
                inline_code(use.action, "table"),
                VERDICT_LABELS[use.verdict],
                day(use.last_used),
                inline_code(use.region, "table") if use.region else "",
                inline_code(use.why, "table") if use.why else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# usage tighten: what the evidence of every stack of an identity supports removing
# ---------------------------------------------------------------------------------------------------------------------

REMOVABLE: frozenset[Verdict] = frozenset({"never-used", "used-before-window"})


@dataclass(frozen=True, slots=True)
class Removal:
    action: str
    last_used: datetime | None
    """The latest use in any of the identity's environments (before the window), or ``None``: never used."""


@dataclass(frozen=True, slots=True)
class Tightening:
    """What the evidence of all of one identity's stacks supports: the actions to remove, or why none."""

    identity: str
    environments: tuple[str, ...]
    window_days: int
    evidence_taken: datetime | None
    """The earliest of the stacks' evidence: the window the removals rest on ends there at the latest."""
    removals: tuple[Removal, ...] = ()
    kept: tuple[ActionUse, ...] = ()
    """Each action kept, with why (its use, or why the evidence cannot judge it), from the stack that keeps it."""
    refused: str = ""
    """Why nothing is removed for this identity (a young user, a policy the environments do not share)."""


def tighten(identity: str, usages: Sequence[StackUsage], window_days: int) -> Tightening:
    """The actions that no stack of ``identity`` (``usages``: every environment's, judged on the same policy) used in
    the window; everything else kept, with its reason. Nothing removed when a stack's user is younger than the window."""
    environments = tuple(usage.environment for usage in usages)
    taken = min((usage.evidence.taken for usage in usages), default=None)
    base = Tightening(identity, environments, window_days, taken)
    young = [usage for usage in usages if usage.young]
    if young:
        first = young[0]
        refused = (
            f"the user of {first.stack} was created on {day(first.evidence.created)}, less than {window_days} days "
            "before IAM's evidence: it has not had the time to use what it needs"
        )
        return replace(base, refused=refused)
    removals: list[Removal] = []
    kept: list[ActionUse] = []
    for action in dict.fromkeys(use.action for usage in usages for use in usage.actions):
        uses = [use for usage in usages for use in usage.actions if use.action == action]
        keeping = [use for use in uses if use.verdict not in REMOVABLE]
        if keeping:
            kept.append(by_class(keeping)[0])  # the strongest reason to keep it: a use before anything unjudged
            continue
        last = max((use.last_used for use in uses if use.last_used is not None), default=None)
        removals.append(Removal(action, last))
    if removals and not kept:
        refused = (
            f"no environment used any of its {len(removals)} actions in the window: a policy cannot be empty, so "
            "nothing is removed; delete the identity if nothing uses it"
        )
        return replace(base, refused=refused)
    return replace(base, removals=tuple(removals), kept=tuple(kept))


def tightening_comment(tightening: Tightening) -> str:
    """The comment written above ``policy.remove_actions``: the window and the evidence's date."""
    return (
        f"usage tighten: not used in the {tightening.window_days} days before IAM's evidence of "
        f"{day(tightening.evidence_taken)} ({', '.join(tightening.environments)})"
    )


def tightening_text(tightening: Tightening) -> str:
    heading = f"{tightening.identity} ({', '.join(tightening.environments)})"
    if tightening.refused:
        return printable(f"{heading}: nothing removed: {tightening.refused}") + "\n"
    lines = [
        printable(
            f"{heading}: {len(tightening.removals)} of {len(tightening.removals) + len(tightening.kept)} actions not "
            f"used in the {tightening.window_days} days before IAM's evidence of {day(tightening.evidence_taken)}"
        )
    ]
    width = max((len(removal.action) for removal in tightening.removals), default=0)
    for removal in tightening.removals:
        evidence = f"last used {day(removal.last_used)}" if removal.last_used else "never used in IAM's tracking period"
        lines.append(printable(f"  remove {removal.action:<{width}}  {evidence}"))
    kept = counted(tightening.kept)
    if kept:
        lines.append(f"  kept: {kept}")
    for use in tightening.kept:
        if use.verdict in ("no-action-data", "not-judged"):
            lines.append(printable(f"  keep   {use.action}  {VERDICT_LABELS[use.verdict]}: {use.why}"))
    return "\n".join(lines) + "\n"
