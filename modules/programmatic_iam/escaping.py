"""Keep user text literal in Terraform JSON, where every string is a template."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import re
from typing import Any, TypeVar, cast

from .errors import Problem, show

# cdktf encodes unresolved values as strings like "${TfToken[TOKEN.12]}"; one in user input would be
# replaced by an unrelated value, or abort synthesis.
_TOKEN_MARKER = "TfToken["
# A whole token as cdktf and CDK Terrain write it (string, list and map tokens; their VALID_KEY_CHARS).
_TOKEN = re.compile(r"[$#&]\{TfToken\[[a-zA-Z0-9:._-]+\]\}")
# jsii refuses this key in any map it carries to JavaScript, so synthesis would fail on it.
UNCARRIED_KEY = "__proto__"
TreeT = TypeVar("TreeT")


def escape_terraform_template(text: str) -> str:
    """Escape ``${`` and ``%{`` so Terraform reads ``text`` literally (``$${`` and ``%%{``)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def has_token_marker(text: str) -> bool:
    """Whether ``text`` contains a cdktf token marker."""
    return _TOKEN_MARKER in text


def has_template_sequence(text: str) -> bool:
    """Whether ``text`` holds ``${`` or ``%{``, the start of a template sequence. Where Terraform reads text as
    written (backend and cloud settings, version constraints) an escape would stay in the value, so such text
    cannot go there at all."""
    return "${" in text or "%{" in text


def literal_text(text: str) -> str:
    """``text`` escaped so Terraform reads it literally, but for the cdktf tokens in it: those are our own
    references, which cdktf writes as ``${aws_iam_user.user.name}``.

    Pass the final string, never parts to be joined later: ``"a$"`` and ``"{b}"`` need no escape, but joined
    they make a live ``${b}``. No user text holds a token: the configuration, the policy sources and every
    rendered value are checked for markers (:func:`token_marker_problems`).
    """
    tokens = _TOKEN.findall(text)
    pieces = [escape_terraform_template(piece) for piece in token_pieces(text)]
    return pieces[0] + "".join(token + piece for token, piece in zip(tokens, pieces[1:], strict=True))


def token_pieces(text: str) -> list[str]:
    """The text around the cdktf tokens in ``text`` (one piece more than there are tokens).

    Raises ``ValueError`` when a piece holds a marker that is not a whole token: no text of ours has one, and
    user text is refused before it gets here.
    """
    pieces = _TOKEN.split(text)
    if any(has_token_marker(piece) for piece in pieces):
        raise ValueError(f"{show(text)} holds a broken cdktf token marker; user text with one must be refused earlier")
    return pieces


def literal_tree(value: TreeT) -> TreeT:
    """``value`` with every string in it (map keys included, however deeply nested) through :func:`literal_text`;
    numbers, booleans, ``None`` and objects (constructs, structs, which went through the door when made) as
    they are."""
    result: Any = value
    if isinstance(value, str):
        result = literal_text(value)
    elif isinstance(value, Mapping):
        result = {literal_text(_carried_key(str(key))): literal_tree(item) for key, item in value.items()}
    elif isinstance(value, list):
        result = [literal_tree(item) for item in value]
    elif isinstance(value, tuple):
        result = tuple(literal_tree(item) for item in value)
    return cast(TreeT, result)


def literal_place_texts(value: Any) -> Iterator[str]:
    """Every string in ``value`` (map keys included) that cannot go where Terraform reads text without evaluating
    it: one with a template sequence (:func:`has_template_sequence`) or a token, which would stay as written."""
    if isinstance(value, str):
        if has_template_sequence(value) or has_token_marker(value):
            yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from literal_place_texts(str(key))
            yield from literal_place_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from literal_place_texts(item)


def _carried_key(key: str) -> str:
    if key == UNCARRIED_KEY:
        raise ValueError(f"the map key {UNCARRIED_KEY!r} cannot be carried to cdktf; the configuration refuses it")
    return key


def token_marker_problems(data: Any, where: str, path: str = "") -> Iterator[Problem]:
    """Every string (value or key) in nested ``data`` that holds a cdktf token marker."""
    if isinstance(data, str):
        if has_token_marker(data):
            yield _marker_problem(where, path, data)
    elif isinstance(data, Mapping):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            if has_token_marker(str(key)):
                yield _marker_problem(where, child, str(key))
            yield from token_marker_problems(value, where, child)
    elif isinstance(data, list | tuple):
        for index, item in enumerate(data):
            yield from token_marker_problems(item, where, f"{path}[{index}]")


def _marker_problem(where: str, path: str, value: str) -> Problem:
    return Problem(
        where=f"{where}: {path or '(top level)'}",
        given=show(value),
        why="contains a cdktf token marker ('TfToken['), which cdktf would replace with another value",
        fix="remove it; configuration values are literal text",
    )
