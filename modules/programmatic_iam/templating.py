"""User-supplied jinja2 templates: sandboxed, strict about unknown variables, errors as problems."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from .errors import Problem, did_you_mean, show

# What one operation in a template may build: far more than any name, description or policy needs, far
# less than what would exhaust memory ("{{ 'a' * 10**9 }}").
MAX_BUILT_LENGTH = 100_000


class _BoundedSandbox(SandboxedEnvironment):
    """jinja2's sandbox, which already bounds ``range``, with ``*`` and ``**`` bounded too."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_number(left) and _is_number(right) and abs(right) > 64:
            raise SecurityError(f"the power {right} is too large for a template")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and _is_number(count)
                    and len(sequence) * count > MAX_BUILT_LENGTH
                ):
                    raise SecurityError(f"the result would be over {MAX_BUILT_LENGTH} items long")
        return super().call_binop(context, operator, left, right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The one environment every user template runs in: no attribute tricks, no unknown variables."""
    return _BoundedSandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        # A template is one self-contained text: {% include %}, {% import %} and {% extends %} find nothing.
        loader=jinja2.DictLoader({}),
    )


def variables_used(source: str) -> set[str]:
    """The variables a template reads (assumes it parses; :func:`render` reports when it does not)."""
    try:
        parsed = sandbox().parse(source)
    except jinja2.TemplateSyntaxError:
        return set()
    # meta.find_undeclared_variables() hides names of jinja2 globals, and `namespace` is one of them.
    return {node.name for node in parsed.find_all(nodes.Name) if node.ctx == "load"}


def render(source: str, variables: Mapping[str, Any], *, where: str) -> tuple[str | None, list[Problem]]:
    """Render ``source`` with exactly ``variables``; return the text, or ``None`` and the problems."""
    environment = sandbox()
    try:
        parsed = environment.parse(source)
        undeclared = meta.find_undeclared_variables(parsed)  # also finds unknown filters and tests
    except jinja2.TemplateSyntaxError as error:
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"is not a valid jinja2 template ({error.message}, line {error.lineno})",
                fix="fix the template syntax",
            )
        ]
    unknown = sorted(undeclared - set(variables))
    if unknown:
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"uses the unknown variable {name!r}{did_you_mean(name, variables, casefold=False)}",
                fix=f"use only {', '.join(sorted(variables))}",
            )
            for name in unknown
        ]
    try:
        return environment.from_string(parsed).render(**variables), []
    except jinja2.TemplateNotFound as error:
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"loads the template {error.name!r} ({{% include %}}, {{% import %}} or {{% extends %}}), "
                "but templates cannot load other templates",
                fix="write the text of that template in place",
            )
        ]
    except Exception as error:  # user template code can raise anything: it is a problem to report, not a crash
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"failed to render ({type(error).__name__}: {error})",
                fix="fix the template; it runs in a sandbox and sees only " + ", ".join(sorted(variables)),
            )
        ]
