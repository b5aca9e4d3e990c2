"""What a set of policy documents lets an identity do that a reviewer must see: one risk engine for every report.

The findings come from cloudsplaining's lists (privilege-escalation paths, permissions management, credential
exposure and data exfiltration) and from the offline catalogue (destructive actions, whole-service wildcards),
applied to what the statements really allow on any resource: every wildcard and ``NotAction`` expanded, and
only the resources and conditions that narrow an action taken as its scope (``scope.py``; docs/policy.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from ..policy.catalogue import Catalogue, load_catalogue
from .scope import ConditionTest, as_strings, glob_matcher, granted_actions, narrowing_tests, on_every_resource

Severity = Literal["high", "medium"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium")

DESTRUCTIVE_VERBS = ("Delete", "Terminate", "Destroy", "Purge", "Deregister", "Remove")
"""Write actions whose name starts with one of these lose data or running capacity when aimed at ``*``."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One risk: what kind, how bad, which actions, why it matters, and how to fix it."""

    kind: str
    severity: Severity
    title: str
    actions: tuple[str, ...]
    why: str
    fix: str
    """The change that removes this finding, chosen for its kind and actions (:func:`fix_for`)."""
    link: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What makes two findings the same one (before and after a change)."""
        return (self.kind, self.title)


@cache
def _cloudsplaining() -> tuple[Any, Any, Mapping[str, Sequence[str]], Mapping[str, str | None]]:
    # Imported on first use: it loads the catalogue too (about 0.25 s), which `check` without findings never needs.
    from cloudsplaining.scan.policy_document import PolicyDocument
    from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS, PRIVILEGE_ESCALATION_PATHFINDING_PATHS
    from cloudsplaining.shared.exclusions import Exclusions

    return PolicyDocument, Exclusions({}), PRIVILEGE_ESCALATION_METHODS, PRIVILEGE_ESCALATION_PATHFINDING_PATHS


@dataclass(frozen=True, slots=True)
class Grants:
    """What a stack's statements really allow, as the findings need it (actions canonical, or lower case if unknown)."""

    unconstrained: frozenset[str]
    """Actions allowed on every resource of their types, with no condition that narrows them, and not denied."""
    passed_to: tuple[tuple[ConditionTest, ...], ...]
    """``iam:PassRole`` on every role, narrowed only by ``iam:PassedToService``: the tests of each such grant."""
    attach_any: frozenset[str]
    """``iam:Attach*Policy`` actions allowed with no condition that narrows ``iam:PolicyARN``, whatever the resource."""
    service_wildcards: frozenset[str]
    """Services every action of which a wildcard or ``NotAction`` grants, not all of them narrowed by a condition."""


def grants(documents: Iterable[Mapping[str, Any]]) -> Grants:
    """What the statements of every document allow together, judged as IAM would (docs/policy.md, "scoped").

    A Deny takes an action away only when it denies it on every resource without a condition: a narrower Deny
    leaves the rest of the grant.
    """
    catalogue = load_catalogue()
    statements = [statement for document in documents for statement in _statements(document)]
    denied: set[str] = set()
    for statement in statements:
        if statement.get("Effect") == "Deny" and _denies_everywhere(statement):
            denied |= granted_actions(statement, catalogue)
    unconstrained: set[str] = set()
    passed_to: list[tuple[ConditionTest, ...]] = []
    attach_any: set[str] = set()
    service_wildcards: set[str] = set()
    for statement in statements:
        effect = statement.get("Effect")
        if not isinstance(effect, str) or effect.lower() != "allow":
            continue
        actions = granted_actions(statement, catalogue) - denied
        condition = statement.get("Condition")
        for action in actions:
            tests = narrowing_tests(condition, action, catalogue)
            if on_every_resource(statement, action, catalogue):
                if not tests:
                    unconstrained.add(action)
                elif action == _PASS_ROLE and all(test.key == _PASSED_TO_SERVICE for test in tests):
                    passed_to.append(tests)
            if action in _ATTACH_ACTIONS and not any(test.key == _POLICY_ARN for test in tests):
                attach_any.add(action)
        if "NotAction" in statement or any("*" in p or "?" in p for p in as_strings(statement.get("Action"))):
            service_wildcards |= _whole_services(actions, condition, catalogue)
    return Grants(frozenset(unconstrained), tuple(passed_to), frozenset(attach_any), frozenset(service_wildcards))


def assess(documents: Iterable[Mapping[str, Any]]) -> tuple[Finding, ...]:
    """The findings of every document attached to one identity, judged together (a path may span policies).

    Documents are policy JSON values (``{"Version": ..., "Statement": [...]}``); sorted, high severity first.
    """
    allowed = grants(documents)
    if not (allowed.unconstrained or allowed.passed_to or allowed.attach_any or allowed.service_wildcards):
        return ()
    policy_document, exclusions, methods, pathfinding = _cloudsplaining()
    catalogue = load_catalogue()
    known = sorted(action for action in allowed.unconstrained if ":" in action and catalogue.canonical(action))
    combined = policy_document(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": known, "Resource": "*"}] if known else [],
        },
        exclusions=exclusions,
    )

    def canonical(actions: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted({catalogue.canonical(action) or action for action in actions}))

    findings: list[Finding] = []
    for method, path in _escalations(allowed, methods):
        findings.append(
            Finding(
                kind="privilege-escalation",
                severity="high",
                title=f"privilege escalation ({method})",
                actions=canonical(path),
                why="together, on any resource, these actions let the identity gain permissions it was not given",
                fix=fix_for("privilege-escalation", canonical(path)),
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
                fix=fix_for("pass-role-on-any", pass_role),
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
                fix=fix_for("permissions-management", others),
            )
        )
    attaching = canonical(allowed.attach_any)
    if attaching:
        findings.append(
            Finding(
                kind="attach-any-policy",
                severity="high",
                title="attaching any managed policy",
                actions=attaching,
                why="without an iam:PolicyARN condition these attach any policy, AdministratorAccess included, "
                "to the principals they name; with a key for one of them, that is the whole account",
                fix=fix_for("attach-any-policy", attaching),
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
                fix=fix_for("credentials-exposure", credentials),
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
                fix=fix_for("destructive-on-any", destructive),
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
                fix=fix_for("data-exfiltration", exfiltration),
            )
        )
    wildcards = tuple(sorted(f"{service}:*" for service in allowed.service_wildcards))
    if wildcards:
        findings.append(
            Finding(
                kind="service-wildcard",
                severity="medium",
                title="every action of a service",
                actions=wildcards,
                why="grants every current and future action of the service",
                fix=fix_for("service-wildcard", wildcards),
            )
        )
    order = {severity: index for index, severity in enumerate(SEVERITIES)}
    return tuple(sorted(findings, key=lambda finding: (order[finding.severity], finding.kind, finding.title)))


_USER_DATA_PATH = frozenset({"ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances"})
_FIXES = {
    "pass-role": "name the roles the application passes in Resource (arn:aws:iam::ACCOUNT:role/NAME) and add "
    '{"StringEquals": {"iam:PassedToService": "SERVICE.amazonaws.com"}} naming the one service that receives '
    "them, or drop iam:PassRole",
    "iam": "drop them: a key that can change IAM can give itself any permission; if the application must, name "
    "the exact users, groups, roles or policies in Resource (its own user: arn:aws:iam::*:user/${aws:username})",
    "user-data": "require the application's tag on the instances (aws:ResourceTag/KEY) so that only its own "
    'can be changed and restarted; for Stream Manager, policy.template = "stream-manager-2.0-hardened" does '
    "(docs/policies.md)",
    "lambda": "name the application's own functions in Resource (arn:aws:lambda:REGION:ACCOUNT:function:NAME): "
    "new code runs with the function's role, so any function means any function role",
    "escalation": "name the application's own resources in Resource, or add a condition that narrows each action "
    '(docs/policy.md, "What counts as scoped"), or drop one action of the path',
    "permissions-management": "name the exact resources in Resource, or drop them",
    "attach-any-policy": 'add {"ArnEquals": {"iam:PolicyARN": [...]}} naming the policies it may attach, or drop them',
    "credentials-exposure": "drop them unless the application needs those credentials; otherwise name the "
    "exact resources in Resource",
    "destructive-on-any": "name the application's resources in Resource, or require its tag (aws:ResourceTag/KEY)",
    "data-exfiltration": "name the buckets, parameters or secrets the application reads in Resource",
    "service-wildcard": "list the actions the application calls instead of every action of the service",
}


def fix_for(kind: str, actions: Sequence[str]) -> str:
    """The change that removes a finding of ``kind`` on ``actions``: the fix that applies to that grant.

    An escalation path is fixed where its lever is: the role it passes, the IAM change it makes, the function
    code it replaces, the instance user data it rewrites (the one path the hardened EC2 template narrows).
    """
    granted = set(actions)
    if kind == "pass-role-on-any" or (kind == "privilege-escalation" and _PASS_ROLE in granted):
        return _FIXES["pass-role"]
    if kind != "privilege-escalation":
        return _FIXES[kind]
    if all(action.startswith(("iam:", "sts:")) for action in granted):
        return _FIXES["iam"]
    if granted == _USER_DATA_PATH:
        return _FIXES["user-data"]
    if "lambda:UpdateFunctionCode" in granted:
        return _FIXES["lambda"]
    return _FIXES["escalation"]


def new_findings(before: Sequence[Finding], after: Sequence[Finding]) -> tuple[Finding, ...]:
    """Findings of ``after`` that ``before`` did not have, or that gained actions."""
    previous = {finding.key: set(finding.actions) for finding in before}
    return tuple(
        finding for finding in after if finding.key not in previous or not set(finding.actions) <= previous[finding.key]
    )


def _escalations(allowed: Grants, methods: Mapping[str, Sequence[str]]) -> list[tuple[str, Sequence[str]]]:
    """cloudsplaining's escalation paths every action of which is allowed unconstrained.

    ``iam:PassRole`` narrowed to some services still completes a path whose other actions belong to one of them.
    """
    lowered = {action.lower() for action in allowed.unconstrained}
    found = []
    for method, path in methods.items():
        rest = [action for action in path if action != _PASS_ROLE.lower()]
        if not set(rest) <= lowered:
            continue
        if len(rest) < len(path) and _PASS_ROLE.lower() not in lowered:
            services = {action.partition(":")[0] for action in rest}
            if not any(all(_may_receive(test, services) for test in tests) for tests in allowed.passed_to):
                continue
        found.append((method, path))
    return found


def _may_receive(test: ConditionTest, services: set[str]) -> bool:
    """Whether an ``iam:PassedToService`` test accepts a service principal of one of the services (read broadly)."""
    for value in test.values:
        matches = glob_matcher(value.replace("?", "*"))
        if any(service in value.lower() or matches(f"{service}.amazonaws.com") for service in services):
            return True
    return False


def _denies_everywhere(statement: Mapping[str, Any]) -> bool:
    """A Deny with no condition on ``"*"``: the only kind that takes an action away from every request."""
    return (
        not statement.get("Condition")
        and "NotResource" not in statement
        and any(pattern and not pattern.strip("*") for pattern in as_strings(statement.get("Resource")))
    )


def _whole_services(actions: frozenset[str], condition: Any, catalogue: Catalogue) -> set[str]:
    """Services all of whose actions a statement grants (denied ones taken out), some with no narrowing condition."""
    found = set()
    for prefix in catalogue.prefixes:
        service = catalogue.service(prefix)
        if service is None or not service.actions:
            continue
        names = [f"{service.prefix}:{name}" for name in service.actions.values()]
        if all(name in actions for name in names) and any(
            not narrowing_tests(condition, name, catalogue) for name in names
        ):
            found.add(service.prefix)
    return found


_PASS_ROLE = "iam:PassRole"
_PASSED_TO_SERVICE = "iam:passedtoservice"
_POLICY_ARN = "iam:policyarn"
_ATTACH_ACTIONS = ("iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:AttachRolePolicy")


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's statements as a list of objects (IAM allows a single statement object too)."""
    raw = document.get("Statement", [])
    statements = raw if isinstance(raw, list) else [raw]
    return [dict(statement) for statement in statements if isinstance(statement, Mapping)]
