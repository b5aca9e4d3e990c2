"""User-supplied jinja2 templates: sandboxed, strict about unknown variables, errors as problems."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
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


def _refuse_undefined(value: Any) -> Any:
    """``tojson``'s fallback: an unknown variable fails as one, not as "not JSON serializable"."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _strict(environment: SandboxedEnvironment) -> SandboxedEnvironment:
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _refuse_undefined}
    return environment


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@lru_cache(maxsize=1)
def sandbox() -> SandboxedEnvironment:
    """The one environment every user template runs in: no attribute tricks, no unknown variables."""
    return _strict(
        _BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            # A template is one self-contained text: {% include %}, {% import %} and {% extends %} find nothing.
            loader=jinja2.DictLoader({}),
        )
    )


class _RootedLoader(jinja2.BaseLoader):
    """Partials for ``{% include %}`` and ``{% import %}``, from a few folders and nothing outside them.

    jinja2's own FileSystemLoader refuses ``..`` but follows symbolic links out of its folders; this one
    resolves every candidate and refuses what lands outside its root.
    """

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)  # raises TemplateNotFound for "..", as FileSystemLoader does
        for root in self.roots:
            base = root.resolve()
            candidate = base.joinpath(*pieces).resolve()
            if not candidate.is_relative_to(base) or not candidate.is_file():
                continue
            try:
                source = candidate.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as error:
                raise jinja2.TemplateNotFound(template, f"{candidate}: {error}") from None
            return source, str(candidate), lambda: True
        raise jinja2.TemplateNotFound(template)


@lru_cache(maxsize=8)
def _sandbox_with_partials(roots: tuple[Path, ...]) -> SandboxedEnvironment:
    return _strict(
        _BoundedSandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            loader=_RootedLoader(roots),
        )
    )


def variables_used(source: str) -> set[str]:
    """The variables a template reads (assumes it parses; :func:`render` reports when it does not)."""
    try:
        parsed = sandbox().parse(source)
    except jinja2.TemplateSyntaxError:
        return set()
    # meta.find_undeclared_variables() hides names of jinja2 globals, and `namespace` is one of them.
    return {node.name for node in parsed.find_all(nodes.Name) if node.ctx == "load"}


# Templates are parsed and compiled once per process: every environment renders the same naming templates,
# and compiling them again took 15 ms per environment (docs/performance.md). A failure is not cached.
@lru_cache(maxsize=512)
def _undeclared(source: str, partials: tuple[Path, ...]) -> frozenset[str]:
    """The variables (and unknown filters and tests) ``source`` uses; raises its syntax error."""
    environment = _sandbox_with_partials(partials) if partials else sandbox()
    return frozenset(meta.find_undeclared_variables(environment.parse(source)))


@lru_cache(maxsize=512)
def _compiled(source: str, partials: tuple[Path, ...]) -> jinja2.Template:
    environment = _sandbox_with_partials(partials) if partials else sandbox()
    return environment.from_string(source)


def render(
    source: str, variables: Mapping[str, Any], *, where: str, partials: tuple[Path, ...] = ()
) -> tuple[str | None, list[Problem]]:
    """Render ``source`` with exactly ``variables``; return the text, or ``None`` and the problems.

    ``partials``: folders whose templates ``{% include %}`` and ``{% import %}`` may load (none by default).
    """
    try:
        undeclared = _undeclared(source, partials)
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
        return _compiled(source, partials).render(**variables), []
    except jinja2.TemplateNotFound as error:
        if not partials:
            why = (
                f"loads the template {error.name!r} ({{% include %}}, {{% import %}} or {{% extends %}}), "
                "but templates cannot load other templates"
            )
            fix = "write the text of that template in place"
        else:
            folders = " and ".join(str(root) for root in partials)
            why = f"loads the template {error.name!r}, which is not a file under {folders}"
            fix = "name a partial by its path relative to one of those folders; nothing else can be loaded"
        return None, [Problem(where=where, given=show(source), why=why, fix=fix)]
    except jinja2.TemplateSyntaxError as error:  # in a partial: the template itself was parsed above
        return None, [
            Problem(
                where=f"{where}: {error.filename or error.name}",
                given="",
                why=f"is not a valid jinja2 template ({error.message}, line {error.lineno})",
                fix="fix the partial's syntax",
            )
        ]
    except Exception as error:  # user template code can raise anything: it is a problem to report, not a crash
        place = _template_line(error)
        return None, [
            Problem(
                where=where,
                given=show(source),
                why=f"failed to render{place} ({type(error).__name__}: {error})",
                fix="fix the template; it runs in a sandbox and sees only " + ", ".join(sorted(variables)),
            )
        ]


def _template_line(error: BaseException) -> str:
    """`` at line N`` (and the partial's file) of the template frame where ``error`` was raised, if any."""
    found = ""
    trace = error.__traceback__
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename == "<template>":
            found = f" at line {trace.tb_lineno}"
        elif filename.endswith(".j2"):
            found = f" at line {trace.tb_lineno} of {filename}"
        trace = trace.tb_next
    return found
