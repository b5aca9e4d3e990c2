"""Problems found in user input, collected first and reported together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import difflib
import json
import re


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input: where it is, what was given, why it is wrong, how to fix it."""

    where: str
    """The file, then the key path (for example ``iam.toml: naming.user``)."""
    given: str
    """The offending value as the user wrote it (``repr`` for strings); empty when nothing was given."""
    why: str
    fix: str

    def render(self) -> str:
        """``where: given why`` and ``fix: ...``, every part with its control characters escaped."""
        where, given, why, fix = (printable(part) for part in (self.where, self.given, self.why, self.fix))
        subject = f"{given} {why}" if given else why
        return f"{where}: {subject}\n    fix: {fix}"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something accepted that a reviewer should know about."""

    where: str
    message: str

    def render(self) -> str:
        """``where: message``, control characters escaped."""
        return f"{printable(self.where)}: {printable(self.message)}"

    def warning(self) -> str:
        """The line every command prints for it: ``warning: where: message``."""
        return f"warning: {self.render()}"


class ConfigError(Exception):
    """Raised once, with every problem found, when the configuration cannot be used."""

    def __init__(
        self,
        problems: Sequence[Problem],
        partial: object | None = None,
        *,
        subject: str = "the configuration",
        notices: Sequence[Notice] = (),
    ) -> None:
        """``partial``: the config with its broken values left at their defaults, so that later checks
        (names, policy) can still run on the rest and report their problems in the same breath.
        ``notices``: the warnings found on the way, printed after the problems (a user fixing the problems
        should not meet them only on the next run)."""
        self.problems = tuple(problems)
        self.partial = partial
        self.subject = subject
        self.notices = tuple(dict.fromkeys(notices))
        super().__init__(self.render())

    def render(self, consequence: str = "", *, warnings: bool = True) -> str:
        """Every problem, under a header that counts them and says ``consequence`` (what did not happen), then
        every warning (unless ``warnings`` is false), each on a line of its own."""
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in {printable(self.subject)}"
        header += f"; {consequence}:" if consequence else ":"
        lines = [header, *(f"  - {p.render()}" for p in capped_per_key(self.problems))]
        return "\n".join(lines + ([notice.warning() for notice in self.notices] if warnings else []))


PROBLEMS_PER_KEY_MAX = 20
"""How many problems of one key (list items counted together) are printed; the rest are counted."""
PROBLEMS_MAX = 200
"""How many problems are printed in all (a file of 100,000 unknown keys); the rest are counted."""
SUGGESTIONS_MAX = PROBLEMS_PER_KEY_MAX
"""How many "did you mean" searches a list (or a document, or the file's keys) gets: each costs up to
milliseconds, and problems past the first few of a key are not printed one by one anyway."""
_INDEX = re.compile(r"\[[0-9]+\]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(*parts: str | int) -> str:
    """A configuration key as every problem and warning names it: dotted, list items by their index in the
    file, counted from 0 (``key_path("environments", 1, "region")`` is ``environments[1].region``).

    A part may itself be dotted (``"naming.user"``). One form everywhere, so that a user can search the
    output for a key, and the loader and the later checks name the same key the same way.
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def rendered_for(key: str, environment: str, identity: str | None = None) -> str:
    """A key whose template is rendered once per environment (``naming.user``), as a problem of one
    rendering names it: ``naming.user (environment 'staging')``, or with the identity of a fleet it is
    rendered for, ``naming.user (identity 'backup', environment 'staging')``. Keys inside an environment's
    entry are named by :func:`key_path` instead (``environments[1].region``)."""
    if identity is not None:
        return f"{key} (identity {identity!r}, environment {environment!r})"
    return f"{key} (environment {environment!r})"


_QUOTED = r"""(?:'[^']*'|"[^"]*")"""
_RENDERED_FOR_IDENTITY = re.compile(rf" \(identity {_QUOTED}, environment {_QUOTED}\)$")


def merged_renderings(problems: Sequence[Problem]) -> list[Problem]:
    """``problems`` with those that differ only in which identity's rendering they name (``naming.user (identity
    'a', environment 'staging')``) merged into the first, which counts the others: a template written once at the
    top level and broken alike for 600 stacks is one problem, not 600."""
    groups: dict[tuple[str, str, str, str], list[Problem]] = {}
    for problem in dict.fromkeys(problems):
        written = _RENDERED_FOR_IDENTITY.sub("", problem.where)
        groups.setdefault((written, problem.given, problem.why, problem.fix), []).append(problem)
    merged = []
    for group in groups.values():
        first, others = group[0], len(group) - 1
        if others:
            where = f"{first.where[:-1]}, and {others} other stack{'s' if others != 1 else ''} alike)"
            first = Problem(where, first.given, first.why, first.fix)
        merged.append(first)
    return merged


def table_name(name: str) -> str:
    """A name as a key of a table names it: bare when TOML allows (``production``), else quoted (``"eu.prod"``),
    so that ``identities[0].environment."eu.prod".user`` stays one key per part."""
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def capped_per_key(problems: Sequence[Problem], limit: int = PROBLEMS_PER_KEY_MAX) -> list[Problem]:
    """The first ``limit`` problems of each key, then one that counts the rest of that key; at most
    :data:`PROBLEMS_MAX` in all, then one that counts the rest.

    Items of a list count as one key (``policy.actions[3]`` and ``[4]``): 100,000 misspelt actions
    print as twenty and a count, not as 200,000 lines.
    """
    keys = [_INDEX.sub("[]", problem.where) for problem in problems]
    totals = Counter(keys)
    if max(totals.values(), default=0) <= limit:
        return _capped_in_all(list(problems))
    seen: Counter[str] = Counter()
    shown: list[Problem] = []
    for problem, key in zip(problems, keys, strict=True):
        seen[key] += 1
        if seen[key] <= limit:
            shown.append(problem)
        elif seen[key] == limit + 1:
            rest = totals[key] - limit
            shown.append(
                Problem(
                    f"{problem.where} and after",
                    "",
                    f"{rest:,} more problem{'s' if rest != 1 else ''} like the ones above, not listed one by one",
                    "fix the ones above, then check again to see the rest",
                )
            )
    return _capped_in_all(shown)


def _capped_in_all(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= PROBLEMS_MAX:
        return problems
    rest = len(problems) - PROBLEMS_MAX
    return [
        *problems[:PROBLEMS_MAX],
        Problem(
            f"{problems[PROBLEMS_MAX].where} and after",
            "",
            f"{rest:,} more problems, not listed one by one",
            "fix the ones above, then check again to see the rest",
        ),
    ]


def closest_match(given: str, choices: Iterable[str], *, casefold: bool = True) -> str | None:
    """The choice most like ``given``, or ``None`` when nothing is close."""
    options = list(choices)
    if casefold:
        by_fold = {c.casefold(): c for c in options}
        matches = difflib.get_close_matches(given.casefold(), list(by_fold), n=1, cutoff=0.6)
        return by_fold[matches[0]] if matches else None
    matches = difflib.get_close_matches(given, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(given: str, choices: Iterable[str], *, casefold: bool = True) -> str:
    """``"; did you mean 'x'?"`` to append to a reason, or ``""`` when nothing is close."""
    match = closest_match(given, choices, casefold=casefold)
    return f"; did you mean {match!r}?" if match else ""


def show(value: object) -> str:
    """How a given value is shown in a problem: strings quoted, long values shortened."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on (controls, bidi overrides, line separators)
    written as a Python escape (``\\x1b``, ``\\u202e``), so that no part of a message reaches the terminal raw."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class EngineError(ImportError):
    """The engine named by ``$PROGRAMMATIC_IAM_ENGINE`` is unknown or not installed (cdk/engine.py)."""
