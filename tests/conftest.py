"""Session fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator
import os

import pytest

from programmatic_iam_dev.emulator import AwsEmulator, running_emulator
from tests.support.engines import RUN_ENGINE, engine_environment
from tests.support.terraform import GO_GARBAGE_COLLECTION, Terraform, terraform_cli

# What the tests start (main.py, the CDK CLI and its `pipenv run`) uses this run's engine, with or without make.
os.environ.update(engine_environment(RUN_ENGINE))
# Terraform and the AWS provider (Go) collect garbage less often: each command then takes about a fifth less CPU
# (six `terraform validate`: 13.3 s of CPU, then 10.8 s), for about 40 MB more memory (docs/development.md).
os.environ.setdefault(*GO_GARBAGE_COLLECTION)

# Before any test module imports it, so that its checks (granted_actions) report like a test's own asserts.
pytest.register_assert_rewrite("tests.support.helpers")
# Each test's use of the engine, checked against its `engine` marker (CDK Terrain's run runs only those).
pytest_plugins = ["tests.support.engine_use"]

TERRAFORM_FIXTURES = frozenset({"terraform", "terraform_without_providers"})
EMULATOR_FIXTURES = frozenset({"aws_emulator"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs Terraform or the emulator by the fixtures it uses, however indirectly, so that
    `make test-fast` (which leaves those out) cannot be handed one by a forgotten marker; then put the modules
    that deploy first."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & TERRAFORM_FIXTURES:
            item.add_marker(pytest.mark.terraform)
        if used & EMULATOR_FIXTURES:
            item.add_marker(pytest.mark.emulator)
    items[:] = deploying_modules_first(items)


def deploying_modules_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The modules that use the emulator, then those that use Terraform, then the rest, each module whole and
    in its own order. The Makefile keeps this order for the workers (`--no-loadscope-reorder`): by default
    pytest-xdist hands out the modules with the most tests first, which left the slowest (a few long
    deployments each) for the end, one worker busy and the other idle."""
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.partition("::")[0]
        weight = 0 if item.get_closest_marker("emulator") else 1 if item.get_closest_marker("terraform") else 2
        rank[module] = min(weight, rank.get(module, weight))
    order = {module: (weight, index) for index, (module, weight) in enumerate(rank.items())}
    return sorted(items, key=lambda item: order[item.nodeid.partition("::")[0]])


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """Terraform with the provider mirror (skips, or fails in CI, if either is missing)."""
    return terraform_cli(tmp_path_factory.mktemp("terraform-cli"), with_provider_mirror=True)


@pytest.fixture(scope="session")
def terraform_without_providers(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """Terraform for configurations that use no provider (needs only the binary)."""
    return terraform_cli(tmp_path_factory.mktemp("terraform-cli"), with_provider_mirror=False)


@pytest.fixture(scope="session")
def aws_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsEmulator]:
    """moto's server on a free loopback port for the whole session; stopped at the end."""
    log = tmp_path_factory.mktemp("emulator") / "moto.log"
    with running_emulator(log) as emulator:
        yield emulator


@pytest.fixture
def aws(aws_emulator: AwsEmulator) -> AwsEmulator:
    """The emulator, emptied (and not enforcing IAM) before the test."""
    aws_emulator.reset()
    return aws_emulator


@pytest.fixture
def emulated_terraform(terraform: Terraform, aws: AwsEmulator) -> Terraform:
    """Terraform (with the provider mirror) whose AWS is the emptied emulator."""
    return terraform.with_environment(aws.environment(base=terraform.env))
