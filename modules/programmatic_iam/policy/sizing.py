"""IAM's managed-policy size limit, counted as AWS counts it, and a deterministic split."""

from __future__ import annotations

from dataclasses import replace
import json
from typing import Any

from ..errors import Problem
from .document import PolicyDocument, Statement

MANAGED_POLICY_MAX_CHARACTERS = 6144
# The provider sends the document through Go's encoding/json, which writes & < > as \u0026 etc.
_GO_ESCAPED = "&<>"


def iam_size(document: PolicyDocument) -> int:
    """Characters AWS counts against the limit: the provider's normalised JSON, whitespace excluded."""
    return normalised_size(document.to_json_value())


def normalised_size(value: Any) -> int:
    """:func:`iam_size` of a policy already in JSON form (as a plan holds it)."""
    normalised = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    escapes = sum(normalised.count(c) for c in _GO_ESCAPED)
    return sum(1 for c in normalised if not c.isspace()) + 5 * escapes


def split_document(
    document: PolicyDocument, *, where: str, limit: int = MANAGED_POLICY_MAX_CHARACTERS
) -> tuple[list[PolicyDocument], list[Problem]]:
    """Split into documents of at most ``limit`` characters, keeping statement and action order.

    Statements are packed greedily in order; a statement too large alone is cut into runs of
    consecutive actions, the second and later runs getting ``Part2``, ``Part3``... after the Sid.
    A statement that is over the limit with a single action cannot be split: that is a problem at ``where``.
    """
    if iam_size(document) <= limit:
        return [document], []
    pieces: list[Statement] = []
    for statement in document.statements:
        runs, too_large = _split_statement(statement, limit)
        if too_large is not None:
            return [], [
                Problem(
                    where,
                    "",
                    f"cannot be split under IAM's {limit}-character limit: a statement granting only "
                    f"{too_large!r} is over {limit} characters",
                    "shorten that statement",
                )
            ]
        pieces += runs
    documents: list[list[Statement]] = [[]]
    for piece in pieces:
        candidate = [*documents[-1], piece]
        if documents[-1] and iam_size(PolicyDocument(tuple(candidate))) > limit:
            documents.append([piece])
        else:
            documents[-1] = candidate
    return [PolicyDocument(tuple(statements), id=document.id) for statements in documents], []


def _split_statement(statement: Statement, limit: int) -> tuple[list[Statement], str | None]:
    """The statement's runs of actions, or the action whose statement alone is over ``limit``."""
    if iam_size(PolicyDocument((statement,))) <= limit:
        return [statement], None
    runs: list[list[str]] = [[]]
    for action in statement.actions:
        candidate = replace(statement, actions=(*runs[-1], action))
        if runs[-1] and iam_size(PolicyDocument((candidate,))) > limit:
            runs.append([action])
        else:
            runs[-1].append(action)
    parts = [replace(statement, actions=tuple(run)) for run in runs]
    for part in parts:
        if iam_size(PolicyDocument((part,))) > limit:
            return [], part.actions[0]
    return [
        part if index == 0 or part.sid is None else replace(part, sid=f"{part.sid}Part{index + 1}")
        for index, part in enumerate(parts)
    ], None
