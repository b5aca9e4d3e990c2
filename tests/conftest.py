"""Session fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from tests.terraform import Terraform, terraform_cli


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """Terraform with the provider mirror (skips, or fails in CI, if either is missing)."""
    return terraform_cli(tmp_path_factory.mktemp("terraform-cli"), with_provider_mirror=True)


@pytest.fixture(scope="session")
def terraform_without_providers(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """Terraform for configurations that use no provider (needs only the binary)."""
    return terraform_cli(tmp_path_factory.mktemp("terraform-cli"), with_provider_mirror=False)
