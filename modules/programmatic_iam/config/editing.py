"""The one writer of ``iam.toml``: sets and removes keys of one table as a person would, so that comments, order
and layout stay byte-identical everywhere else.

A table written under a header of its own (``[identities.environment.production.access_key]``, the form the docs
show) is edited line by line: a value replaced in place (its comment kept), a new key added after the table's
last key, a key removed with its line; a missing table is added as a new header at the end of its entry, before
the comments that introduce the next one. A table written inline or with dotted keys is edited with tomlkit,
which keeps the rest of the document as it was. Values are written as tomlkit renders them. The caller checks
the result with the real loader before writing it anywhere (``keys rotate`` does).

It knows nothing of rotations: ``rotation.py`` says which table and which keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import difflib
import re
import tomllib
from typing import Any

import tomlkit

TableKey = tuple[str | int, ...]

_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*(?P<name>[^\]#]+?)[ \t]*\]\]?[ \t]*(#.*)?$")
_KEY_LINE = re.compile(r"^[ \t]*(?P<key>[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')[ \t]*=")
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = re.compile(r"[ \t]*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_-]+)[ \t]*(?:\.|$)")
# A value as a person writes a rotation key: a number, a date, or a one-line string; then spaces and a comment.
_SIMPLE_VALUE = re.compile(
    r"^(?P<lead>[ \t]*)(?:\"[^\"\\]*\"|'[^']*'|[0-9][0-9:.T+-]*|true|false)(?P<rest>[ \t]*(#.*)?)$"
)


class EditRefusedError(Exception):
    """The file's shape does not allow the edit (a key that should be a table holds a value, a multi-line value)."""


@dataclass(frozen=True, slots=True)
class _Header:
    line: int
    path: TableKey
    """The table the header opens, entries of arrays of tables by their index: ``("identities", 1, "access_key")``."""
    is_array: bool


def edit_table(
    text: str,
    table: TableKey,
    writes: Sequence[tuple[str, Any]],
    removes: Sequence[str] = (),
    *,
    parsed: Mapping[str, Any] | None = None,
) -> str:
    """``text`` (a TOML document) with ``writes`` set and ``removes`` removed in ``table``; the table created (with
    a header, at the end of the entry it belongs to) when the file has none. Everything else is kept as it was.

    ``parsed``: the document as tomllib read it before a series of edits of different tables, so that each edit
    of a fleet's hundreds does not parse it again (a table an earlier edit created is found by its header)."""
    lines = text.splitlines(keepends=True)
    headers = _headers(lines)
    own = [header for header in headers if header.path == table and not header.is_array]
    if own:
        return "".join(_edit_lines(lines, headers, own[0], writes, removes))
    if _exists_elsewhere(tomllib.loads(text) if parsed is None else parsed, table):
        return _edit_with_tomlkit(text, table, writes, removes)
    return "".join(_add_table(lines, headers, table, writes))


def unified_diff(before: str, after: str, name: str) -> str:
    """The change from ``before`` to ``after`` as ``diff -u`` prints it, both sides named ``name``."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=f"a/{name}", tofile=f"b/{name}"
        )
    )


def header_of(table: TableKey) -> str:
    """The header that opens ``table``: ``[identities.environment.production.access_key]`` (indices are not part
    of a header: the entry is the one above it)."""
    return "[" + ".".join(_key_text(part) for part in table if isinstance(part, str)) + "]"


def _key_text(name: str) -> str:
    return name if _BARE.fullmatch(name) else tomlkit.string(name).as_string()


def _value_text(value: Any) -> str:
    return str(tomlkit.item(value).as_string())


def _headers(lines: Sequence[str]) -> list[_Header]:
    """Every table header of the document, with the table it opens. A line inside a multi-line string or array
    that looks like a header would be taken for one: the loader's check of the result refuses such an edit."""
    found: list[_Header] = []
    counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(lines):
        match = _HEADER.match(line.rstrip("\r\n"))
        if match is None:
            continue
        names = _split_key(match.group("name"))
        if names is None:
            continue
        is_array = match.group(1) == "[["
        path: list[str | int] = []
        for depth, name in enumerate(names):
            path.append(name)
            prefix = tuple(names[: depth + 1])
            last = depth == len(names) - 1
            if is_array and last:
                counts[prefix] = counts.get(prefix, -1) + 1
                path.append(counts[prefix])
            elif prefix in counts:
                path.append(counts[prefix])
        found.append(_Header(number, tuple(path), is_array))
    return found


def _split_key(text: str) -> list[str] | None:
    """The parts of a dotted key (``identities.environment."eu.prod"``); ``None`` when it is not one."""
    matches = list(_KEY_PART.finditer(text))
    if not matches or sum(len(m.group(0)) for m in matches) != len(text):
        return None
    return [_unquoted(m.group(1)) for m in matches]


def _unquoted(key: str) -> str:
    return str(next(iter(tomlkit.parse(f"{key} = 0")))) if key[0] in "\"'" else key


def _body(lines: Sequence[str], headers: Sequence[_Header], header: _Header) -> range:
    following = [h.line for h in headers if h.line > header.line]
    return range(header.line + 1, following[0] if following else len(lines))


def _key_of(line: str) -> str | None:
    match = _KEY_LINE.match(line)
    return None if match is None else _unquoted(match.group("key"))


def _edit_lines(
    lines: list[str],
    headers: Sequence[_Header],
    header: _Header,
    writes: Sequence[tuple[str, Any]],
    removes: Sequence[str],
) -> list[str]:
    body = _body(lines, headers, header)
    at = {key: number for number in body if (key := _key_of(lines[number])) is not None}
    edited = list(lines)
    added: list[str] = []
    for name, value in writes:
        if name in at:
            line = lines[at[name]]
            ending = line[len(line.rstrip("\r\n")) :]
            before, _, after = line.rstrip("\r\n").partition("=")
            match = _SIMPLE_VALUE.match(after)
            if match is None:
                raise EditRefusedError(f"{header_of(header.path)} {name}: its value is not a one-line value to replace")
            edited[at[name]] = f"{before}={match.group('lead')}{_value_text(value)}{match.group('rest')}{ending}"
        else:
            added.append(f"{_key_text(name)} = {_value_text(value)}\n")
    # A new key goes beside the keys written with it (``previous`` after ``generation``), else after the last key.
    beside = [at[name] for name, _ in writes if name in at]
    last_key = max(beside or at.values(), default=header.line)
    removed = {at[name] for name in removes if name in at}
    kept: list[str | None] = [None if number in removed else line for number, line in enumerate(edited)]
    kept[last_key + 1 : last_key + 1] = added
    return [line for line in kept if line is not None]


def _add_table(
    lines: list[str], headers: Sequence[_Header], table: TableKey, writes: Sequence[tuple[str, Any]]
) -> list[str]:
    """``lines`` with a new table after the last key of the entry it belongs to (the whole file for a top-level
    table), before the blank lines and comments that follow it, which introduce what comes next."""
    entry = next((i for i, part in enumerate(table) if isinstance(part, int)), None)
    if entry is None:
        scope = range(len(lines))
    else:
        opening = [h for h in headers if h.is_array and h.path == table[: entry + 1]]
        if not opening:
            raise EditRefusedError(f"{'.'.join(map(str, table[: entry + 1]))} is not an entry of the file")
        inside = [h for h in headers if h.line >= opening[0].line and h.path[: entry + 1] == table[: entry + 1]]
        after = [h.line for h in headers if h.line > opening[0].line and h not in inside]
        scope = range(opening[0].line, after[0] if after else len(lines))
    content = [n for n in scope if lines[n].strip() and not lines[n].lstrip().startswith("#")]
    at = content[-1] + 1 if content else len(lines)
    block = ["\n", header_of(table) + "\n", *(f"{_key_text(k)} = {_value_text(v)}\n" for k, v in writes)]
    edited = list(lines)
    if at > 0 and not edited[at - 1].endswith("\n"):
        edited[at - 1] += "\n"
    edited[at:at] = block
    return edited


def _exists_elsewhere(document: Mapping[str, Any], table: TableKey) -> bool:
    """Whether ``table`` is in the document without a header of its own (inline, or through dotted keys)."""
    container: Any = document
    try:
        for part in table:
            container = container[part]
    except (KeyError, IndexError, TypeError):
        return False
    return isinstance(container, dict)


def _edit_with_tomlkit(text: str, table: TableKey, writes: Sequence[tuple[str, Any]], removes: Sequence[str]) -> str:
    document = tomlkit.parse(text)
    container = _tomlkit_table(document, table)
    for name in removes:
        if name in container:
            del container[name]
    for name, value in writes:
        container[name] = value
    return document.as_string()


def set_list(text: str, table: TableKey, key: str, values: Sequence[str], comment: str, *, comment_prefix: str) -> str:
    """``text`` with ``key`` in ``table`` set to the strings ``values``, one a line, under the line ``# comment``.

    A comment an earlier such write left above the key (it starts with ``comment_prefix``) is replaced; any other
    comment is kept. The key's old value may span lines (an array). A table without a header of its own (inline,
    or dotted keys) is edited with tomlkit, the comment then following the array. Everything else is kept.
    """
    lines = text.splitlines(keepends=True)
    headers = _headers(lines)
    own = [header for header in headers if header.path == table and not header.is_array]
    if not own and _exists_elsewhere(tomllib.loads(text), table):
        return _set_list_with_tomlkit(text, table, key, values, comment)
    if not own:
        lines = _add_table(lines, headers, table, [])
        headers = _headers(lines)
        own = [header for header in headers if header.path == table and not header.is_array]
    body = _body(lines, headers, own[0])
    at = {name: number for number in body if (name := _key_of(lines[number])) is not None}
    block = [f"# {comment}\n", f"{_key_text(key)} = [\n", *(f"  {_value_text(value)},\n" for value in values), "]\n"]
    if key not in at:  # after the table's last value, which may span lines
        after = _value_end(lines, max(at.values())) + 1 if at else own[0].line + 1
        return "".join(lines[:after] + block + lines[after:])
    start, end = at[key], _value_end(lines, at[key])
    if start > 0 and lines[start - 1].lstrip().startswith(f"# {comment_prefix}"):
        start -= 1
    return "".join(lines[:start] + block + lines[end + 1 :])


def _value_end(lines: Sequence[str], start: int) -> int:
    """The last line of the value whose key is on line ``start``: an array may go on for lines."""
    depth = 0
    for number in range(start, len(lines)):
        quote = ""
        line = lines[number] if number > start else lines[number].partition("=")[2]
        for character in line:
            if quote:
                quote = "" if character == quote else quote
            elif character in "\"'":
                quote = character
            elif character == "#":
                break
            elif character in "[{":
                depth += 1
            elif character in "]}":
                depth -= 1
        if depth <= 0:
            return number
    raise EditRefusedError("an array that never ends")


def _set_list_with_tomlkit(text: str, table: TableKey, key: str, values: Sequence[str], comment: str) -> str:
    document = tomlkit.parse(text)
    container = _tomlkit_table(document, table)
    array = tomlkit.array()
    array.extend(values)
    array.multiline(True)
    array.comment(comment)
    container[key] = array
    return document.as_string()


def _tomlkit_table(document: Any, table: TableKey) -> Any:
    """``table`` of the tomlkit ``document``, to edit in place."""
    container: Any = document
    for part in table:
        container = container[part]
    if not hasattr(container, "__setitem__") or isinstance(container, list):
        raise EditRefusedError(f"{header_of(table)} is a value, not a table")
    return container
