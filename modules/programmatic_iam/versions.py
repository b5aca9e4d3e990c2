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
