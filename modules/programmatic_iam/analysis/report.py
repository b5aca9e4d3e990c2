"""The least-privilege report of a stack: what its policies really allow, how it could be scoped, what is risky."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..policy.catalogue import ACCESS_LEVELS, Catalogue
from ..policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, normalised_size
from ..spec import StackSpec
from .risk import Finding, assess


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
    condition_keys: tuple[str, ...]
    unknown: tuple[str, ...]
    """Allowed actions the catalogue does not know (``policy.allow_unlisted_actions``)."""
    not_action_statements: int
    findings: tuple[Finding, ...]
    policies: tuple[PolicySize, ...]

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(sorted(action for actions in self.by_level.values() for action in actions))

    @property
    def high(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.severity == "high")


def stack_report(stack: StackSpec, catalogue: Catalogue) -> StackReport:
    """The report of one stack of a blueprint."""
    documents = [policy.document.to_json_value() for policy in stack.identity.policies]
    allowed, unknown, not_action = _allowed_actions(documents, catalogue)
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
        condition_keys=tuple(sorted({key for action in allowed for key in catalogue.condition_keys(action)})),
        unknown=tuple(sorted(unknown)),
        not_action_statements=not_action,
        findings=assess(documents),
        policies=tuple(
            PolicySize(policy.name, normalised_size(document))
            for policy, document in zip(stack.identity.policies, documents, strict=True)
        ),
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
    return {
        "catalogue": catalogue.source,
        "stacks": [
            {
                "stack": report.stack,
                "environment": report.environment,
                "region": report.region,
                "actions": {level: list(actions) for level, actions in report.by_level.items()},
                "scopable_by_resource_arn": list(report.scopable),
                "wildcard_only": list(report.wildcard_only),
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
                        "link": finding.link,
                    }
                    for finding in report.findings
                ],
                "policies": [
                    {"name": size.name, "characters": size.characters, "limit": size.limit} for size in report.policies
                ],
            }
            for report in reports
        ],
    }


def report_text(reports: Sequence[StackReport], catalogue: Catalogue) -> str:
    """The report for a terminal: the summary and findings first, the long lists last."""
    lines: list[str] = []
    for report in reports:
        counts = ", ".join(f"{level} {len(actions)}" for level, actions in report.by_level.items())
        lines += [
            f"{report.stack} ({report.environment}, {report.region})",
            f"  {len(report.actions)} actions: {counts}",
            f"  {len(report.scopable)} can be scoped by resource ARN; {len(report.wildcard_only)} work only on '*' "
            "(conditions are the only way to narrow those)",
        ]
        if report.unknown:
            lines.append(f"  {len(report.unknown)} not in the catalogue: {', '.join(report.unknown)}")
        if report.not_action_statements:
            lines.append(
                f"  {report.not_action_statements} Allow statement(s) with NotAction: everything else is granted"
            )
        for size in report.policies:
            lines.append(f"  policy {size.name}: {size.characters:,} of {size.limit:,} characters ({size.share:.0%})")
        if report.findings:
            lines.append(f"  findings ({len(report.high)} high):")
            for finding in report.findings:
                lines.append(f"    {finding.severity.upper():<7}{finding.title}: {', '.join(finding.actions)}")
                lines.append(f"           {finding.why}{f' ({finding.link})' if finding.link else ''}")
        else:
            lines.append("  findings: none")
        lines.append("  actions by access level:")
        for level, actions in report.by_level.items():
            if actions:
                lines.append(f"    {level} ({len(actions)}): {', '.join(actions)}")
        lines.append(f"  condition keys available ({len(report.condition_keys)}): {', '.join(report.condition_keys)}")
        lines.append("")
    lines.append(f"Catalogue: {catalogue.source}.")
    return "\n".join(lines) + "\n"
