"""IAM's managed-policy size limit, counted as AWS counts it, and a split that keeps what the policy means."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from itertools import accumulate
import json
import re
from typing import Any, Literal

from ..errors import Problem
from .document import PolicyDocument, Statement

MANAGED_POLICY_MAX_CHARACTERS = 6144
# The provider sends the document through Go's encoding/json, which writes & < > as \u0026 etc.
_GO_ESCAPED = "&<>"
# What IAM does not count: for str patterns, \s is exactly the characters for which str.isspace() holds.
_WHITESPACE = re.compile(r"\s")
_PART = "Part"
# AWS's hard quota of managed policies attached to one user (policy.max_policies is at most this).
_TIDY_PARTS_MAX = 20
_List = Literal["actions", "resources"]
_LISTS: tuple[_List, ...] = ("actions", "resources")


def iam_size(document: PolicyDocument) -> int:
    """Characters AWS counts against the limit: the provider's normalised JSON, whitespace excluded."""
    return normalised_size(document.to_json_value())


def normalised_size(value: Any) -> int:
    """:func:`iam_size` of a policy already in JSON form (as a plan holds it)."""
    normalised = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    escapes = sum(normalised.count(c) for c in _GO_ESCAPED)
    return len(normalised) - len(_WHITESPACE.findall(normalised)) + 5 * escapes


def split_document(
    document: PolicyDocument, *, where: str, limit: int = MANAGED_POLICY_MAX_CHARACTERS
) -> tuple[list[PolicyDocument], list[Problem]]:
    """Split into the fewest documents of at most ``limit`` characters that together mean the same.

    Statements are placed in order, each whole into the first document with room for it. One that fits in none
    is cut along the list whose pieces repeat the least (actions; resources when those are the longer): its
    first piece fills the last document's room and the rest start new ones, the second and later pieces getting
    ``Part2``, ``Part3``... after the Sid. One that fits an empty document is cut only when keeping it whole
    would take one more document. When placing first the statements that cannot be cut, then pouring the others
    into every document's room, takes fewer documents, that is done instead.

    Each piece keeps the statement's Effect, Condition and other list, so a request matches a piece exactly
    when it matches the statement (:func:`_may_cut`). A NotAction statement is never cut, nor a NotResource
    list, nor a Condition: such a statement larger than a document, a statement too large even with one action
    or one resource, and a ``PartN`` Sid that another statement has are problems at ``where``. Every document
    returned is measured as it will be sent.
    """
    if iam_size(document) <= limit:
        return [document], []
    # A part holds this much: its statements, each with the comma after it (one too many, hence the + 1).
    capacity = limit - iam_size(PolicyDocument((), id=document.id)) + 1
    cuttables = [_Cuttable.of(statement, capacity) for statement in document.statements]
    problems = [
        problem
        for index, cuttable in enumerate(cuttables)
        if (problem := _unplaceable(cuttable, index, capacity, where=where, limit=limit)) is not None
    ]
    if problems:
        return [], problems
    in_order = list(range(len(cuttables)))
    uncut_first = [n for n in in_order if cuttables[n].along is None] + [n for n in in_order if cuttables[n].along]
    fewest: dict[int, tuple[list[int], bool]] = {}
    for order, gaps in ((in_order, False), (uncut_first, True)):
        trial = _Layout(capacity)
        trial.place(cuttables, order, gaps=gaps)
        fewest.setdefault(len(trial.parts), (order, gaps))
    parts_allowed, (order, gaps) = min(fewest.items())
    layout = _Layout(capacity)
    # Keeping statements whole costs a trial placement per part: not worth it where no user may attach that many.
    tidy = parts_allowed <= _TIDY_PARTS_MAX
    layout.place(cuttables, order, gaps=gaps, parts_allowed=parts_allowed if tidy else None)
    problems = _sid_clashes(document, layout, where)
    parts = [
        PolicyDocument(tuple(piece.statement(cuttables[piece.index]) for piece in sorted(part)), id=document.id)
        for part in layout.parts
    ]
    oversized = [(number, size) for number, part in enumerate(parts, 1) if (size := iam_size(part)) > limit]
    if oversized:
        # The packing's own arithmetic says every part fits; this measures what will really be sent.
        number, size = oversized[0]
        problems.append(
            Problem(
                where,
                "",
                f"was split into a part {number} of {size} characters, over IAM's {limit}: a fault of this tool",
                "report it with the policy; meanwhile split the statements by hand",
            )
        )
    return ([], problems) if problems else (parts, [])


@dataclass(frozen=True, slots=True)
class _Cuttable:
    """A statement as the packing sees it: what each piece repeats, and the list it may be cut along."""

    statement: Statement
    head: int
    """Characters of the statement with an empty ``along`` list (the whole statement when it is never cut)."""
    along: _List | None
    units: tuple[str, ...] = ()
    ends: tuple[int, ...] = (0,)
    """``ends[n]``: characters of the first ``n`` units, each with the comma after it."""

    @classmethod
    def of(cls, statement: Statement, capacity: int) -> _Cuttable:
        """``statement``, cut along the list whose pieces repeat the least, if a list can be cut into pieces that fit."""
        options = [
            cls.along_list(statement, along)
            for along in _LISTS
            if _may_cut(statement, along) and len(getattr(statement, along)) > 1
        ]
        fitting = [option for option in options if option.fits(capacity)]
        if fitting:
            return min(fitting, key=lambda option: option.head)
        return cls(statement, normalised_size(statement.to_json_value()), None)

    @classmethod
    def along_list(cls, statement: Statement, along: _List) -> _Cuttable:
        """``statement`` cut along ``along``."""
        units = tuple(getattr(statement, along))
        head = normalised_size(_with_list(statement, along, ()).to_json_value())
        return cls(statement, head, along, units, (0, *accumulate(normalised_size(unit) + 1 for unit in units)))

    def fits(self, capacity: int) -> bool:
        """Whether a piece of its largest unit fits an empty part, whatever the piece's number."""
        largest = max(self.ends[n + 1] - self.ends[n] for n in range(len(self.units)))
        return self.head + _suffix_length(self.statement.sid, len(self.units)) + largest <= capacity

    @property
    def whole(self) -> int:
        """Characters of the whole statement with the comma after it."""
        return self.cost(0, len(self.units), 1)

    def cost(self, start: int, end: int, number: int) -> int:
        """Characters of the piece holding units ``start:end`` as piece ``number``, with the comma after it."""
        if self.along is None:
            return self.head + 1
        return self.head + _suffix_length(self.statement.sid, number) + self.ends[end] - self.ends[start]

    def most(self, start: int, number: int, room: int) -> int:
        """How many units from ``start`` fit ``room`` as piece ``number`` (0 when it is never cut)."""
        if self.along is None:
            return 0
        budget = room - self.head - _suffix_length(self.statement.sid, number)
        return max(0, bisect_right(self.ends, self.ends[start] + budget) - 1 - start)


@dataclass(frozen=True, slots=True, order=True)
class _Piece:
    """Units ``start:end`` of statement ``index``, its piece ``number`` (1: the first, which keeps the Sid)."""

    index: int
    start: int
    end: int
    number: int

    def statement(self, cuttable: _Cuttable) -> Statement:
        """The piece as a statement."""
        statement = cuttable.statement
        if cuttable.along is not None and (self.start, self.end) != (0, len(cuttable.units)):
            statement = _with_list(statement, cuttable.along, cuttable.units[self.start : self.end])
        if self.number > 1 and statement.sid is not None:
            statement = replace(statement, sid=f"{statement.sid}{_PART}{self.number}")
        return statement


@dataclass(slots=True)
class _Layout:
    """Parts being filled: the room left in each, and the pieces in it, in statement order."""

    capacity: int
    rooms: list[int] = field(default_factory=list)
    parts: list[list[_Piece]] = field(default_factory=list)

    def place(
        self, cuttables: list[_Cuttable], order: list[int], *, gaps: bool, parts_allowed: int | None = None
    ) -> None:
        """Place the statements ``order`` names, in that order, each whole into the first part with room, or cut.

        A statement that fits no part's room is cut: its pieces fill the last part's room (with ``gaps``, every
        part's room in turn), then new parts. With ``parts_allowed``, one that fits an empty part goes whole into
        a new part instead when the rest still fits that many parts.
        """
        for at, index in enumerate(order):
            cuttable = cuttables[index]
            whole = cuttable.whole
            part = next((n for n, room in enumerate(self.rooms) if whole <= room), None)
            if part is not None:
                self._add(part, _Piece(index, 0, len(cuttable.units), 1), whole)
                continue
            rooms = range(0 if gaps else max(0, len(self.rooms) - 1), len(self.rooms))
            cut = any(cuttable.most(0, 1, self.rooms[part]) for part in rooms)
            if cut and parts_allowed is not None and whole <= self.capacity:
                kept_whole = _Layout(self.capacity, list(self.rooms), [list(pieces) for pieces in self.parts])
                kept_whole.open(_Piece(index, 0, len(cuttable.units), 1), whole)
                kept_whole.place(cuttables, order[at + 1 :], gaps=gaps)
                cut = len(kept_whole.rooms) > parts_allowed
            start, number, end = 0, 1, len(cuttable.units)
            if not cut and whole <= self.capacity:
                self.open(_Piece(index, start, end, number), whole)
                continue
            for part in rooms if cut else ():
                if (cost := cuttable.cost(start, end, number)) <= self.rooms[part]:
                    self._add(part, _Piece(index, start, end, number), cost)
                    start = end
                    break
                if taken := cuttable.most(start, number, self.rooms[part]):
                    piece = _Piece(index, start, start + taken, number)
                    self._add(part, piece, cuttable.cost(start, start + taken, number))
                    start, number = start + taken, number + 1
            while start < end:
                # At least one unit, so that a fault in the arithmetic cannot loop: the result is measured anyway.
                taken = max(1, cuttable.most(start, number, self.capacity))
                self.open(_Piece(index, start, start + taken, number), cuttable.cost(start, start + taken, number))
                start, number = start + taken, number + 1

    def open(self, piece: _Piece, cost: int) -> None:
        """Start a new part with ``piece``."""
        self.rooms.append(self.capacity - cost)
        self.parts.append([piece])

    def _add(self, part: int, piece: _Piece, cost: int) -> None:
        self.rooms[part] -= cost
        self.parts[part].append(piece)


def _with_list(statement: Statement, along: _List, units: tuple[str, ...]) -> Statement:
    return replace(statement, actions=units) if along == "actions" else replace(statement, resources=units)


def _suffix_length(sid: str | None, number: int) -> int:
    return 0 if number == 1 or sid is None else len(f"{_PART}{number}")


def _may_cut(statement: Statement, along: _List) -> bool:
    """Whether pieces cut along ``along`` together match exactly the requests the statement matches.

    A statement matches a request when the action is in its Action list (or in none of its NotAction list),
    the resource is in its Resource list (or in none of its NotResource list), and its Condition holds. Cutting
    an Action or Resource list keeps that: a request matches one piece exactly when it matches the whole.
    Cutting a NotAction or NotResource list does not (every piece matches what the others list), and a
    NotAction statement is not cut at all.
    """
    if statement.negated_actions:
        return False
    return along == "actions" or (not statement.negated_resources and isinstance(statement.resources, tuple))


def _unplaceable(cuttable: _Cuttable, index: int, capacity: int, *, where: str, limit: int) -> Problem | None:
    """The problem with a statement that fits no part, even cut, or ``None``."""
    statement = cuttable.statement
    if cuttable.along is not None or cuttable.whole <= capacity:
        return None
    size = normalised_size(statement.to_json_value())
    verb = statement.effect.lower()
    article = "an" if statement.effect == "Allow" else "a"
    given = f"Sid {statement.sid!r}" if statement.sid else ""
    if statement.negated_actions:
        return Problem(
            f"{where}: Statement[{index}]",
            given,
            f"is {size} characters, over IAM's {limit} for a whole policy, and is {article} {statement.effect} with "
            f"NotAction, which is never cut: each piece would {verb} the actions the other pieces list, so "
            f"together they would {verb} every action instead of all but these {len(statement.actions)}",
            "shorten its NotAction list: a wildcard such as 'ec2:Describe*' names many actions in a few characters",
        )
    return Problem(
        f"{where}: Statement[{index}]",
        given,
        f"is {size} characters, over IAM's {limit} for a whole policy, and cannot be cut: "
        f"{_why_not_cut(statement, 'actions')}; {_why_not_cut(statement, 'resources')}",
        "shorten it, or write it as several statements, each with some of its actions and some of its resources",
    )


def _why_not_cut(statement: Statement, along: _List) -> str:
    listed = getattr(statement, along)
    if along == "resources" and statement.negated_resources:
        return "a NotResource list is never cut (each piece would match the resources the others list)"
    if along == "resources" and isinstance(listed, str):
        return f"it names the one resource {listed!r}"
    if len(listed) == 1:
        return f"it names the one {along[:-1]} {listed[0]!r}"
    other = "resources" if along == "actions" else "actions"
    with_condition = " and its Condition" if statement.condition is not None else ""
    return f"even one of its {along} with all its {other}{with_condition} is over the limit"


def _sid_clashes(document: PolicyDocument, layout: _Layout, where: str) -> list[Problem]:
    """A piece's ``PartN`` Sid that another statement has already."""
    taken = {statement.sid: index for index, statement in enumerate(document.statements) if statement.sid}
    problems = []
    for piece in (piece for part in layout.parts for piece in part if piece.number > 1):
        sid = document.statements[piece.index].sid
        if sid is not None and f"{sid}{_PART}{piece.number}" in taken:
            problems.append(
                Problem(
                    f"{where}: Statement[{piece.index}]",
                    f"Sid {sid!r}",
                    f"is cut into pieces, the piece {piece.number} getting the Sid '{sid}{_PART}{piece.number}', "
                    f"which Statement[{taken[f'{sid}{_PART}{piece.number}']}] has already; Sids must be unique",
                    "rename one of them",
                )
            )
    return problems
