"""The least-privilege report of a stack: what its policies really allow, how it could be scoped, what is risky."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
import textwrap
from typing import Any

from ..policy.catalogue import ACCESS_LEVELS, Catalogue
from ..policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, normalised_size
from ..spec import StackSpec
from .risk import Finding, assess, grants


@dataclass(frozen=True, slots=True)
class PolicySize:
    """How much of IAM's size limit one managed policy uses."""

    name: str
    characters: int
    limit: int = MANAGED_POLICY_MAX_CHARACTERS

    @property
    def share(self) -> float:
        return self.characters / self.limit


@dataclass(frozen=True, slots=True)
class StackReport:
    """One stack's policies, seen as AWS sees them."""

    stack: str
    environment: str
    region: str
    by_level: Mapping[str, tuple[str, ...]]
    """Every allowed action (wildcards expanded through the catalogue), by AWS's access level."""
    scopable: tuple[str, ...]
    """Actions a Resource ARN can narrow."""
    wildcard_only: tuple[str, ...]
    """Actions that work only on ``*``: conditions are the only way to narrow them."""
    unscoped: tuple[str, ...]
    """Allowed actions that the policies leave on every resource, with no condition that narrows them: what
    docs/policy.md ("What counts as scoped") calls unscoped. The other allowed actions are scoped."""
    condition_keys: tuple[str, ...]
    unknown: tuple[str, ...]
    """Allowed actions the catalogue does not know (``policy.allow_unlisted_actions``)."""
    not_action_statements: int
    findings: tuple[Finding, ...]
    policies: tuple[PolicySize, ...]
    identity: str = ""
    """The identity whose stack it is (``identities.name``, or ``naming.name`` without [[identities]])."""

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(sorted(action for actions in self.by_level.values() for action in actions))

    @property
    def high(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.severity == "high")

    @property
    def scoped(self) -> tuple[str, ...]:
        """Allowed actions that a Resource or a Condition of the policies narrows."""
        unscoped = set(self.unscoped)
        return tuple(action for action in self.actions if action not in unscoped)


def stack_report(stack: StackSpec, catalogue: Catalogue) -> StackReport:
    """The report of one stack of a blueprint."""
    documents = [policy.document.to_json_value() for policy in stack.identity.policies]
    allowed, unknown, not_action = _allowed_actions(documents, catalogue)
    unconstrained = grants(documents).unconstrained
    by_level = {
        level: tuple(sorted(a for a in allowed if catalogue.access_level(a) == level)) for level in ACCESS_LEVELS
    }
    return StackReport(
        stack=stack.stack_id,
        environment=stack.environment,
        region=stack.region,
        by_level=by_level,
        scopable=tuple(sorted(a for a in allowed if catalogue.resource_types(a))),
        wildcard_only=tuple(sorted(a for a in allowed if not catalogue.resource_types(a))),
        unscoped=tuple(sorted(allowed & unconstrained)),
        condition_keys=tuple(sorted({key for action in allowed for key in catalogue.condition_keys(action)})),
        unknown=tuple(sorted(unknown)),
        not_action_statements=not_action,
        findings=assess(documents),
        policies=tuple(
            PolicySize(policy.name, normalised_size(document))
            for policy, document in zip(stack.identity.policies, documents, strict=True)
        ),
        identity=stack.identity_name,
    )


def _allowed_actions(documents: Iterable[Mapping[str, Any]], catalogue: Catalogue) -> tuple[set[str], set[str], int]:
    """Actions Allow statements grant (expanded, canonical), those the catalogue lacks, and NotAction statements."""
    allowed: set[str] = set()
    unknown: set[str] = set()
    not_action = 0
    for document in documents:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                not_action += 1
            for pattern in _as_list(statement.get("Action")):
                if "*" in pattern or "?" in pattern:
                    allowed.update(catalogue.matching(pattern))
                elif catalogue.canonical(pattern):
                    allowed.add(str(catalogue.canonical(pattern)))
                else:
                    unknown.add(pattern)
    return allowed, unknown, not_action


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def report_json(reports: Sequence[StackReport], catalogue: Catalogue) -> dict[str, Any]:
    """The report as JSON: access levels are keys named as AWS names them, each with its actions."""
    return {"catalogue": catalogue.source, "stacks": [_stack_json(report) for report in reports]}


def fleet_report_json(reports: Sequence[StackReport], catalogue: Catalogue) -> dict[str, Any]:
    """The report of a fleet as JSON: identities, then their environments, are keys (in the file's order); each
    identity has its summary (:func:`identity_summary`), each environment its stack as in :func:`report_json`."""
    identities: dict[str, Any] = {}
    for identity, group in _by_identity(reports).items():
        summary = identity_summary(group)
        identities[identity] = {
            "summary": {
                "stacks": len(group),
                "actions": {level: len(actions) for level, actions in summary.by_level.items()},
                "high_findings": list(summary.high),
            },
            "environments": {report.environment: _stack_json(report) for report in group},
        }
    return {"catalogue": catalogue.source, "identities": identities}


def _stack_json(report: StackReport) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "environment": report.environment,
        "region": report.region,
        "actions": {level: list(actions) for level, actions in report.by_level.items()},
        "scopable_by_resource_arn": list(report.scopable),
        "wildcard_only": list(report.wildcard_only),
        "scoped": list(report.scoped),
        "unscoped": list(report.unscoped),
        "condition_keys": list(report.condition_keys),
        "unknown_to_the_catalogue": list(report.unknown),
        "not_action_statements": report.not_action_statements,
        "findings": [
            {
                "severity": finding.severity,
                "kind": finding.kind,
                "title": finding.title,
                "actions": list(finding.actions),
                "why": finding.why,
                "fix": finding.fix,
                "link": finding.link,
            }
            for finding in report.findings
        ],
        "policies": [
            {"name": size.name, "characters": size.characters, "limit": size.limit} for size in report.policies
        ],
    }


@dataclass(frozen=True, slots=True)
class IdentitySummary:
    """What one identity's stacks allow together: each access level's actions in any of its environments, and the
    titles of its high-severity findings (each once)."""

    identity: str
    stacks: int
    by_level: Mapping[str, tuple[str, ...]]
    high: tuple[str, ...]


def identity_summary(reports: Sequence[StackReport]) -> IdentitySummary:
    """The summary of one identity's reports (all of the same identity)."""
    levels: dict[str, set[str]] = {}
    for report in reports:
        for level, actions in report.by_level.items():
            levels.setdefault(level, set()).update(actions)
    high = dict.fromkeys(finding.title for report in reports for finding in report.high)
    return IdentitySummary(
        identity=reports[0].identity if reports else "",
        stacks=len(reports),
        by_level={level: tuple(sorted(actions)) for level, actions in levels.items()},
        high=tuple(high),
    )


def identity_lines(reports: Sequence[StackReport]) -> list[str]:
    """One line per identity, in the reports' order: its stacks, its actions by access level, its high findings.

    The identity's name is the caller's to escape (it comes from the configuration)."""
    lines = []
    for group in _by_identity(reports).values():
        summary = identity_summary(group)
        counts = ", ".join(f"{level} {len(actions)}" for level, actions in summary.by_level.items())
        high = f"{len(summary.high)} high ({'; '.join(summary.high)})" if summary.high else "no high finding"
        stacks = f"{summary.stacks} stack{'s' if summary.stacks != 1 else ''}"
        lines.append(f"{summary.identity}: {stacks}; {counts}; {high}")
    return lines


def _by_identity(reports: Sequence[StackReport]) -> dict[str, list[StackReport]]:
    grouped: dict[str, list[StackReport]] = {}
    for report in reports:
        grouped.setdefault(report.identity, []).append(report)
    return grouped


def report_text(reports: Sequence[StackReport], catalogue: Catalogue) -> str:
    """The report for a terminal: the summary and findings first, the long lists last, wrapped.

    Stacks whose policies allow the same (environments that share one document) are reported once, under
    all their names. Condition keys are only counted here: ``--format json`` lists them.
    """
    lines: list[str] = []
    for group in _alike(reports):
        report = group[0]
        counts = ", ".join(f"{level} {len(actions)}" for level, actions in report.by_level.items())
        lines += [f"{each.stack} ({each.environment}, {each.region})" for each in group]
        lines += [f"  {len(report.actions)} actions: {counts}", *_scope_summary(report)]
        if report.unknown:
            lines += _wrapped(f"  {len(report.unknown)} not in the catalogue: {', '.join(report.unknown)}")
        if report.not_action_statements:
            lines.append(
                f"  {report.not_action_statements} Allow statement(s) with NotAction: everything else is granted"
            )
        for size in (size for each in group for size in each.policies):
            lines.append(f"  policy {size.name}: {size.characters:,} of {size.limit:,} characters ({size.share:.0%})")
        if report.findings:
            lines.append(f"  findings ({len(report.high)} high):")
            for finding in report.findings:
                lines.append(f"    {finding.severity.upper():<7}{finding.title}: {', '.join(finding.actions)}")
                lines.append(f"           {finding.why}{f' ({finding.link})' if finding.link else ''}")
                lines.append(f"           fix: {finding.fix}")
        else:
            lines.append("  findings: none")
        lines.append("  actions by access level:")
        for level, actions in report.by_level.items():
            if actions:
                lines += _wrapped(f"    {level} ({len(actions)}): {', '.join(actions)}")
        lines.append("  actions by scope:")
        unscoped = set(report.unscoped)
        for title, listed in (
            ("scoped by the policy's resources or conditions", report.scoped),
            ("on every resource; a resource ARN could scope them", [a for a in report.scopable if a in unscoped]),
            ("on every resource; only a condition can narrow them", [a for a in report.wildcard_only if a in unscoped]),
        ):
            if listed:
                lines += _wrapped(f"    {title} ({len(listed)}): {', '.join(listed)}")
        services = Counter(key.partition(":")[0] for key in report.condition_keys)
        lines += _wrapped(
            f"  condition keys available: {len(report.condition_keys)} "
            f"({', '.join(f'{service} {count}' for service, count in sorted(services.items()))}); "
            "`report --format json` lists them"
            if report.condition_keys
            else "  condition keys available: none"
        )
        lines.append("")
    lines.append(f"Catalogue: {catalogue.source}.")
    return "\n".join(lines) + "\n"


_WIDTH = 120
"""Where the text report wraps its long lists (every line but a finding's own text)."""


def _wrapped(line: str, *, indent: int = 6) -> list[str]:
    """``line`` broken at its spaces (never inside an action or a key) into lines of at most :data:`_WIDTH`."""
    return textwrap.wrap(
        line, width=_WIDTH, subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False
    )


def _scope_summary(report: StackReport) -> list[str]:
    """Whether the policies scope each action, in numbers: what they scope, and what they leave everywhere."""
    unscoped = set(report.unscoped)
    lines = [f"  scoped by the policy's resources or conditions: {len(report.scoped)} of {len(report.actions)} actions"]
    if unscoped:
        by_arn = sum(1 for action in report.scopable if action in unscoped)
        only_conditions = sum(1 for action in report.wildcard_only if action in unscoped)
        lines.append(
            f"  on every resource: {len(unscoped)} ({by_arn} a resource ARN could scope; {only_conditions} work only "
            "on '*', where only a condition narrows them)"
        )
    return lines


def _alike(reports: Sequence[StackReport]) -> list[list[StackReport]]:
    """The reports in groups that differ only in their stack's and policies' names, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[StackReport]] = {}
    for report in reports:
        same = (
            tuple(report.by_level.items()),
            report.scopable,
            report.unscoped,
            report.condition_keys,
            report.unknown,
            report.not_action_statements,
            report.findings,
            tuple(size.characters for size in report.policies),
        )
        groups.setdefault(same, []).append(report)
    return list(groups.values())
