"""The review as one Markdown comment: rendered from ``templates/review/comment.md.j2``, cut to fit, secret-free.

GitHub refuses a comment over 65,536 characters. The verdict and the warnings always stay; then, in order,
the cuts are: per-action tables (least serious stacks first), whole stack details, the unchanged stacks'
rows, the other rows, the list of stacks under each warning, and (plans of several identities, which the comment
groups by identity) the identities' lines, least serious first. Every cut is said in the comment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
import html
from typing import Literal

import jinja2

from ..resources import templates_dir
from .review import VERDICTS, StackReview, Warning, verdict_line, verdict_tally

Where = Literal["text", "table", "html"]
"""Where a value from a plan goes in the comment: running text, a table cell, or inside an HTML block."""

MARKER = "<!-- programmatic-iam:review -->"
"""The hidden first line by which CI finds its one comment and edits it instead of adding another."""

GITHUB_COMMENT_LIMIT = 65_536
TEMPLATE = "comment.md.j2"


class SecretInCommentError(Exception):
    """The rendered comment contains a value the plan marks sensitive; it must not be printed."""


@dataclass(frozen=True, slots=True)
class WarningGroup:
    """One kind of warning and the stacks it concerns."""

    title: str
    why: str
    severity: str
    link: str
    entries: tuple[Warning, ...]


@dataclass(frozen=True, slots=True)
class IdentityRow:
    """One identity's line in the verdict of plans of several identities."""

    name: str | None
    """``None``: the stacks whose plans carry no ``programmatic-iam:identity`` tag."""
    stacks: int
    tally: str
    unchanged: bool


@dataclass(frozen=True, slots=True)
class Cuts:
    """How much of the comment is shown: each lever at its maximum shows everything."""

    action_tables: int
    details: int
    unchanged_rows: bool
    rows: int
    entries: int
    identities: int = 0


def render_comment(
    stacks: Sequence[StackReview],
    *,
    sensitive: frozenset[str] = frozenset(),
    limit: int = GITHUB_COMMENT_LIMIT,
    details_url: str = "",
) -> str:
    """The comment for ``stacks``, at most ``limit`` characters (UTF-16 code units, as GitHub counts).

    Raises :class:`SecretInCommentError` if any of ``sensitive`` (the plans' sensitive strings) would be printed.
    """
    ordered = sorted(stacks, key=lambda stack: (VERDICTS.index(stack.verdict), stack.label))
    identities = _identity_rows(ordered)
    if len(identities) > 1:  # grouped by identity, the most serious identity first; one identity: as before fleets
        rank = {row.name: position for position, row in enumerate(identities)}
        ordered = sorted(ordered, key=lambda stack: rank[stack.identity])
    else:
        identities = []
    groups = _group(ordered)
    most_entries = max((len(group.entries) for group in groups), default=0)
    cuts = Cuts(len(ordered), len(ordered), True, len(ordered), most_entries, len(identities))

    def render(cuts: Cuts) -> str:
        return _render(ordered, groups, identities, cuts, details_url, limit)

    text = render(cuts)
    for lever in ("action_tables", "details", "unchanged_rows", "rows", "entries", "identities"):
        if length(text) <= limit:
            break
        cuts, text = _shrink(cuts, lever, render, limit)
    if length(text) > limit:
        text = _truncate(text, limit, details_url)
    leaked = [secret for secret in sensitive if secret in text]
    if leaked:
        raise SecretInCommentError(
            f"the comment would show {len(leaked)} value(s) that the plan marks sensitive; nothing was printed"
        )
    return text


def length(text: str) -> int:
    """Characters as GitHub counts them against its limit (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _shrink(cuts: Cuts, lever: str, render: Callable[[Cuts], str], limit: int) -> tuple[Cuts, str]:
    """The largest setting of ``lever`` whose rendering fits (or its smallest, if none does)."""
    top = int(getattr(cuts, lever))
    low, high = 0, top
    best = _set(cuts, lever, 0)
    while low <= high:
        middle = (low + high) // 2
        candidate = _set(cuts, lever, middle)
        if length(render(candidate)) <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best, render(best)


def _identity_rows(ordered: Sequence[StackReview]) -> list[IdentityRow]:
    """Each identity of ``ordered`` (stacks sorted most serious first) with its stacks' verdicts, the identity with
    the most serious stack first, then by name (the untagged stacks' row after the named ones alike)."""
    by_identity: dict[str | None, list[StackReview]] = {}
    for stack in ordered:
        by_identity.setdefault(stack.identity, []).append(stack)
    rows = [
        IdentityRow(name, len(members), verdict_tally(members), all(s.verdict == "unchanged" for s in members))
        for name, members in by_identity.items()
    ]
    worst = {name: VERDICTS.index(members[0].verdict) for name, members in by_identity.items()}
    return sorted(rows, key=lambda row: (worst[row.name], row.name is None, row.name or ""))


def _set(cuts: Cuts, lever: str, value: int) -> Cuts:
    counts = {
        "action_tables": cuts.action_tables,
        "details": cuts.details,
        "rows": cuts.rows,
        "entries": cuts.entries,
        "identities": cuts.identities,
    }
    if lever == "unchanged_rows":
        return replace(cuts, unchanged_rows=bool(value))
    counts[lever] = value
    return Cuts(unchanged_rows=cuts.unchanged_rows, **counts)


def _group(stacks: Sequence[StackReview]) -> list[WarningGroup]:
    groups: dict[tuple[str, str, str], list[Warning]] = {}
    for stack in stacks:
        for warning in stack.warnings:
            groups.setdefault((warning.severity, warning.title, warning.why), []).append(warning)
    order = {"high": 0, "medium": 1}
    return [
        WarningGroup(title, why, severity, entries[0].link, tuple(entries))
        for (severity, title, why), entries in sorted(groups.items(), key=lambda item: order.get(item[0][0], 2))
    ]


def _render(
    stacks: Sequence[StackReview],
    groups: Sequence[WarningGroup],
    identities: Sequence[IdentityRow],
    cuts: Cuts,
    details_url: str,
    limit: int,
) -> str:
    changed = [stack for stack in stacks if stack.verdict != "unchanged"]
    rows = [stack for stack in stacks if cuts.unchanged_rows or stack.verdict != "unchanged"][: cuts.rows]
    with_details = changed[: cuts.details]
    return _template().render(
        marker=MARKER,
        verdict=verdict_line(stacks),
        nothing_changes=not changed and not groups,
        groups=groups,
        entries=cuts.entries,
        cut_entries=any(len(group.entries) > cuts.entries for group in groups),
        rows=rows,
        hidden_unchanged=[s.label for s in stacks if s.verdict == "unchanged"] if not cuts.unchanged_rows else [],
        hidden_rows=len([s for s in stacks if cuts.unchanged_rows or s.verdict != "unchanged"]) - len(rows),
        details=with_details,
        action_tables={stack.label for stack in with_details[: cuts.action_tables]},
        cut_actions=[s.label for s in with_details[cuts.action_tables :] if s.permissions.changed],
        cut_details=[s.label for s in changed[cuts.details :]],
        details_url=details_url,
        limit=limit,
        grouped=bool(identities),
        identities=identities[: cuts.identities],
        hidden_identities=identities[cuts.identities :],
    )


def _truncate(text: str, limit: int, details_url: str) -> str:
    """As much of ``text`` as fits before a closing note, to exactly ``limit`` (one less if the character at the
    cut takes two UTF-16 units: a surrogate pair is never split)."""
    where = f" The full plans: {details_url}" if details_url else ""
    note = f"\n\n_Cut here to stay within {limit:,} characters.{where}_\n"
    budget = limit - length(note)
    used = 0
    for index, character in enumerate(text):
        used += 2 if ord(character) > 0xFFFF else 1
        if used > budget:
            return text[:index] + note
    return text + note


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir("review")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["code"] = inline_code
    environment.filters["fenced"] = fenced
    environment.filters["phrase"] = lambda phrase, where="text": phrase.render(lambda name: inline_code(name, where))
    environment.filters["plural"] = lambda count, word: f"{count} {word}{'' if count == 1 else 's'}"
    return environment.get_template(TEMPLATE)


def inline_code(value: object, where: Where = "text") -> str:
    """``value`` (any text from a plan) as code that nothing in it can break out of, shown as it is.

    ``where`` it goes: running Markdown ``text``, a ``table`` cell (where ``|`` would end the cell, so it is
    escaped there and only there), or inside an ``html`` block such as ``<summary>`` (where Markdown is not
    read, so the code is an HTML element and the text is HTML-escaped). In every case the text stays on one
    line, with line breaks and other invisible characters shown as escapes (:func:`visible`): a newline
    would end the code span, a blank line the HTML block, and ``<!--`` on a line of its own would hide the
    rest of the comment.
    """
    text = visible(str(value))
    if where == "html":
        return f"<code>{html.escape(text)}</code>"
    if where == "table":
        text = text.replace("|", "\\|")
    if not text:
        return "` `"
    fence = "`" * (max((len(run) for run in _backtick_runs(text)), default=0) + 1)
    # One space inside each end keeps a backtick at the edge apart from the fence; Markdown removes one
    # space from each end when both have one, so a text starting or ending with a space is padded too.
    edges = (text[0], text[-1])
    padding = " " if ("`" in edges or " " in edges) and text.strip(" ") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def visible(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, controls, bidirectional and
    zero-width marks, lone surrogates) written as a Python escape such as ``\\n`` or ``\\u202e``."""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else _escape(character) for character in text)


def _escape(character: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if character in named:
        return named[character]
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def fenced(lines: Sequence[str], language: str = "") -> str:
    """``lines`` as a fenced code block whose fence is longer than any backtick run inside; each line shown
    with :func:`visible`, so none can hold a line break of its own."""
    body = "\n".join(visible(line) for line in lines)
    fence = "`" * max(3, max((len(run) for run in _backtick_runs(body)), default=0) + 1)
    return f"{fence}{language}\n{body}\n{fence}"


def _backtick_runs(text: str) -> list[str]:
    runs, current = [], ""
    for character in text:
        if character == "`":
            current += character
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs
