"""Problems found in user input, collected first and reported together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import difflib


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
        subject = f"{self.given} {self.why}" if self.given else self.why
        return f"{self.where}: {subject}\n    fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something accepted that a reviewer should know about."""

    where: str
    message: str

    def render(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(Exception):
    """Raised once, with every problem found, when the configuration cannot be used."""

    def __init__(
        self, problems: Sequence[Problem], partial: object | None = None, *, subject: str = "the configuration"
    ) -> None:
        """``partial``: the config with its broken values left at their defaults, so that later checks
        (names, policy) can still run on the rest and report their problems in the same breath."""
        self.problems = tuple(problems)
        self.partial = partial
        self.subject = subject
        super().__init__(self.render())

    def render(self, consequence: str = "") -> str:
        """Every problem, under a header that counts them and says ``consequence`` (what did not happen)."""
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in {self.subject}"
        header += f"; {consequence}:" if consequence else ":"
        return "\n".join([header, *(f"  - {p.render()}" for p in self.problems)])


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


class EngineError(ImportError):
    """The engine named by ``$PROGRAMMATIC_IAM_ENGINE`` is unknown or not installed (cdk/engine.py)."""
