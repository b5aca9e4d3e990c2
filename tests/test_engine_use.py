"""The `engine` marker is checked, not trusted (tests/support/engine_use.py): a pytest run of sample tests."""

from __future__ import annotations

import os
from pathlib import Path
import sys
from xml.etree import ElementTree

from tests.support.engines import RUN_ENGINE
from tests.support.helpers import REPO, base_environment, run_command

SAMPLES = """
import subprocess
import sys

import pytest

from tests.support.helpers import REPO, base_environment, synth


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    return synth(None, tmp_path_factory.mktemp("synthesized"))


def test_plain():
    assert True


def test_unmarked_synth(tmp_path):
    synth(None, tmp_path)


@pytest.mark.engine
def test_marked_synth(tmp_path):
    synth(None, tmp_path)


@pytest.mark.engine
def test_marked_without_the_engine():
    assert True


def test_unmarked_app_in_a_subprocess(tmp_path):
    env = {**base_environment(), "PYTHONPATH": str(REPO / "modules")}
    subprocess.run([sys.executable, str(REPO / "main.py")], cwd=tmp_path, env=env, check=True, capture_output=True)


@pytest.mark.engine
def test_marked_first_user_of_the_fixture(synthesized):
    assert synthesized


def test_unmarked_second_user_of_the_fixture(synthesized):
    assert synthesized


@pytest.mark.engine("cdktn" if "{run_engine}" == "cdktf" else "cdktf")
def test_marked_for_the_other_engine_only(tmp_path):
    synth(None, tmp_path)


def test_unmarked_failing_synth(tmp_path):
    synth(None, tmp_path)
    assert False, "failed for its own reasons"
"""
OTHER_SAMPLES = """
import pytest


@pytest.fixture(scope="module")
def synthesized():
    return "a fixture of the same name, defined here, without the engine"


def test_unmarked_user_of_another_fixture_of_the_same_name(synthesized):
    assert synthesized
"""


def outcomes(junit: Path) -> dict[str, str]:
    """Each sample's outcome as the JUnit report has it: passed, failed, error (at teardown too) or skipped."""
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    return {
        case.attrib["name"]: next(
            (child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed"
        )
        for case in cases
    }


def test_every_test_is_judged_by_what_it_used(tmp_path: Path) -> None:
    (tmp_path / "test_samples.py").write_text(SAMPLES.replace("{run_engine}", RUN_ENGINE.name), encoding="utf-8")
    (tmp_path / "test_samples_other.py").write_text(OTHER_SAMPLES, encoding="utf-8")
    env = {**base_environment(), "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'modules'}"}
    command = [sys.executable, "-m", "pytest", "-p", "tests.support.engine_use", "-p", "no:cacheprovider"]
    samples = ["test_samples.py", "test_samples_other.py"]  # in this order: the engine's fixture is set up first
    result = run_command([*command, "--junitxml=junit.xml", *samples], tmp_path, env, timeout=300)
    assert outcomes(tmp_path / "junit.xml") == {
        "test_plain": "passed",
        "test_unmarked_synth": "error",
        "test_marked_synth": "passed",
        "test_marked_without_the_engine": "error",
        "test_unmarked_app_in_a_subprocess": "error",
        "test_marked_first_user_of_the_fixture": "passed",
        "test_unmarked_second_user_of_the_fixture": "error",
        "test_marked_for_the_other_engine_only": "skipped",
        # Judged only when it ran to the end: its own failure is what it reports.
        "test_unmarked_failing_synth": "failure",
        # Another module's fixture of the same name did not use the engine.
        "test_unmarked_user_of_another_fixture_of_the_same_name": "passed",
    }, result.stdout
    for name, how in [
        ("test_unmarked_synth", "in the test process"),
        ("test_unmarked_app_in_a_subprocess", "in a process it started"),
        ("test_unmarked_second_user_of_the_fixture", "through the fixture synthesized"),
    ]:
        assert f"test_samples.py::{name} used the engine ({how}) but is not marked: add @pytest.mark.engine" in (
            result.stdout
        ), result.stdout
    assert "test_marked_without_the_engine is marked engine but never used cdktf or CDK Terrain: remove the marker" in (
        result.stdout
    )
    assert "whatever the run's engine" in result.stdout + (tmp_path / "junit.xml").read_text(encoding="utf-8")
