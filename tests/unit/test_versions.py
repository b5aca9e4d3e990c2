"""Terraform version constraints: the floor that write-only arguments set, and npm's semver form for CDK Terrain."""

from __future__ import annotations

from pathlib import Path

import pytest

from programmatic_iam.spec import AccessKey
from programmatic_iam.versions import semver_range, without_lower_floors
from tests.support.helpers import blueprint_of


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (">= 1.10.0", ">=1.10.0"),
        (">= 1.10.0, >= 1.11.0", ">=1.10.0 >=1.11.0"),
        # npm reads a partial version as a range ("> 1.2" is above every 1.2.x): versions are written in full.
        ("> 1.2", ">1.2.0"),
        ("<= 2", "<=2.0.0"),
        ("1.11.0", "1.11.0"),
        ("= 1.12.0-beta1", "1.12.0-beta1"),
        # ~> lets the rightmost given component grow.
        ("~> 1.11", ">=1.11.0 <2.0.0"),
        ("~>1.11.2", ">=1.11.2 <1.12.0"),
        ("~> 1", ">=1.0.0 <2.0.0"),
        # != is two alternatives, each with every other part.
        ("!= 1.11.1, >= 1.11", "<1.11.1 >=1.11.0 || >1.11.1 >=1.11.0"),
    ],
)
def test_terraform_constraints_become_the_same_npm_semver_range(constraint: str, expected: str) -> None:
    assert semver_range(constraint) == expected


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (">= 1.10.0, >= 1.11.0", ">= 1.11.0"),
        (">= 1.12, >= 1.11.0", ">= 1.12"),
        (">=1.11, >= 1.11.0", ">= 1.11.0"),
        (">= 1.10.0, < 2.0.0, >= 1.11.0", "< 2.0.0, >= 1.11.0"),
        # Nothing redundant, or nothing this reads for sure: as written.
        (">= 1.10.0", ">= 1.10.0"),
        ("~> 1.10, >= 1.11.0", "~> 1.10, >= 1.11.0"),
        (">= 1.11.0-beta1, >= 1.11.0", ">= 1.11.0-beta1, >= 1.11.0"),
    ],
)
def test_a_floor_under_a_higher_floor_is_left_out(constraint: str, expected: str) -> None:
    assert without_lower_floors(constraint) == expected


@pytest.mark.parametrize("constraint", [">= one", ">= \u0665.0", ">=\u00a01.10"])
def test_a_constraint_the_configuration_would_refuse_is_an_error_not_a_guess(constraint: str) -> None:
    # Another script's digit or a no-break space: Python's \d and \s would take them, Terraform does not.
    with pytest.raises(ValueError, match="is not a Terraform version constraint"):
        semver_range(constraint)


@pytest.mark.parametrize(
    ("access_key", "required_version"),
    [
        ("", ">= 1.10.0"),
        ('delivery = "pgp"\npgp_key = "{key}"', ">= 1.10.0"),
        ('delivery = "secretsmanager"', ">= 1.10.0, >= 1.11.0"),
        ('delivery = "ssm"', ">= 1.10.0, >= 1.11.0"),
    ],
)
def test_stores_fed_through_write_only_arguments_ask_for_terraform_1_11(
    tmp_path: Path, access_key: str, required_version: str
) -> None:
    pgp_key = "mQENBGVz" + "A" * 60
    toml = f'[terraform]\nrequired_version = ">= 1.10.0"\n[access_key]\n{access_key.format(key=pgp_key)}\n'
    (stack,) = blueprint_of(toml, tmp_path).stacks
    assert stack.required_version == required_version


def test_a_user_whose_key_is_not_managed_writes_nothing_write_only() -> None:
    # The configuration refuses a delivery without a key; a library user can still build such a spec.
    assert not AccessKey(create=False, delivery="ssm").uses_write_only_arguments
    assert AccessKey(delivery="ssm").uses_write_only_arguments
