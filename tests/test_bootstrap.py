"""The state bootstrap: its spec, its synthesized stack, Terraform's view of it, and the path through the emulator.

Regenerate the snapshots on purpose with ``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_bootstrap.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import signal
import subprocess
from typing import Any

import pytest

from programmatic_iam.cli.bootstrap import synthesize_bootstrap
from programmatic_iam.cli.problems import EXIT_WRONG_STEP
from programmatic_iam.config import load_config, parse_config
from programmatic_iam.errors import ConfigError
from programmatic_iam.spec import BackendSpec
from programmatic_iam.spec.state_bucket import (
    LOCAL_STATE_FILE,
    STACK_ID,
    STATE_KEY,
    BootstrapSpec,
    StateBucketSpec,
    StateLocation,
    bootstrap_spec,
    deny_insecure_transport,
)
from programmatic_iam_dev.emulator import AwsEmulator, for_local_state
from tests.support.helpers import (
    REPO,
    port_is_closed,
    resources,
    run_module,
    session_process,
    synth,
    without_metadata,
    write_config,
)
from tests.support.terraform import Terraform, render_diagnostics

SNAPSHOTS = REPO / "tests" / "snapshots" / "bootstrap"
KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"


def spec_of(backend: dict[str, Any], state: StateLocation = "local", **top: Any) -> BootstrapSpec:
    return bootstrap_spec(parse_config({"backend": backend, **top}, origin="iam.toml", base_dir=Path.cwd()), state)


# ---------------------------------------------------------------------------------------------------------------------
# The spec (pure)
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        pytest.param({}, StateBucketSpec("terraform-state", "AES256"), id="default-sse-s3"),
        pytest.param(
            {"bucket": "acme-state", "kms_key_id": KMS_KEY},
            StateBucketSpec("acme-state", "aws:kms", kms_key_id=KMS_KEY),
            id="kms",
        ),
        pytest.param(
            {"kms_key_id": "alias/terraform-state"},
            StateBucketSpec("terraform-state", "aws:kms", kms_key_id="alias/terraform-state"),
            id="kms-alias",
        ),
        pytest.param(
            {"dynamodb_table": "terraform-locks"},
            StateBucketSpec("terraform-state", "AES256", lock_table="terraform-locks"),
            id="lock-table",
        ),
        pytest.param(
            {"encrypt": False},
            StateBucketSpec("terraform-state", "AES256"),
            id="bucket-encrypted-even-without-backend-encrypt",
        ),
    ],
)
def test_state_bucket_spec(backend: dict[str, Any], expected: StateBucketSpec) -> None:
    assert spec_of(backend).state_bucket == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param("local", None, id="local-file-before-the-bucket-exists"),
        pytest.param(
            "s3",
            BackendSpec(
                bucket="acme-state",
                key=STATE_KEY,
                region="eu-west-1",
                encrypt=True,
                use_lockfile=True,
                dynamodb_table="locks",
                kms_key_id=KMS_KEY,
            ),
            id="in-the-bucket-afterwards",
        ),
    ],
)
def test_where_the_bootstrap_keeps_its_own_state(state: StateLocation, expected: BackendSpec | None) -> None:
    backend = {"bucket": "acme-state", "region": "eu-west-1", "dynamodb_table": "locks", "kms_key_id": KMS_KEY}
    assert spec_of(backend, state).backend == expected


def test_the_stack_takes_region_tags_and_versions_from_the_config() -> None:
    spec = spec_of(
        {"region": "eu-central-1"},
        tags={"team": "platform"},
        terraform={"provider_version": ">= 5.100.0, < 6.0.0", "required_version": ">= 1.11.0"},
    )
    assert (spec.stack_id, spec.region, spec.default_tags) == (STACK_ID, "eu-central-1", (("team", "platform"),))
    assert (spec.provider_version, spec.required_version) == (">= 5.100.0, < 6.0.0", ">= 1.11.0")


def test_the_bucket_policy_denies_every_request_without_tls() -> None:
    document = deny_insecure_transport("ARN")
    (statement,) = document["Statement"]
    assert document["Version"] == "2012-10-17"
    assert statement == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["ARN", "ARN/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@pytest.mark.parametrize(
    ("backend", "key", "why"),
    [
        pytest.param({"bucket": "xn--state"}, "bucket", "which S3 reserves", id="reserved-prefix"),
        pytest.param({"bucket": "sthree-state"}, "bucket", "which S3 reserves", id="reserved-prefix-sthree"),
        pytest.param({"bucket": "state-s3alias"}, "bucket", "which S3 reserves", id="reserved-suffix"),
        pytest.param({"bucket": "state--x-s3"}, "bucket", "which S3 reserves", id="directory-bucket-suffix"),
        pytest.param({"bucket": "192.168.10.20"}, "bucket", "IP address", id="ip-address"),
        pytest.param({"dynamodb_table": "ab"}, "dynamodb_table", "not a DynamoDB table name", id="table-too-short"),
        pytest.param({"dynamodb_table": "locks!"}, "dynamodb_table", "not a DynamoDB table name", id="table-chars"),
        pytest.param({"kms_key_id": "my-key"}, "kms_key_id", "not a KMS key", id="kms-not-a-key"),
        pytest.param(
            # AWS's documentation example: not an RFC 4122 id, which Terraform's S3 backend refuses.
            {"kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
            "kms_key_id",
            "not a KMS key",
            id="kms-documentation-example",
        ),
        pytest.param({"kms_key_id": "alias/state\n"}, "kms_key_id", "not a KMS key", id="kms-trailing-newline"),
    ],
)
def test_rejects_what_aws_or_terraform_would_refuse(backend: dict[str, Any], key: str, why: str) -> None:
    with pytest.raises(ConfigError) as raised:
        spec_of(backend)
    (problem,) = raised.value.problems
    assert problem.where == f"iam.toml: backend.{key}"
    assert why in problem.why
    assert problem.fix


def test_rejects_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        spec_of({"bucket": "xn--state", "dynamodb_table": "x", "kms_key_id": "nope"})
    assert [p.where.rsplit(".", 1)[-1] for p in raised.value.problems] == ["bucket", "dynamodb_table", "kms_key_id"]


# ---------------------------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------------------------


def run_bootstrap(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_module("programmatic_iam", "bootstrap", *args, cwd=cwd)


def test_rejects_a_bad_config_with_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        [backend]
        bucket = "xn--state"
        dynamodb_table = "x"
        regoin = "us-east-1"
        """,
    )
    result = run_bootstrap(tmp_path, "synth")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("3 problems in the configuration; nothing was written:"), result.stderr
    assert "backend.regoin" in result.stderr and "did you mean 'region'" in result.stderr
    assert "backend.bucket: 'xn--state'" in result.stderr and "backend.dynamodb_table: 'x'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdktf.out.bootstrap").exists()


def test_rejects_an_output_folder_that_is_not_an_earlier_synthesis_and_leaves_it(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "iam.toml").write_text("[naming]\n")
    result = run_bootstrap(tmp_path, "synth", "--output", "repo")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "1 problem in the output folder; nothing was written:\n"
        "  - --output: 'repo' holds '.git/', 'iam.toml', which a synthesis did not write"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["repo", "repo/.git", "repo/iam.toml"]
    assert (tmp_path / "repo" / "iam.toml").read_text() == "[naming]\n"


def test_rejects_an_unknown_state_location(tmp_path: Path) -> None:
    result = run_bootstrap(tmp_path, "synth", "--state", "dynamodb")
    assert result.returncode == 2
    assert "invalid choice: 'dynamodb'" in result.stderr and "Traceback" not in result.stderr


def test_take_down_goes_only_with_local_state(tmp_path: Path) -> None:
    result = run_bootstrap(tmp_path, "synth", "--state", "s3", "--take-down")
    assert result.returncode == 2
    assert "--take-down" in result.stderr and "--state local" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.engine
@pytest.mark.terraform
def test_take_down_is_refused_where_the_state_never_went_into_the_bucket(terraform: Terraform, tmp_path: Path) -> None:
    fresh = run_bootstrap(tmp_path, "synth", "--state", "local", "--take-down")  # a fresh clone
    assert fresh.returncode == EXIT_WRONG_STEP, fresh.stderr
    assert "synth --state s3" in fresh.stderr and "Traceback" not in fresh.stderr
    assert not (tmp_path / "cdktf.out.bootstrap").exists()

    first = run_bootstrap(tmp_path, "synth", "--state", "local")
    assert first.returncode == 0, first.stderr
    assert "Create the bucket" in first.stdout
    terraform.init(tmp_path / "cdktf.out.bootstrap" / "stacks" / STACK_ID)  # the local backend: no AWS needed
    local_only = run_bootstrap(tmp_path, "synth", "--state", "local", "--take-down")
    assert local_only.returncode == EXIT_WRONG_STEP, local_only.stderr
    assert "is not initialised with" in local_only.stderr


@pytest.mark.engine
def test_local_state_is_refused_once_the_state_is_in_the_bucket(tmp_path: Path) -> None:
    stack_dir = tmp_path / "cdktf.out.bootstrap" / "stacks" / STACK_ID
    record = stack_dir / ".terraform" / "terraform.tfstate"  # what `terraform init -migrate-state` leaves
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"version": 3, "backend": {"type": "s3", "config": {"bucket": "terraform-state"}}}))
    again = run_bootstrap(tmp_path, "synth", "--state", "local")
    assert again.returncode == EXIT_WRONG_STEP, again.stderr
    assert "keeps its state in the bucket already" in again.stderr and "make bootstrap-apply" in again.stderr
    assert "--take-down" in again.stderr and "Traceback" not in again.stderr and again.stdout == ""
    assert sorted(p.relative_to(stack_dir).as_posix() for p in stack_dir.rglob("*")) == [
        ".terraform",
        ".terraform/terraform.tfstate",
    ], "a refused step wrote something"

    taking_down = run_bootstrap(tmp_path, "synth", "--state", "local", "--take-down")
    assert taking_down.returncode == 0, taking_down.stderr
    assert "init -migrate-state -force-copy" in taking_down.stdout
    assert "local" in json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["backend"]
    assert record.is_file(), "Terraform's record of the bucket's backend was not kept"


@pytest.mark.engine
def test_resynthesis_keeps_terraforms_files_in_the_stack_folder(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    stack_dir = synthesize_bootstrap(spec_of({}, "local"), outdir)
    kept = {LOCAL_STATE_FILE: "{}", ".terraform.lock.hcl": "# lock", ".terraform/terraform.tfstate": "{}"}
    for name, text in kept.items():
        (stack_dir / name).parent.mkdir(exist_ok=True)
        (stack_dir / name).write_text(text)
    assert synthesize_bootstrap(spec_of({}, "s3"), outdir) == stack_dir
    assert {name: (stack_dir / name).read_text() for name in kept} == kept
    assert "s3" in json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["backend"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "staging folder left behind"


# ---------------------------------------------------------------------------------------------------------------------
# The synthesized stack
# ---------------------------------------------------------------------------------------------------------------------

CASES: dict[str, tuple[dict[str, Any], StateLocation]] = {
    "default-local-state": ({}, "local"),
    "default-s3-state": ({}, "s3"),
    "kms-and-lock-table": (
        {
            "backend": {
                "bucket": "acme-terraform-state",
                "region": "eu-west-1",
                "kms_key_id": KMS_KEY,
                "dynamodb_table": "terraform-locks",
            },
            "tags": {"team": "platform", "cost-center": "4711"},
        },
        "s3",
    ),
}


def synthesized(case: str, directory: Path) -> dict[str, Any]:
    raw, state = CASES[case]
    spec = bootstrap_spec(parse_config(raw, origin="iam.toml", base_dir=directory), state)
    stack_dir = synthesize_bootstrap(spec, directory / "out")
    tree: dict[str, Any] = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    return tree


@pytest.mark.engine
@pytest.mark.parametrize("case", sorted(CASES))
def test_snapshot(tmp_path: Path, case: str) -> None:
    tree = without_metadata(synthesized(case, tmp_path))
    golden = SNAPSHOTS / f"{case}.json"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        golden.write_text(json.dumps(tree, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert golden.exists(), f"no snapshot for {case}; create it with UPDATE_SNAPSHOTS=1"
    assert tree == json.loads(golden.read_text(encoding="utf-8"))


def test_no_snapshot_is_orphaned() -> None:
    assert sorted(p.stem for p in SNAPSHOTS.glob("*.json")) == sorted(CASES)


@pytest.mark.engine
def test_the_policy_refers_to_the_bucket_by_attribute(tmp_path: Path) -> None:
    tree = synthesized("default-local-state", tmp_path)
    (bucket_id,) = tree["resource"]["aws_s3_bucket"]
    (policy,) = resources(tree, "aws_s3_bucket_policy")
    statement = json.loads(policy["policy"])["Statement"][0]
    arn = f"${{aws_s3_bucket.{bucket_id}.arn}}"
    assert statement["Resource"] == [arn, f"{arn}/*"]
    assert tree["terraform"]["backend"] == {"local": {"path": LOCAL_STATE_FILE}}
    assert "aws_dynamodb_table" not in tree["resource"]


@pytest.mark.terraform
# The S3-state case differs from the local one only in its backend, which `init -backend=false` skips.
@pytest.mark.engine
@pytest.mark.parametrize("case", ["default-local-state", "kms-and-lock-table"])
def test_the_stack_validates(case: str, terraform: Terraform, tmp_path: Path) -> None:
    synthesized(case, tmp_path)
    result = terraform.init_and_validate(tmp_path / "out" / "stacks" / STACK_ID)
    assert result["valid"] is True, render_diagnostics(result)


# ---------------------------------------------------------------------------------------------------------------------
# The chicken-and-egg path against the emulator, then an identity stack that keeps its state there
# ---------------------------------------------------------------------------------------------------------------------

CONFIG = """
[backend]
bucket = "bootstrap-test-state"
dynamodb_table = "bootstrap-test-locks"
"""


@pytest.mark.engine
@pytest.mark.terraform
def test_bootstrap_then_migrate_then_deploy(emulated_terraform: Terraform, aws: AwsEmulator, tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    config = load_config({}, cwd=tmp_path)
    bucket, table = "bootstrap-test-state", "bootstrap-test-locks"
    s3 = aws.client("s3")

    stack_dir = synthesize_bootstrap(bootstrap_spec(config, "local"), tmp_path / "bootstrap")
    local = emulated_terraform.with_environment(for_local_state(emulated_terraform.env))
    local.init(stack_dir)
    local.apply(stack_dir)
    assert "aws_s3_bucket" in (stack_dir / LOCAL_STATE_FILE).read_text()
    assert_state_bucket(aws, bucket, table)

    synthesize_bootstrap(bootstrap_spec(config, "s3"), tmp_path / "bootstrap")
    emulated_terraform.init(stack_dir, "-migrate-state", "-force-copy")
    assert s3.head_object(Bucket=bucket, Key=STATE_KEY)["ContentLength"] > 0
    state = json.loads(s3.get_object(Bucket=bucket, Key=STATE_KEY)["Body"].read())
    assert {r["type"] for r in state["resources"]} >= {"aws_s3_bucket", "aws_s3_bucket_policy", "aws_dynamodb_table"}
    assert not emulated_terraform.plan_has_changes(stack_dir), "the migrated state does not match the bucket"

    stacks = synth(CONFIG, tmp_path)
    assert stacks["production-streammanager"]["terraform"]["backend"]["s3"]["bucket"] == bucket
    identity_dir = tmp_path / "cdktf.out" / "stacks" / "production-streammanager"
    emulated_terraform.init(identity_dir)
    emulated_terraform.apply(identity_dir)
    assert aws.client("iam").get_user(UserName="production-streammanager")["User"]["UserName"]
    assert s3.head_object(Bucket=bucket, Key="production-streammanager/terraform.tfstate")["ContentLength"] > 0
    # The S3 backend keeps a digest of each state in the DynamoDB table it locks with.
    lock_ids = {item["LockID"]["S"] for item in aws.client("dynamodb").scan(TableName=table)["Items"]}
    assert f"{bucket}/production-streammanager/terraform.tfstate-md5" in lock_ids


def assert_state_bucket(aws: AwsEmulator, bucket: str, table: str) -> None:
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (ownership,) = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == {"ObjectOwnership": "BucketOwnerEnforced"}
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    described = aws.client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    assert described["AttributeDefinitions"] == [{"AttributeName": "LockID", "AttributeType": "S"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


# ---------------------------------------------------------------------------------------------------------------------
# The demo, as a newcomer runs it
# ---------------------------------------------------------------------------------------------------------------------

KEY_ID = re.compile(r"access key id\s+(AKIA[A-Z0-9]{16})\b")
DEMO_TIMEOUT_SECONDS = 300
SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
ENDPOINT = re.compile(r"AWS emulator \(moto\) at http://127\.0\.0\.1:(\d+)")


@pytest.mark.engine
@pytest.mark.terraform
def test_the_demo_runs_end_to_end_and_cleans_up(terraform: Terraform, tmp_path: Path) -> None:
    with session_process("programmatic_iam_dev.demo", cwd=tmp_path, temp=tmp_path / "tmp") as demo:
        output, _ = demo.communicate()
    assert demo.returncode == 0, output
    assert "IAM user        production-streammanager" in output
    key_id = KEY_ID.search(output)
    assert key_id, output
    assert not SECRET_LIKE.findall(output), "something that looks like a secret access key was printed"
    assert all("not shown" in line for line in output.splitlines() if "secret" in line.lower()), output
    port = ENDPOINT.search(output)
    assert port, output
    assert port_is_closed(int(port.group(1))), "the emulator is still running"
    assert list((tmp_path / "tmp").iterdir()) == [], "temporary files left behind"


@pytest.mark.engine
@pytest.mark.terraform
def test_an_interrupted_demo_cleans_up(terraform: Terraform, tmp_path: Path) -> None:
    with session_process("programmatic_iam_dev.demo", cwd=tmp_path, temp=tmp_path / "tmp") as demo:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if "Synthesized the state bootstrap" in line:  # Terraform is starting: interrupt it mid-way
                os.killpg(demo.pid, signal.SIGINT)
                break
        output = "".join(lines) + demo.communicate()[0]
    assert demo.returncode == 130, output
    assert "Interrupted" in output
    port = ENDPOINT.search(output)
    assert port, output
    assert port_is_closed(int(port.group(1))), "the emulator is still running"
    assert list((tmp_path / "tmp").iterdir()) == [], "temporary files left behind"
