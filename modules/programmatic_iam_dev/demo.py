"""``python -m programmatic_iam_dev.demo``: the whole path, with real Terraform, on a machine with no AWS account.

Starts the AWS emulator, creates the state bucket (local state first, then moved into the bucket),
deploys the built-in default identity, shows what was created (never the secret), destroys it all, and
removes the emulator and its working folder, also when interrupted or when a step fails.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any, TextIO

from programmatic_iam.blueprint import build_blueprint
from programmatic_iam.cli.bootstrap import synthesize_bootstrap
from programmatic_iam.cli.synth import synthesize
from programmatic_iam.config import IdentityConfig, parse_config
from programmatic_iam.errors import ConfigError
from programmatic_iam.spec import Blueprint, StackSpec
from programmatic_iam.spec.state_bucket import STATE_KEY, bootstrap_spec

from .emulator import AwsEmulator, EmulatorError, for_local_state, interrupt_on_stop_signals, running_emulator
from .terraform import (
    Terraform,
    TerraformError,
    cli_config_text,
    find_provider_mirror,
    find_terraform,
    terraform_environment,
)

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

Say = Callable[[str], None]


def main(stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the demo. Returns the process exit code: 0, 1 when a step failed, 130 when interrupted."""
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    say = _reporter(stdout)
    binary = find_terraform()
    if binary is None:
        print("The demo needs the terraform binary (1.10 or later) on PATH, or $TERRAFORM naming it.", file=stderr)
        return EXIT_FAILED
    print("programmatic-iam demo: everything runs against a local AWS emulator; no AWS account is used.", file=stdout)
    if os.environ.get("IAM_CONFIG") or Path("iam.toml").is_file():
        print(
            "The demo deploys the built-in default, not your iam.toml; to try yours on the emulator, run "
            "`make emulator` (docs/local-emulator.md).",
            file=stdout,
        )
    try:
        with interrupt_on_stop_signals(), tempfile.TemporaryDirectory(prefix="programmatic-iam-demo-") as work:
            run_demo(Path(work), binary, find_provider_mirror(), say)
        say("Stopped the emulator and removed the working folder")
    except KeyboardInterrupt:
        print("\nInterrupted: the emulator was stopped and the working folder removed.", file=stderr)
        return EXIT_INTERRUPTED
    except (TerraformError, EmulatorError, ConfigError) as error:
        print(f"\nThe demo failed; the emulator was stopped and the working folder removed.\n{error}", file=stderr)
        return EXIT_FAILED
    return 0


def run_demo(work: Path, binary: Path, mirror: Path | None, say: Say) -> None:
    """Every step, in the folder ``work``, with Terraform ``binary`` and providers from ``mirror`` if given."""
    config = parse_config({}, origin="<built-in default>", base_dir=work)
    blueprint = build_blueprint(config)
    (stack,) = blueprint.stacks  # the built-in default has one environment
    cli_config = work / "terraform.tfrc"
    cli_config.write_text(cli_config_text(mirror), encoding="utf-8")
    say(f"Using {binary}, hashicorp/aws from {f'the provider mirror {mirror}' if mirror else 'the registry'}")
    _start_jsii_in(work / "jsii")
    with running_emulator(work / "moto.log") as aws:
        say(f"Started the AWS emulator (moto) at {aws.endpoint}")
        terraform = Terraform(binary, aws.environment(base=terraform_environment(cli_config)), mirror)
        bootstrap_dir = create_state_bucket(config, work / "cdktf.out.bootstrap", terraform, say)
        stack_dir = deploy_identity(blueprint, stack, work / "cdktf.out", terraform, say)
        say(created_summary(stack, public_outputs(terraform, stack_dir)))
        terraform.destroy(stack_dir)
        say(f"Destroyed the identity stack {stack.stack_id!r}")
        delete_state_bucket(config, bootstrap_dir, terraform, aws, say)


def create_state_bucket(config: IdentityConfig, outdir: Path, terraform: Terraform, say: Say) -> Path:
    """The chicken-and-egg path: apply with local state, then move that state into the new bucket."""
    bucket = config.backend.bucket
    stack_dir = synthesize_bootstrap(bootstrap_spec(config, "local"), outdir)
    say("Synthesized the state bootstrap, its own state in a local file")
    local = terraform.with_environment(for_local_state(terraform.env))
    local.init(stack_dir)
    local.apply(stack_dir)
    say(f"Created the state bucket {bucket!r}: versioned, encrypted, public access blocked, TLS only")
    synthesize_bootstrap(bootstrap_spec(config, "s3"), outdir)
    terraform.init(stack_dir, "-migrate-state", "-force-copy")
    say(f"Moved the bootstrap's state into s3://{bucket}/{STATE_KEY}")
    return stack_dir


def deploy_identity(blueprint: Blueprint, stack: StackSpec, outdir: Path, terraform: Terraform, say: Say) -> Path:
    """Synthesize ``blueprint`` and apply its ``stack``; the stack's folder."""
    synthesize(blueprint, outdir)
    say(f"Synthesized the identity stack {stack.stack_id!r}")
    stack_dir = outdir / "stacks" / stack.stack_id
    terraform.init(stack_dir)
    terraform.apply(stack_dir)
    say(f"Deployed {stack.stack_id!r}, its state in s3://{stack.backend.bucket}/{stack.backend.key}")
    return stack_dir


def public_outputs(terraform: Terraform, stack_dir: Path) -> dict[str, Any]:
    """The stack's outputs that are not marked sensitive (so never the secret access key)."""
    completed = terraform.run(["output", "-json", "-no-color"], stack_dir)
    outputs: dict[str, dict[str, Any]] = json.loads(completed.stdout)
    return {name: output["value"] for name, output in outputs.items() if not output.get("sensitive")}


def created_summary(stack: StackSpec, outputs: dict[str, Any]) -> str:
    """What a newcomer wants to see: the user, its policies, the key id, and where the secret went."""
    lines = [
        f"Created in environment {stack.environment!r} ({stack.region}):",
        f"  IAM user        {outputs['user_name']} (no console password)",
        f"  user ARN        {outputs['user_arn']}",
        *(f"  policy ARN      {arn}" for arn in outputs["policy_arns"]),
        f"  access key id   {outputs['access_key_id']}",
        "  The secret access key is not shown: it stays in the Terraform state (`terraform output -raw ...`).",
    ]
    return "\n".join(lines)


def delete_state_bucket(
    config: IdentityConfig, stack_dir: Path, terraform: Terraform, aws: AwsEmulator, say: Say
) -> None:
    """The way back: state to a local file, the bucket emptied of every version, then destroyed."""
    synthesize_bootstrap(bootstrap_spec(config, "local"), stack_dir.parents[1])
    local = terraform.with_environment(for_local_state(terraform.env))
    local.init(stack_dir, "-migrate-state", "-force-copy")
    removed = empty_bucket(aws, config.backend.bucket, config.backend.region)
    local.destroy(stack_dir)
    say(f"Moved the bootstrap's state back to a local file, removed {removed} object versions, deleted the bucket")


def empty_bucket(aws: AwsEmulator, bucket: str, region: str) -> int:
    """Delete every object version and delete marker in ``bucket`` (versioned: a plain delete only hides)."""
    s3 = aws.client("s3", region)
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if versions:
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            removed += len(objects)
    return removed


def _reporter(stdout: TextIO) -> Say:
    started = time.monotonic()

    def say(message: str) -> None:
        stamp = f"[{time.monotonic() - started:5.1f}s] "
        first, *more = message.splitlines()
        print("\n".join([stamp + first, *(" " * len(stamp) + line for line in more)]), file=stdout, flush=True)

    return say


def _start_jsii_in(folder: Path) -> None:
    """Start jsii's Node process now, with its temporary ``jsii-kernel-*`` folder inside ``folder``.

    Node leaves that folder behind when a Ctrl-C kills it. Only Node gets the new ``$TMPDIR``: Terraform's
    plugin sockets must stay on a short path (at most 108 bytes), which a folder nested in ``$TMPDIR`` may not be.
    """
    folder.mkdir()
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    try:
        from programmatic_iam import cdk  # noqa: F401 (loading cdktf's assembly starts the Node process)
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous


if __name__ == "__main__":
    sys.exit(main())
