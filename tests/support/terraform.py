"""Terraform in tests: skipped locally, failed in CI, when the binary or the provider mirror is missing."""

from __future__ import annotations

import fcntl
import json
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
    "Terraform",
    "TerraformError",
    "error_diagnostics",
    "render_diagnostics",
    "shared_plugin_cache",
    "terraform_cli",
    "unavailable",
]

PLUGIN_CACHE_VARIABLE = "TF_PLUGIN_CACHE_DIR"
_AWS_PROVIDER_ONLY = {"terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}}}


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when running in CI (``$CI`` set), where Terraform must be present."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error rather than a skip)", pytrace=False)
    pytest.skip(reason)


def shared_plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One provider plugin cache for the whole run, beside the folders of its workers (pytest-xdist's)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "terraform-plugin-cache"


def terraform_cli(directory: Path, *, with_provider_mirror: bool, plugin_cache: Path | None = None) -> Terraform:
    """Terraform set up to run in tests, its CLI config written in ``directory``.

    Skips (or, in CI, fails) the test when the binary or, if asked for, the provider mirror is missing. With
    ``plugin_cache``, every ``init`` takes the providers from that folder, filled from the mirror once.
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
    terraform = Terraform(binary=binary, env=terraform_environment(cli_config), mirror=mirror)
    if plugin_cache is None or mirror is None:
        return terraform
    cached = terraform.with_environment({**terraform.env, PLUGIN_CACHE_VARIABLE: str(plugin_cache)})
    _fill_plugin_cache(cached, plugin_cache, directory / "plugin-cache-fill")
    return cached


def _fill_plugin_cache(terraform: Terraform, cache: Path, scratch: Path) -> None:
    """Install the AWS provider into ``cache`` once, by whichever worker comes first.

    Terraform does not guarantee that two ``init``s installing into one cache at the same time are safe; once
    the provider is there, an ``init`` only links it, which they may do side by side.
    """
    cache.mkdir(parents=True, exist_ok=True)
    filled = cache / ".filled"
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if filled.exists():
            return
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "main.tf.json").write_text(json.dumps(_AWS_PROVIDER_ONLY), encoding="utf-8")
        terraform.run(["init", "-backend=false", "-input=false", "-no-color"], scratch)
        filled.touch()
