"""The rotation schedule's branch names: derived from names users write, so escaped until git accepts any of them."""

from __future__ import annotations

import subprocess

import pytest

from programmatic_iam.rotation_prs import MAX_BRANCH_PART, branch_name, branch_part

HOSTILE = [
    "production",
    "a b",
    "..",
    ".hidden",
    "x.lock",
    "@{-1}",
    "-rf",
    "a/b",
    "a\\b",
    "~^:?*[",
    "$(touch pwned)",
    "line\nbreak",
    "ünï",
    "%41",
    "A",
]


def check_ref_format(branch: str) -> bool:
    return (
        subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, check=False).returncode
        == 0
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_every_name_makes_a_branch_git_accepts(name: str) -> None:
    branch = branch_name(name, name)
    assert check_ref_format(branch), branch
    assert branch.count("/") == 2 and branch.startswith("rotation/")


def test_no_two_names_share_a_branch() -> None:
    parts = [branch_part(name) for name in HOSTILE]
    assert len(set(parts)) == len(HOSTILE)
    assert branch_part("backup_2-prod") == "backup_2-prod"  # the usual names read as they are written
    assert branch_part("api.v2") == "api%2Ev2"


@pytest.mark.parametrize(("name", "why"), [("", "is empty"), ("é" * 40, "more than 200")])
def test_rejects_a_name_that_cannot_be_a_branch(name: str, why: str) -> None:
    assert len("é" * 40) * 6 > MAX_BRANCH_PART
    with pytest.raises(ValueError, match=why):
        branch_part(name)
