"""The one way user JSON is read: a duplicated key, a number that is not finite or a deep nest is a problem.

Python's ``json`` (like most readers) silently keeps the last of two equal keys: two ``StringEquals`` blocks
in one Condition would lose the first one's scope, and ``"Effect": "Deny", "Effect": "Allow"`` would allow.
It also reads ``NaN``, ``Infinity`` and ``1e999`` as floats that no JSON writer can write back, and ``"\\ud800"``
as half a character that no UTF-8 writer can write. Every policy document, action list, rendered template and
plan goes through :func:`parse_json` instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
import json
import math
import re
import sys
from typing import Any

from .errors import Problem, show

MAX_DEPTH = 100
"""Arrays and objects nested deeper than this are refused: a Terraform plan nests about 10 levels, a policy 5."""
MAX_REPORTED = 10
"""Problems of one kind reported in full; the rest are counted in one more."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:/*@$-]+")


@dataclass(frozen=True, slots=True)
class _Refused:
    """Stands in for a number or constant while parsing, so that the walk afterwards can say where it was."""

    literal: str
    why: str = "is not a finite number (NaN and Infinity are not JSON, and 1e999 is too large for any reader)"


def parse_json(text: str, where: str, *, fix: str) -> tuple[Any, list[Problem]]:
    """``text`` as a JSON value, or ``None`` and every problem found (``where`` names the file; ``fix`` is
    what to do about text that is not JSON at all)."""
    duplicates: list[tuple[dict[str, Any], list[str]]] = []

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            duplicates.append((result, [key for key, count in counts.items() if count > 1]))
        return result

    try:
        data = json.loads(
            text,
            object_pairs_hook=pairs_to_dict,
            parse_float=_parse_float,
            parse_int=_parse_int,
            parse_constant=_Refused,  # NaN, Infinity, -Infinity
        )
    except json.JSONDecodeError as error:
        why = f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        return None, [Problem(where, "", why, fix)]
    except RecursionError:
        return None, [_too_deep(where, "")]
    problems = _walk(data, where, {id(found): keys for found, keys in duplicates})
    return (None, problems) if problems else (data, [])


def _parse_float(literal: str) -> float | _Refused:
    number = float(literal)
    return number if math.isfinite(number) else _Refused(literal)


def _parse_int(literal: str) -> int | _Refused:
    limit = sys.get_int_max_str_digits()
    if limit and len(literal.lstrip("-")) > limit:
        return _Refused(literal, f"is a number of more than {limit:,} digits, more than any reader converts")
    return int(literal)


def _walk(data: Any, where: str, duplicated: dict[int, list[str]]) -> list[Problem]:
    """Every duplicated key, refused number, lone surrogate and too deep nest in ``data``: by kind, each kind in
    document order, at most :data:`MAX_REPORTED` of a kind."""
    found: dict[str, list[Problem]] = {"duplicate": [], "number": [], "surrogate": [], "depth": []}
    for value, path, depth in _nodes(data):
        if depth > MAX_DEPTH:
            found["depth"].append(_too_deep(where, json_path(path[:3]) + "..."))
            continue
        if isinstance(value, dict):
            for key in duplicated.get(id(value), ()):
                in_condition = bool(path) and path[-1] == "Condition"
                found["duplicate"].append(_duplicate(where, json_path((*path, key)), key, in_condition=in_condition))
            for key in value:
                if _SURROGATE.search(key):
                    found["surrogate"].append(_surrogate(where, json_path((*path, key))))
        elif isinstance(value, _Refused):
            found["number"].append(_refused(where, json_path(path), value))
        elif isinstance(value, str) and _SURROGATE.search(value):
            found["surrogate"].append(_surrogate(where, json_path(path)))
    problems: list[Problem] = []
    for kind, listed in found.items():
        problems += listed[:MAX_REPORTED]
        if len(listed) > MAX_REPORTED:
            problems.append(
                Problem(
                    where, "", f"has {len(listed) - MAX_REPORTED} more problems like these ({kind})", "fix them too"
                )
            )
    return problems


def _nodes(data: Any) -> Iterator[tuple[Any, tuple[str | int, ...], int]]:
    """Each value with its path and depth, depth first in document order, without recursion (and no deeper
    than one past :data:`MAX_DEPTH`)."""
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(data, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        yield value, path, depth
        if depth > MAX_DEPTH:
            return
        if isinstance(value, dict):
            stack.extend((child, (*path, key), depth + 1) for key, child in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[index], (*path, index), depth + 1) for index in reversed(range(len(value))))


def json_path(path: tuple[str | int, ...]) -> str:
    """``Statement[0].Condition.StringEquals``; a key that is not plain text is shown quoted in brackets."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _PLAIN_KEY.fullmatch(step):
            text += f".{step}" if text else step
        else:
            text += f"[{show(step)}]"
    return text or "(top level)"


def _at(where: str, path: str) -> str:
    return f"{where}: {path}" if path else where


def _duplicate(where: str, path: str, key: str, *, in_condition: bool) -> Problem:
    fix = (
        f"merge them into one {show(key)} block: IAM requires every key of one operator's block to match"
        if in_condition
        else f"write {show(key)} once, with the value you mean (or what the copies hold, merged)"
    )
    return Problem(
        _at(where, path),
        "",
        f"is a key written more than once in the same object; JSON readers keep only the last {show(key)}, "
        "silently dropping the others",
        fix,
    )


def _refused(where: str, path: str, refused: _Refused) -> Problem:
    literal = refused.literal
    shown = literal if len(literal) <= 40 else f"{literal[:20]}... ({len(literal):,} characters)"
    return Problem(_at(where, path), shown, refused.why, "write a finite number of ordinary size, or a string")


def _surrogate(where: str, path: str) -> Problem:
    # The text itself is not shown: in a plan it may be a secret.
    return Problem(
        _at(where, path),
        "",
        "holds half of a UTF-16 surrogate pair (a \\ud800-\\udfff escape on its own), which is not a character",
        "write the character itself, or both halves of its pair",
    )


def _too_deep(where: str, path: str) -> Problem:
    return Problem(
        _at(where, path),
        "",
        f"nests arrays or objects more than {MAX_DEPTH} deep",
        "flatten it; no policy or Terraform plan nests that deep",
    )
