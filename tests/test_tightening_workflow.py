"""The tightening schedule, `.github/workflows/tightening.yml`: GitHub's schema, actionlint, its safety rules, and its
shell steps run with bash on hostile values (its script, tightening_prs, is tested in tests/test_tightening_prs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helpers import REPO
from tests.test_rotation_workflow import HOSTILE, calls, fake_pipenv, run_step
from tests.test_workflow import PINNED, actionlint, check_schema, load, scripts, steps

TIGHTENING = REPO / ".github" / "workflows" / "tightening.yml"
IDENTITY = REPO / ".github" / "workflows" / "identity.yml"
ROLE = {"role-to-assume": "${{ vars.IDENTITY_TIGHTENING_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"}
GITHUB_TOKEN = "${{ secrets.TIGHTENING_GITHUB_TOKEN || github.token }}"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load(TIGHTENING)


def test_the_schedule_matches_githubs_schema_and_passes_actionlint(tmp_path: Path) -> None:
    schema = check_schema(TIGHTENING)
    assert schema.returncode == 0 and "ok -- validation done" in schema.stdout, schema.stdout + schema.stderr
    linted = actionlint(TIGHTENING)
    assert linted.returncode == 0 and "All workflow files passed lint checks" in linted.stdout, linted.stdout
    broken = load(TIGHTENING)
    broken["jobs"]["tighten"]["permissions"]["contents"] = "writ"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken, sort_keys=False), encoding="utf-8")
    assert check_schema(tmp_path / "broken.yml").returncode == 1


def test_monthly_and_on_demand(workflow: dict[str, Any]) -> None:
    assert [entry["cron"] for entry in workflow["on"]["schedule"]] == ["23 5 1 * *"]
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}


def test_aws_credentials_come_only_from_oidc_with_the_tightening_role(workflow: dict[str, Any]) -> None:
    text = TIGHTENING.read_text(encoding="utf-8")
    for name in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert name not in text
    (job,) = workflow["jobs"].values()
    (step,) = [s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert step["with"] == ROLE


def test_the_token_writes_only_what_a_pull_request_needs(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["tighten"]["permissions"] == {
        "id-token": "write",
        "contents": "write",
        "pull-requests": "write",
    }
    assert workflow["jobs"]["tighten"]["concurrency"] == {"group": "identity-tightening", "cancel-in-progress": False}


def test_actions_are_pinned_as_in_the_review_workflow(workflow: dict[str, Any]) -> None:
    used = {step["uses"] for job in workflow["jobs"].values() for step in steps(job) if "uses" in step}
    assert used and all(PINNED.match(ref) for ref in used)
    pinned = {step["uses"] for job in load(IDENTITY)["jobs"].values() for step in steps(job) if "uses" in step}
    assert used <= pinned


def test_no_script_interpolates_an_expression(workflow: dict[str, Any]) -> None:
    assert [s for job in workflow["jobs"].values() for s in scripts(job) if "${{" in s] == []


def test_pushes_and_pull_requests_use_the_tightening_token_when_there_is_one(workflow: dict[str, Any]) -> None:
    tighten = steps(workflow["jobs"]["tighten"])
    assert tighten[0]["uses"].startswith("actions/checkout@") and tighten[0]["with"] == {"token": GITHUB_TOKEN}
    (run,) = [s for s in tighten if "tightening_prs" in s.get("run", "")]
    assert run["env"]["GH_TOKEN"] == GITHUB_TOKEN


@pytest.mark.parametrize("base", HOSTILE)
def test_the_base_branch_travels_as_data(workflow: dict[str, Any], tmp_path: Path, base: str) -> None:
    bin_folder = fake_pipenv(tmp_path, 0, "")
    (run,) = [s for s in steps(workflow["jobs"]["tighten"]) if "tightening_prs" in s.get("run", "")]
    assert run_step(run, tmp_path, bin_folder, BASE=base).returncode == 0
    assert calls(tmp_path) == [["run", "python", "-m", "programmatic_iam.tightening_prs", "--base", base]]
    assert list(tmp_path.rglob("pwned")) == []


@pytest.mark.parametrize(("status", "passes"), [(0, True), (1, True), (2, False)])
def test_the_usage_report_goes_to_the_summary_and_only_bad_input_stops_the_run(
    workflow: dict[str, Any], tmp_path: Path, status: int, passes: bool
) -> None:
    """Exit status 1 is a stack whose evidence could not be read (the next step names it); 2 a bad configuration."""
    bin_folder = fake_pipenv(tmp_path, status, "### `production-streammanager`")
    (step,) = [s for s in steps(workflow["jobs"]["tighten"]) if s.get("name") == "Usage report"]
    result = run_step(step, tmp_path, bin_folder)
    assert (result.returncode == 0) is passes
    assert (tmp_path / "GITHUB_STEP_SUMMARY").read_text(encoding="utf-8") == "### `production-streammanager`\n"
    module = ["run", "python", "-m", "programmatic_iam"]
    assert calls(tmp_path) == [[*module, "usage", "report", "--format", "markdown"]]
