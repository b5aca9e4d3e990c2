"""The rotation schedule, `.github/workflows/rotation.yml`: GitHub's schema, actionlint, its safety rules, and its
shell steps run with bash on hostile values (its script, rotation_prs, is tested in tests/test_rotation_prs.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
import stat
import subprocess
import sys
from typing import Any

import pytest
import yaml

from programmatic_iam.plan_matrix import DEFAULT_SHARDS
from tests.support.helpers import REPO, base_environment, run_command
from tests.test_workflow import PINNED, actionlint, check_schema, load, scripts, steps

ROTATION = REPO / ".github" / "workflows" / "rotation.yml"
IDENTITY = REPO / ".github" / "workflows" / "identity.yml"
ROLE = {"role-to-assume": "${{ vars.IDENTITY_ROTATION_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"}
GITHUB_TOKEN = "${{ secrets.ROTATION_GITHUB_TOKEN || github.token }}"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load(ROTATION)


def broken_copy(directory: Path, change: dict[str, Any]) -> Path:
    workflow = load(ROTATION)
    workflow["jobs"]["rotate"].update(change)
    path = directory / "broken.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
    return path


def test_the_schedule_matches_githubs_schema_and_passes_actionlint() -> None:
    schema = check_schema(ROTATION)
    assert schema.returncode == 0 and "ok -- validation done" in schema.stdout, schema.stdout + schema.stderr
    linted = actionlint(ROTATION)
    assert linted.returncode == 0 and "All workflow files passed lint checks" in linted.stdout, linted.stdout


def test_rejects_a_broken_copy_in_the_schema_and_in_actionlint(tmp_path: Path) -> None:
    schema = check_schema(broken_copy(tmp_path, {"permissions": {"contents": "writ"}}))
    assert schema.returncode == 1 and "'writ'" in schema.stdout
    linted = actionlint(broken_copy(tmp_path, {"needs": "dues"}))
    assert linted.returncode == 1 and 'needs job "dues" which does not exist' in linted.stdout


def test_weekly_and_on_demand(workflow: dict[str, Any]) -> None:
    assert [entry["cron"] for entry in workflow["on"]["schedule"]] == ["41 6 * * 1"]
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}


def test_aws_credentials_come_only_from_oidc_with_the_rotation_role(workflow: dict[str, Any]) -> None:
    text = ROTATION.read_text(encoding="utf-8")
    for name in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert name not in text
    for name, job in workflow["jobs"].items():
        assert job["permissions"]["id-token"] == "write", name
        (step,) = [s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert step["with"] == ROLE, name


def test_the_token_may_write_only_in_the_job_that_pushes(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["due"]["permissions"] == {"id-token": "write", "contents": "read"}
    assert workflow["jobs"]["rotate"]["permissions"] == {
        "id-token": "write",
        "contents": "write",
        "pull-requests": "write",
    }


def test_actions_are_pinned_as_in_the_review_workflow(workflow: dict[str, Any]) -> None:
    used = {step["uses"] for job in workflow["jobs"].values() for step in steps(job) if "uses" in step}
    assert used and all(PINNED.match(ref) for ref in used)
    pinned = {step["uses"] for job in load(IDENTITY)["jobs"].values() for step in steps(job) if "uses" in step}
    assert used <= pinned  # the same actions at the same versions: one place to update them


def test_no_script_interpolates_an_expression(workflow: dict[str, Any]) -> None:
    assert [s for job in workflow["jobs"].values() for s in scripts(job) if "${{" in s] == []


def test_each_rotate_job_takes_its_shards_apply_group(workflow: dict[str, Any]) -> None:
    rotate = workflow["jobs"]["rotate"]
    assert rotate["concurrency"] == load(IDENTITY)["jobs"]["apply"]["concurrency"]
    assert rotate["concurrency"] == {"group": "identity-apply-${{ matrix.shard }}", "cancel-in-progress": False}
    assert rotate["strategy"] == {"fail-fast": False, "matrix": {"shard": "${{ fromJSON(needs.due.outputs.shards) }}"}}
    assert rotate["if"] == "needs.due.outputs.shards != '[]'"  # GitHub refuses an empty matrix
    assert workflow["jobs"]["due"]["outputs"] == {"shards": "${{ steps.due.outputs.shards }}"}
    for job in (workflow["jobs"]["due"], rotate):  # the shard count identity.yml uses
        (run,) = [s for s in steps(job) if "rotation_prs" in s.get("run", "")]
        assert run["env"]["SHARDS"] == "${{ vars.IDENTITY_PLAN_SHARDS }}"
        assert '${SHARDS:+--shards "$SHARDS"}' in run["run"]


def test_pushes_and_pull_requests_use_the_rotation_token_when_there_is_one(workflow: dict[str, Any]) -> None:
    rotate = steps(workflow["jobs"]["rotate"])
    assert rotate[0]["uses"].startswith("actions/checkout@") and rotate[0]["with"] == {"token": GITHUB_TOKEN}
    (run,) = [s for s in rotate if "rotation_prs" in s.get("run", "")]
    assert run["env"]["GH_TOKEN"] == GITHUB_TOKEN
    # The due job reads only: its checkout keeps the job's read-only token for the script's fetch.
    assert "token" not in (steps(workflow["jobs"]["due"])[0].get("with") or {})


HOSTILE = ["main", "$(touch pwned)", "a b", "it's", "`touch pwned`", "-rf"]


def fake_pipenv(directory: Path, status: int, printed: str) -> Path:
    """A ``pipenv`` that records its arguments (one JSON list per call), prints ``printed`` and exits ``status``."""
    bin_folder = directory / "bin"
    bin_folder.mkdir()
    record = directory / "calls.jsonl"
    script = bin_folder / "pipenv"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"print({printed!r})\nsys.exit({status})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_folder


def run_step(step: dict[str, Any], cwd: Path, bin_folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The step's script as GitHub runs it (``bash -eo pipefail``), its ``env`` given as strings."""
    environment = {**base_environment(), **env, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}"}
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        environment[name] = str(cwd / name)
    return run_command(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd, environment, 60)


def calls(directory: Path) -> list[list[str]]:
    return [json.loads(line) for line in (directory / "calls.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("base", HOSTILE)
def test_the_scripts_pass_names_as_data(workflow: dict[str, Any], tmp_path: Path, base: str) -> None:
    """The branch and shard travel as single arguments, whatever they hold; nothing in them runs."""
    bin_folder = fake_pipenv(tmp_path, 0, "[3]")
    (due,) = [s for s in steps(workflow["jobs"]["due"]) if s.get("id") == "due"]
    assert run_step(due, tmp_path, bin_folder, BASE=base, SHARDS="").returncode == 0
    assert (tmp_path / "GITHUB_OUTPUT").read_text(encoding="utf-8") == "shards=[3]\n"
    (rotate,) = [s for s in steps(workflow["jobs"]["rotate"]) if "rotation_prs" in s.get("run", "")]
    assert run_step(rotate, tmp_path, bin_folder, BASE=base, SHARD="3", SHARDS="7").returncode == 0
    module = ["run", "python", "-m", "programmatic_iam.rotation_prs"]
    assert calls(tmp_path) == [
        [*module, "--list-shards", "--base", base],  # no --shards: the script's default, identity.yml's
        [*module, "--base", base, "--shard", "3", "--shards", "7"],
    ]
    assert list(tmp_path.rglob("pwned")) == []
    assert DEFAULT_SHARDS == 20  # what identity.yml documents for an unset IDENTITY_PLAN_SHARDS


@pytest.mark.parametrize(("status", "passes"), [(0, True), (1, True), (2, False)])
def test_keys_status_goes_to_the_summary_and_only_bad_input_stops_the_run(
    workflow: dict[str, Any], tmp_path: Path, status: int, passes: bool
) -> None:
    """Exit status 1 is an overdue key, which is what the schedule is for; 2 is a configuration that does not load."""
    bin_folder = fake_pipenv(tmp_path, status, "production-backup  AKIA...EXAMPLE  overdue")
    (step,) = [s for s in steps(workflow["jobs"]["due"]) if s.get("name") == "Keys status"]
    result = run_step(step, tmp_path, bin_folder)
    assert (result.returncode == 0) is passes
    summary = (tmp_path / "GITHUB_STEP_SUMMARY").read_text(encoding="utf-8")
    assert summary == "```text\nproduction-backup  AKIA...EXAMPLE  overdue\n```\n"
    assert calls(tmp_path) == [["run", "python", "-m", "programmatic_iam", "keys", "status"]]
