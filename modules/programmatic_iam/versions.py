"""Terraform version constraints: what write-only attributes need, and the same range in npm's semver syntax."""

from __future__ import annotations

import re

WRITE_ONLY_TERRAFORM = ">= 1.11.0"
"""Write-only arguments (``secret_string_wo``, ``value_wo``), which the store deliveries use, came in Terraform 1.11."""

_PART = re.compile(r"[ \t]*(=|!=|>=|<=|>|<|~>)?[ \t]*([0-9]+(?:\.[0-9]+){0,2})(-[0-9A-Za-z.]+)?[ \t]*")


def semver_range(constraint: str) -> str:
    """``constraint`` (Terraform's syntax, as the configuration checked it) as an npm semver range.

    CDK Terrain checks the Terraform features a stack uses against such a range (its ``targetVersions``).
    Versions are written out in full, because npm reads ``> 1.2`` as "above every 1.2.x" where Terraform
    means "above 1.2.0"; ``!=`` becomes two alternatives, each combined with the other parts.
    """
    alternatives = [""]
    for part in constraint.split(","):
        match = _PART.fullmatch(part)
        if match is None:
            raise ValueError(f"{constraint!r} is not a Terraform version constraint")
        operator, core, prerelease = match.group(1) or "=", match.group(2), match.group(3) or ""
        numbers = [int(number) for number in core.split(".")]
        version = ".".join(str(number) for number in [*numbers, 0, 0][:3]) + prerelease
        if operator == "=":
            options = [version]
        elif operator == "!=":
            options = [f"<{version}", f">{version}"]
        elif operator == "~>":
            # The rightmost given component may grow: ~> 1.2 is below 2.0.0, ~> 1.2.3 below 1.3.0.
            upper = [numbers[0] + 1, 0, 0] if len(numbers) < 3 else [numbers[0], numbers[1] + 1, 0]
            options = [f">={version} <{'.'.join(map(str, upper))}"]
        else:
            options = [f"{operator}{version}"]
        alternatives = [f"{alternative} {option}".strip() for alternative in alternatives for option in options]
    return " || ".join(alternatives)


def without_lower_floors(constraint: str) -> str:
    """``constraint`` without the ``>=`` parts that a higher ``>=`` part makes redundant, the rest as written.

    ``>= 1.10.0, >= 1.11.0`` (the configured floor, and the one the store deliveries add) reads as
    ``>= 1.11.0``: what a person reads in an exported module's ``versions.tf``. A floor with a pre-release
    suffix is kept, as is any constraint that is not one this module parses.
    """
    parts = [part.strip() for part in constraint.split(",")]
    floors: dict[int, tuple[int, ...]] = {}
    for index, part in enumerate(parts):
        match = _PART.fullmatch(part)
        if match is None:
            return constraint
        if match.group(1) == ">=" and match.group(3) is None:
            floors[index] = tuple([*map(int, match.group(2).split(".")), 0, 0][:3])
    if len(floors) < 2:
        return constraint
    highest = max(floors, key=lambda index: (floors[index], index))
    return ", ".join(part for index, part in enumerate(parts) if index not in floors or index == highest)
