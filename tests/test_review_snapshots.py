"""The review's Markdown for real plans of what a reviewer must read right: an adoption, a scoped-versus-unscoped
change, changes of delivery and every change of the rotation settings, against golden files.

The plans come from real Terraform on the emulator, made once for the module. Access key ids (random) are
replaced by numbered stand-ins in the order they appear. Regenerate on purpose with ``UPDATE_SNAPSHOTS=1`` and
read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
import re

import pytest

from programmatic_iam.analysis.comment import render_comment
from programmatic_iam.analysis.plan import read_plan
from programmatic_iam.analysis.review import review_stack
from programmatic_iam_dev.emulator import AwsEmulator
from tests.support.helpers import REPO
from tests.support.plans import PLANNED_ROTATIONS, make_scenario_plans
from tests.support.review_plans import ROTATION_READINGS, Settings
from tests.support.terraform import Terraform

# The review reads plans; the engine only makes them, and makes the same JSON under both (tests/test_engines.py):
# they run once, in cdktf's run, like everything else the engine does not change.
REVIEW_ONLY_ONCE = pytest.mark.engine("cdktf", why="the review reads plans; only their making uses the engine")

SNAPSHOTS = REPO / "tests" / "snapshots" / "review"
SCENARIOS = {
    "adoption": ["adoption"],
    "scoped-actions": ["scoped"],
    "delivery": ["delivery secretsmanager", "delivery ssm"],
    "rotation": [f"rotation {before} -> {after}" for before, after in PLANNED_ROTATIONS],
}
"""Each snapshot file and the plans whose comments it holds, one after another."""
_KEY_ID = re.compile(r"\bAKIA[A-Z0-9]{16}\b")


@pytest.fixture(scope="module")
def scenario_plans(
    terraform: Terraform, aws_emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    emulated = terraform.with_environment(aws_emulator.environment(base=terraform.env))
    return make_scenario_plans(emulated, aws_emulator, tmp_path_factory.mktemp("scenarios"))


def comment_of(path: Path) -> str:
    plan = read_plan(path, display="plan.json")
    return render_comment([review_stack(plan)], sensitive=plan.sensitive_strings)


def with_stand_in_key_ids(text: str) -> str:
    """Each access key id (IAM's random ``AKIA...``) as ``AKIA0000000000000001``, ``...2``, in order of appearance."""
    seen: dict[str, str] = {}

    def stand_in(found: re.Match[str]) -> str:
        return seen.setdefault(found.group(), f"AKIA{len(seen) + 1:016d}")

    return _KEY_ID.sub(stand_in, text)


def snapshot_text(scenario_plans: dict[str, Path], scenario: str) -> str:
    sections = [f"<!-- {name} -->\n{comment_of(scenario_plans[name])}" for name in SCENARIOS[scenario]]
    return with_stand_in_key_ids("\n".join(sections))


@REVIEW_ONLY_ONCE
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_review_snapshot(scenario_plans: dict[str, Path], scenario: str) -> None:
    text = snapshot_text(scenario_plans, scenario)
    golden = SNAPSHOTS / f"{scenario}.md"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no snapshot for {scenario}; create it with UPDATE_SNAPSHOTS=1"
    assert text == golden.read_text(encoding="utf-8")


def test_every_review_snapshot_has_a_scenario() -> None:
    assert sorted(path.stem for path in SNAPSHOTS.glob("*.md")) == sorted(SCENARIOS)


@REVIEW_ONLY_ONCE
@pytest.mark.parametrize("settings", PLANNED_ROTATIONS, ids=str)
def test_a_real_rotation_plan_reads_as_its_built_twin(
    scenario_plans: dict[str, Path], settings: tuple[Settings, Settings]
) -> None:
    """The unit tests read plans built without Terraform (tests/support/review_plans.py); this proves Terraform
    plans each change of the settings as those shapes say, so that the unit tests stand for real plans."""
    stack = review_stack(read_plan(scenario_plans[f"rotation {settings[0]} -> {settings[1]}"], display="plan.json"))
    verdict, title = ROTATION_READINGS[settings]
    assert (stack.verdict, [warning.title for warning in stack.warnings]) == (verdict, [title] if title else [])
