"""Keep user text literal in Terraform JSON, where every string is a template."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import Problem, show

# cdktf encodes unresolved values as strings like "${TfToken[TOKEN.12]}"; one in user input would be
# replaced by an unrelated value, or abort synthesis.
_TOKEN_MARKER = "TfToken["


def escape_terraform_template(text: str) -> str:
    """Escape ``${`` and ``%{`` so Terraform reads ``text`` literally (``$${`` and ``%%{``)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def has_token_marker(text: str) -> bool:
    """Whether ``text`` contains a cdktf token marker."""
    return _TOKEN_MARKER in text


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
