"""What a planned change does to an identity's permissions: actions added and removed, and every other change.

Actions are compared ignoring case (as IAM does) and shown as the catalogue spells them, each with its
access level. Everything else in the statements (Effect, Resource, NotAction, Condition...) is compared as
a diff of the statements with their ``Action`` lists taken out, so that a widened Resource cannot hide.
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
from .scope import expand

NEAR_LIMIT = 0.9
"""A document using this share of IAM's size limit is reported as near it."""

PERMISSIONS_MANAGEMENT = "Permissions management"


@dataclass(frozen=True, slots=True)
class Grant:
    """One action (or wildcard pattern) as an Allow or Deny statement lists it."""

    action: str
    effect: str
    level: str
    """The access level, ``N actions: levels`` for a wildcard, or ``unknown``."""
    wildcard: bool
    permissions_management: bool
    elsewhere: str = ""
    """For an action moved between two policies of one stack: the other policy's name."""


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


@dataclass(frozen=True, slots=True)
class PermissionChange:
    """A stack's permission change: per policy, and net over all its policies."""

    policies: tuple[PolicyDiff, ...]
    gained: tuple[Grant, ...]
    lost: tuple[Grant, ...]
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
    before_grants = _grants(before_documents)
    after_grants = _grants(after_documents)
    gained = tuple(
        _grant(key, action, catalogue) for key, action in sorted(after_grants.items()) if key not in before_grants
    )
    lost = tuple(
        _grant(key, action, catalogue) for key, action in sorted(before_grants.items()) if key not in after_grants
    )

    diffs = [_policy_diff(change, before, after, catalogue) for change, before, after in documents]
    return PermissionChange(
        policies=tuple(_with_moves(diffs)),
        gained=gained,
        lost=lost,
        before_documents=before_documents,
        after_documents=after_documents,
    )


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


def _grants(documents: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """``(effect, lower-case action)`` -> the action as written, over every statement's ``Action``."""
    grants: dict[tuple[str, str], str] = {}
    for document in documents:
        for statement in _statements(document):
            effect = str(statement.get("Effect", "Allow"))
            for action in _as_list(statement.get("Action")):
                grants.setdefault((effect, action.lower()), action)
    return grants


def _grant(key: tuple[str, str], action: str, catalogue: Catalogue) -> Grant:
    effect = key[0]
    if "*" in action or "?" in action:
        matched = sorted(expand(action, catalogue))
        levels = {catalogue.access_level(name) or "unknown" for name in matched}
        ordered = [level for level in (*_LEVEL_ORDER, "unknown") if level in levels]
        level = f"{len(matched)} actions: {', '.join(ordered)}" if matched else "matches no known action"
        return Grant(action, effect, level, True, PERMISSIONS_MANAGEMENT in levels)
    canonical = catalogue.canonical(action) or action
    level = catalogue.access_level(action) or "unknown"
    return Grant(canonical, effect, level, False, level == PERMISSIONS_MANAGEMENT)


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
    size = normalised_size(after_doc) if after_doc else None
    return PolicyDiff(
        address=change.address,
        kind=POLICY_TYPES[change.type],
        name=name if isinstance(name, str) else change.address,
        action=change.action,
        added=tuple(_grant(k, a, catalogue) for k, a in sorted(after_grants.items()) if k not in before_grants),
        removed=tuple(_grant(k, a, catalogue) for k, a in sorted(before_grants.items()) if k not in after_grants),
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
    """Mark actions that leave one policy of the stack and join another (a split), with the other's name."""
    added_in = {(g.effect, g.action.lower()): d.name for d in diffs for g in d.added}
    removed_from = {(g.effect, g.action.lower()): d.name for d in diffs for g in d.removed}

    def marked(grants: tuple[Grant, ...], other: Mapping[tuple[str, str], str], own: str) -> tuple[Grant, ...]:
        result = []
        for grant in grants:
            elsewhere = other.get((grant.effect, grant.action.lower()), "")
            result.append(replace(grant, elsewhere=elsewhere if elsewhere != own else ""))
        return tuple(result)

    return [
        replace(d, added=marked(d.added, removed_from, d.name), removed=marked(d.removed, added_in, d.name))
        for d in diffs
    ]
