"""What a set of policy documents lets an identity do that a reviewer must see: one risk engine for every report.

The findings come from cloudsplaining (privilege-escalation paths, permissions management, credential exposure
and data exfiltration without resource constraints) and from the offline catalogue (destructive actions on
any resource, whole-service wildcards). A statement with a Condition is not flagged, as cloudsplaining
judges it: a condition is how a policy scopes actions that cannot be scoped by ARN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
import fnmatch
from functools import cache
from typing import Any, Literal

from ..policy.catalogue import load_catalogue

Severity = Literal["high", "medium"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium")

DESTRUCTIVE_VERBS = ("Delete", "Terminate", "Destroy", "Purge", "Deregister", "Remove")
"""Write actions whose name starts with one of these lose data or running capacity when aimed at ``*``."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One risk: what kind, how bad, which actions, and why it matters."""

    kind: str
    severity: Severity
    title: str
    actions: tuple[str, ...]
    why: str
    link: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What makes two findings the same one (before and after a change)."""
        return (self.kind, self.title)


@cache
def _cloudsplaining() -> tuple[Any, Any, Mapping[str, str | None]]:
    # Imported on first use: it loads the catalogue too (about 0.25 s), which `check` without findings never needs.
    from cloudsplaining.scan.policy_document import PolicyDocument
    from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_PATHFINDING_PATHS
    from cloudsplaining.shared.exclusions import Exclusions

    return PolicyDocument, Exclusions({}), PRIVILEGE_ESCALATION_PATHFINDING_PATHS


def assess(documents: Iterable[Mapping[str, Any]]) -> tuple[Finding, ...]:
    """The findings of every document attached to one identity, judged together (a path may span policies).

    Documents are policy JSON values (``{"Version": ..., "Statement": [...]}``); sorted, high severity first.
    """
    statements = [statement for document in documents for statement in _statements(document)]
    if not statements:
        return ()
    policy_document, exclusions, pathfinding = _cloudsplaining()
    combined = policy_document({"Version": "2012-10-17", "Statement": statements}, exclusions=exclusions)
    catalogue = load_catalogue()

    def canonical(actions: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted({catalogue.canonical(action) or action for action in actions}))

    findings: list[Finding] = []
    for path in combined.allows_privilege_escalation:
        method = str(path["type"])
        findings.append(
            Finding(
                kind="privilege-escalation",
                severity="high",
                title=f"privilege escalation ({method})",
                actions=canonical(path["actions"]),
                why="together, on any resource, these actions let the identity gain permissions it was not given",
                link=pathfinding.get(method) or "",
            )
        )
    permissions_management = canonical(combined.permissions_management_without_constraints)
    pass_role = tuple(action for action in permissions_management if action == "iam:PassRole")
    if pass_role:
        findings.append(
            Finding(
                kind="pass-role-on-any",
                severity="high",
                title="iam:PassRole on any role",
                actions=pass_role,
                why="the identity can hand any role in the account to a service it controls",
            )
        )
    others = tuple(action for action in permissions_management if action != "iam:PassRole")
    if others:
        findings.append(
            Finding(
                kind="permissions-management",
                severity="high",
                title="permissions management on any resource",
                actions=others,
                why="these actions change who may do what, on any resource",
            )
        )
    attaching = canonical(_attach_without_policy_condition(statements))
    if attaching:
        findings.append(
            Finding(
                kind="attach-any-policy",
                severity="high",
                title="attaching any managed policy",
                actions=attaching,
                why="without an iam:PolicyARN condition these attach any policy, AdministratorAccess included, "
                "to the principals they name; with a key for one of them, that is the whole account",
            )
        )
    credentials = canonical(combined.credentials_exposure)
    if credentials:
        findings.append(
            Finding(
                kind="credentials-exposure",
                severity="high",
                title="actions that return credentials",
                actions=credentials,
                why="their responses carry passwords, keys or tokens",
            )
        )
    destructive = tuple(
        action
        for action in canonical(combined.write_actions_without_constraints)
        if action.partition(":")[2].startswith(DESTRUCTIVE_VERBS)
    )
    if destructive:
        findings.append(
            Finding(
                kind="destructive-on-any",
                severity="medium",
                title="destructive actions on any resource",
                actions=destructive,
                why="each can delete or stop resources anywhere in the account and region, not only the application's",
            )
        )
    exfiltration = canonical(combined.allows_data_exfiltration_actions)
    if exfiltration:
        findings.append(
            Finding(
                kind="data-exfiltration",
                severity="medium",
                title="data reads on any resource",
                actions=exfiltration,
                why="they read stored data (objects, parameters, secrets) anywhere in the account",
            )
        )
    wildcards = tuple(sorted(f"{service}:*" for service in combined.service_wildcard))
    if wildcards:
        findings.append(
            Finding(
                kind="service-wildcard",
                severity="medium",
                title="every action of a service",
                actions=wildcards,
                why="grants every current and future action of the service",
            )
        )
    order = {severity: index for index, severity in enumerate(SEVERITIES)}
    return tuple(sorted(findings, key=lambda finding: (order[finding.severity], finding.kind, finding.title)))


def new_findings(before: Sequence[Finding], after: Sequence[Finding]) -> tuple[Finding, ...]:
    """Findings of ``after`` that ``before`` did not have, or that gained actions."""
    previous = {finding.key: set(finding.actions) for finding in before}
    return tuple(
        finding for finding in after if finding.key not in previous or not set(finding.actions) <= previous[finding.key]
    )


def _attach_without_policy_condition(statements: Sequence[Mapping[str, Any]]) -> set[str]:
    """Attach*Policy actions an Allow statement grants, on any resource, with no condition on the policy's ARN.

    cloudsplaining sees these only on ``*``; scoped to one user they still let that user be given anything.
    """
    found: set[str] = set()
    for statement in statements:
        condition = statement.get("Condition")
        keys = (
            {key.lower() for block in condition.values() for key in block} if isinstance(condition, Mapping) else set()
        )
        if statement.get("Effect") != "Allow" or "iam:policyarn" in keys:
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            for name in _ATTACH_ACTIONS:
                if fnmatch.fnmatchcase(name, str(action).lower()):
                    found.add(name)
    return found


_ATTACH_ACTIONS = ("iam:attachuserpolicy", "iam:attachgrouppolicy", "iam:attachrolepolicy")


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's statements as a list of objects (IAM allows a single statement object too)."""
    raw = document.get("Statement", [])
    statements = raw if isinstance(raw, list) else [raw]
    return [dict(statement) for statement in statements if isinstance(statement, Mapping)]
