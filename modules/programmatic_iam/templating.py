"""User-supplied jinja2 templates: sandboxed, strict about unknown variables, errors as problems."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from .errors import Problem, did_you_mean, show


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The one environment every user template runs in: no attribute tricks, no unknown variables."""
    return SandboxedEnvironment(
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
    except jinja2.TemplateSyntaxError as error:
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"is not a valid jinja2 template ({error.message}, line {error.lineno})",
                fix="fix the template syntax",
            )
        ]
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(variables))
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
