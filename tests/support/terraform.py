"""Terraform in tests: skipped locally, failed in CI, when the binary or the provider mirror is missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from programmatic_iam_dev.terraform import (
    MIRROR_SEARCH_DEPTH,
    MIRROR_VARIABLE,
    PROVIDER,
    TERRAFORM_VARIABLE,
    Terraform,
    TerraformError,
    cli_config_text,
    error_diagnostics,
    find_provider_mirror,
    find_terraform,
    mirror_search_roots,
    render_diagnostics,
    terraform_environment,
)

__all__ = [
    "GO_GARBAGE_COLLECTION",
    "Terraform",
    "TerraformError",
    "error_diagnostics",
    "render_diagnostics",
    "terraform_cli",
    "unavailable",
]

GO_GARBAGE_COLLECTION = ("GOGC", "400")
"""Go's garbage collector for Terraform and its provider in the tests: at 400 (Go's default is 100) it runs a
quarter as often, which takes a fifth off each command's CPU time on this suite's two cores."""


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when running in CI (``$CI`` set), where Terraform must be present."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error rather than a skip)", pytrace=False)
    pytest.skip(reason)


def terraform_cli(directory: Path, *, with_provider_mirror: bool) -> Terraform:
    """Terraform set up to run in tests, its CLI config written in ``directory``.

    Skips (or, in CI, fails) the test when the binary or, if asked for, the provider mirror is missing.
    """
    binary = find_terraform()
    if binary is None:
        unavailable(f"the terraform binary was not found (set ${TERRAFORM_VARIABLE} or put it on PATH)")
    mirror = find_provider_mirror()
    if mirror is None and with_provider_mirror and os.environ.get(MIRROR_VARIABLE):
        unavailable(
            f"${MIRROR_VARIABLE} ({os.environ[MIRROR_VARIABLE]}) is not a filesystem mirror of "
            f"{'/'.join(PROVIDER)}: it should hold {'/'.join(PROVIDER)}/<version>/<os_arch>/"
        )
    if mirror is None and with_provider_mirror:
        roots = ", ".join(str(root) for root in mirror_search_roots())
        unavailable(
            f"no filesystem mirror of {'/'.join(PROVIDER)} found: set ${MIRROR_VARIABLE} to the folder "
            f"holding {PROVIDER[0]}/ (searched {MIRROR_SEARCH_DEPTH} levels below {roots})"
        )
    cli_config = directory / "terraform.tfrc"
    cli_config.write_text(cli_config_text(mirror), encoding="utf-8")
    return Terraform(binary=binary, env=terraform_environment(cli_config), mirror=mirror)
