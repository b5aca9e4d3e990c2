"""The suite's own scheduling: the modules that deploy go to the workers first, so that the light ones fill the end."""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Any

import pytest

from tests.conftest import deploying_modules_first
from tests.support.helpers import REPO


@dataclass
class Collected:
    """What the ordering reads of a collected test: its node id and markers."""

    nodeid: str
    markers: set[str] = field(default_factory=set)

    def get_closest_marker(self, name: str) -> Any:
        return name if name in self.markers else None


def ordered(*tests: Collected) -> list[str]:
    return [test.nodeid for test in deploying_modules_first(list(tests))]  # type: ignore[arg-type]


def test_modules_that_deploy_come_first_then_those_that_plan_each_whole_and_in_its_own_order() -> None:
    assert ordered(
        Collected("tests/unit/test_a.py::one"),
        Collected("tests/test_plans.py::one", {"terraform"}),
        Collected("tests/unit/test_a.py::two"),
        Collected("tests/test_deploys.py::light"),
        Collected("tests/test_deploys.py::heavy", {"terraform", "emulator"}),
        Collected("tests/test_plans.py::two"),
    ) == [
        "tests/test_deploys.py::light",
        "tests/test_deploys.py::heavy",
        "tests/test_plans.py::one",
        "tests/test_plans.py::two",
        "tests/unit/test_a.py::one",
        "tests/unit/test_a.py::two",
    ]


def test_modules_of_one_kind_keep_the_order_they_were_collected_in() -> None:
    tests = [Collected(f"tests/test_{name}.py::t", {"emulator"}) for name in ("c", "a", "b")]
    assert ordered(*tests) == [test.nodeid for test in tests]


def test_the_makefile_keeps_that_order_for_the_workers() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    (line,) = re.findall(r"^PYTEST := .*$", makefile, re.MULTILINE)
    assert "--dist loadscope" in line and "--no-loadscope-reorder" in line, line


@pytest.mark.parametrize("marker", ["emulator", "terraform"])
def test_the_markers_it_reads_are_registered(pytestconfig: pytest.Config, marker: str) -> None:
    assert any(line.startswith(f"{marker}:") for line in pytestconfig.getini("markers"))
