"""What a planned change does to an identity's permissions: actions added and removed, and every other change.

Actions are compared ignoring case (as IAM does) and shown as the catalogue spells them, each with its
access level and what it is granted on (its statement's Resource and Condition), so that an action on ``*``
and the same action on one bucket never look alike. Everything else in the statements (Effect, NotAction,
Sid...) is compared as a diff of the statements with their ``Action`` lists taken out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
import difflib
import json
from typing import Any

from ..policy.catalogue import Catalogue
from ..policy.sizing import MANAGED_POLICY_MAX_CHARACTERS, normalised_size
from ..strict_json import parse_json
from .plan import REDACTED, UNKNOWN, ResourceChange
from .plan_shape import POLICY_TYPES
from .scope import expand, granted_actions

NEAR_LIMIT = 0.9
"""A document using this share of IAM's size limit is reported as near it."""

PERMISSIONS_MANAGEMENT = "Permissions management"


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """What a statement grants its actions on: its Resource (or NotResource) and its Condition, as written."""

    resources: tuple[str, ...] = ()
    not_resource: bool = False
    """The resources are a ``NotResource``: the grant is on every resource but these."""
    condition: str = ""
    """The Condition block as compact JSON (keys sorted); ``""`` when there is none."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One action (or wildcard pattern) as an Allow or Deny statement lists it, with what it is granted on."""

    action: str
    effect: str
    level: str
    """The access level, ``N actions: levels`` for a wildcard, or ``unknown``."""
    wildcard: bool
    permissions_management: bool
    scope: Scope = Scope()
    elsewhere: str = ""
    """For an action moved between two policies of one stack: the other policy's name."""
    rescoped: bool = False
    """The policy grants the same action on something else instead (its Resource or Condition changed)."""


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    """One policy resource's permission change."""

    address: str
    kind: str
    name: str
    action: str
    added: tuple[Grant, ...]
    removed: tuple[Grant, ...]
    statement_diff: tuple[str, ...]
    size: int | None
    unreadable: str = ""
    """Why the document could not be compared (unknown until apply, not JSON); empty when it could."""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.statement_diff or self.unreadable)

    @property
    def size_share(self) -> float:
        return (self.size or 0) / MANAGED_POLICY_MAX_CHARACTERS

    @property
    def shared_scope(self) -> Scope | None:
        """What every added and removed action is granted on, when that is one thing (said once, not per row)."""
        scopes = {grant.scope for grant in (*self.added, *self.removed)}
        return scopes.pop() if len(scopes) == 1 else None

    @property
    def noted(self) -> bool:
        """Whether any added or removed action has something to note: a wildcard, a move, a new scope..."""
        return any(
            grant.wildcard or grant.permissions_management or grant.rescoped or grant.elsewhere
            for grant in (*self.added, *self.removed)
        )


@dataclass(frozen=True, slots=True)
class PermissionChange:
    """A stack's permission change: per policy, and net over all its policies in actions (wildcards expanded)."""

    policies: tuple[PolicyDiff, ...]
    gained: frozenset[str]
    """Actions the identity is allowed after the change and was not before (each action a pattern matches)."""
    lost: frozenset[str]
    """Actions it was allowed before and is not after."""
    rescoped: frozenset[str]
    """Actions allowed before and after, but on other resources or under other conditions."""
    before_documents: tuple[Mapping[str, Any], ...]
    after_documents: tuple[Mapping[str, Any], ...]

    @property
    def changed(self) -> bool:
        return any(policy.changed for policy in self.policies)


def permission_change(changes: Sequence[ResourceChange], catalogue: Catalogue) -> PermissionChange:
    """The permission change of one stack's planned resource changes."""
    documents = [(change, _document(change.before), _document(change.after)) for change in _policies(changes)]
    before_documents = tuple(
        doc for change, doc, _ in documents if change.action not in ("create",) and isinstance(doc, dict)
    )
    after_documents = tuple(doc for change, _, doc in documents if change.action != "delete" and isinstance(doc, dict))
    before_allowed = allowed_actions(before_documents, catalogue)
    after_allowed = allowed_actions(after_documents, catalogue)
    diffs = [_policy_diff(change, before, after, catalogue) for change, before, after in documents]
    return PermissionChange(
        policies=tuple(_with_moves(diffs)),
        gained=frozenset(after_allowed.keys() - before_allowed.keys()),
        lost=frozenset(before_allowed.keys() - after_allowed.keys()),
        rescoped=frozenset(
            action
            for action in before_allowed.keys() & after_allowed.keys()
            if before_allowed[action] != after_allowed[action]
        ),
        before_documents=before_documents,
        after_documents=after_documents,
    )


def allowed_actions(documents: Iterable[Mapping[str, Any]], catalogue: Catalogue) -> dict[str, frozenset[Scope]]:
    """Every action the documents allow (patterns and ``NotAction`` expanded), with what each is granted on.

    An action a Deny takes away everywhere (every resource, no condition) is not allowed. A narrower Deny leaves
    it allowed: what it still allows is the statements' business, shown in the per-policy tables.
    """
    allowed: dict[str, set[Scope]] = {}
    denied: set[str] = set()
    for document in documents:
        for statement in _statements(document):
            actions = granted_actions(statement, catalogue)
            if statement.get("Effect", "Allow") == "Allow":
                for action in actions:
                    allowed.setdefault(action, set()).add(_scope(statement))
            elif _scope(statement) == _EVERYWHERE:
                denied |= actions
    return {action: frozenset(scopes) for action, scopes in allowed.items() if action not in denied}


def _policies(changes: Sequence[ResourceChange]) -> list[ResourceChange]:
    return [change for change in changes if change.type in POLICY_TYPES and change.action not in ("read", "forget")]


def _document(value: Mapping[str, Any]) -> dict[str, Any] | str | None:
    """The parsed ``policy`` attribute; a string saying why when it cannot be read; ``None`` when absent."""
    raw = value.get("policy")
    if raw is None:
        return None
    if raw in (UNKNOWN, REDACTED):
        return f"the document is {raw}"
    if not isinstance(raw, str):
        return "the document is not a JSON string"
    document, problems = parse_json(raw, "policy", fix="")
    if problems:
        return "the document is not JSON that IAM reads"
    return document if isinstance(document, dict) else "the document is not a JSON object"


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = document.get("Statement", [])
    return [s for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _scope(statement: Mapping[str, Any]) -> Scope:
    not_resource = "NotResource" in statement and "Resource" not in statement
    resources = tuple(_as_list(statement.get("NotResource" if not_resource else "Resource")))
    condition = statement.get("Condition")
    return Scope(
        resources=resources,
        not_resource=not_resource,
        condition=json.dumps(condition, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if condition else "",
    )


_EVERYWHERE = Scope(("*",))

GrantKey = tuple[str, str, Scope]
"""``(effect, lower-case action, scope)``: what makes two grants the same one."""


def _grants(documents: Iterable[Mapping[str, Any]]) -> dict[GrantKey, str]:
    """Each grant -> the action as written, over every statement's ``Action``."""
    grants: dict[GrantKey, str] = {}
    for document in documents:
        for statement in _statements(document):
            effect = str(statement.get("Effect", "Allow"))
            scope = _scope(statement)
            for action in _as_list(statement.get("Action")):
                grants.setdefault((effect, action.lower(), scope), action)
    return grants


def _grant(key: GrantKey, action: str, catalogue: Catalogue) -> Grant:
    effect, _, scope = key
    if "*" in action or "?" in action:
        matched = sorted(expand(action, catalogue))
        levels = {catalogue.access_level(name) or "unknown" for name in matched}
        ordered = [level for level in (*_LEVEL_ORDER, "unknown") if level in levels]
        count = f"{len(matched)} action{'' if len(matched) == 1 else 's'}"
        level = f"{count}: {', '.join(ordered)}" if matched else "matches no known action"
        return Grant(action, effect, level, True, PERMISSIONS_MANAGEMENT in levels, scope)
    canonical = catalogue.canonical(action) or action
    level = catalogue.access_level(action) or "unknown"
    return Grant(canonical, effect, level, False, level == PERMISSIONS_MANAGEMENT, scope)


_LEVEL_ORDER = ("List", "Read", "Write", "Tagging", PERMISSIONS_MANAGEMENT)


def _policy_diff(
    change: ResourceChange,
    before: dict[str, Any] | str | None,
    after: dict[str, Any] | str | None,
    catalogue: Catalogue,
) -> PolicyDiff:
    name = change.value("name")
    before_doc = before if isinstance(before, dict) and change.action != "create" else {}
    after_doc = after if isinstance(after, dict) and change.action != "delete" else {}
    unreadable = next(
        (
            why
            for why in (before if change.action != "create" else None, after if change.action != "delete" else None)
            if isinstance(why, str)
        ),
        "",
    )
    before_grants, after_grants = _grants([before_doc]), _grants([after_doc])
    added = [_grant(k, a, catalogue) for k, a in sorted(after_grants.items()) if k not in before_grants]
    removed = [_grant(k, a, catalogue) for k, a in sorted(before_grants.items()) if k not in after_grants]
    # The same action on something else: shown as the old grant removed and the new one added, both marked.
    both = {(g.effect, g.action.lower()) for g in added} & {(g.effect, g.action.lower()) for g in removed}
    size = normalised_size(after_doc) if after_doc else None
    return PolicyDiff(
        address=change.address,
        kind=POLICY_TYPES[change.type],
        name=name if isinstance(name, str) else change.address,
        action=change.action,
        added=tuple(replace(g, rescoped=(g.effect, g.action.lower()) in both) for g in added),
        removed=tuple(replace(g, rescoped=(g.effect, g.action.lower()) in both) for g in removed),
        statement_diff=_statement_diff(before_doc, after_doc),
        size=size,
        unreadable=unreadable,
    )


def _statement_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """A unified diff of everything but the Action lists (the actions are listed on their own)."""

    def shape(document: Mapping[str, Any]) -> list[str]:
        if not document:
            return []
        outline = {key: value for key, value in document.items() if key != "Statement"}
        outline["Statement"] = [{k: v for k, v in s.items() if k != "Action"} for s in _statements(document)]
        # Split on json.dumps's own line breaks only: splitlines() would also split a value at U+2028 or U+0085.
        return json.dumps(outline, indent=2, sort_keys=True, ensure_ascii=False).split("\n")

    old, new = shape(before), shape(after)
    if old == new:
        return ()
    return tuple(line for line in difflib.unified_diff(old, new, "before", "after", n=2, lineterm=""))[2:]


def _with_moves(diffs: list[PolicyDiff]) -> list[PolicyDiff]:
    """Mark grants that leave one policy of the stack and join another (a split), with the other's name."""
    added_in = {(g.effect, g.action.lower(), g.scope): d.name for d in diffs for g in d.added}
    removed_from = {(g.effect, g.action.lower(), g.scope): d.name for d in diffs for g in d.removed}

    def marked(grants: tuple[Grant, ...], other: Mapping[GrantKey, str], own: str) -> tuple[Grant, ...]:
        result = []
        for grant in grants:
            elsewhere = other.get((grant.effect, grant.action.lower(), grant.scope), "")
            result.append(replace(grant, elsewhere=elsewhere if elsewhere != own else ""))
        return tuple(result)

    return [
        replace(d, added=marked(d.added, removed_from, d.name), removed=marked(d.removed, added_in, d.name))
        for d in diffs
    ]
