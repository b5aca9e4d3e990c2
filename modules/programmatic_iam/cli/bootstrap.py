"""``bootstrap synth``: the stack that creates the state bucket, in its own folder.

The chicken-and-egg path (docs/state-backend.md): synthesize with ``--state local``, ``terraform init`` and
``apply`` in the stack folder, synthesize again with ``--state s3``, then ``terraform init -migrate-state
-force-copy`` moves the bootstrap's own state into the bucket it created.

Once that migration has happened (the stack folder's ``.terraform/`` records the s3 backend), ``--state local``
is refused: changes to the bucket go through ``make bootstrap-apply``, and only the take-down path
(``--state local --take-down``) moves the state out of the bucket again.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError, EngineError, show
from ..files import MAX_RECORD_BYTES, RefusedError, read_text
from ..spec.state_bucket import STATE_LOCATIONS, BootstrapSpec, StateLocation, bootstrap_spec
from .context import Context
from .output import output_folder_problems, output_refusal, synthesize_via_staging
from .problems import EXIT_BAD_INPUT, EXIT_OK, EXIT_WRONG_STEP, report_engine_error, report_problems, report_unwritable

NAME = "bootstrap"
HELP = "synthesize the stack that creates the S3 state bucket configured in [backend] (docs/state-backend.md)"

DEFAULT_OUTDIR = "cdktf.out.bootstrap"
# Where Terraform records the backend a working directory was initialised with.
BACKEND_RECORD = Path(".terraform") / "terraform.tfstate"
# The S3-only `terraform init` arguments that the emulator's shell sets (use_path_style); a local state refuses them.
WITHOUT_S3_INIT_ARGUMENTS = "env -u TF_CLI_ARGS_init "
COMMAND_LINE = "PYTHONPATH=modules pipenv run python -m programmatic_iam bootstrap"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``bootstrap synth [--state local|s3] [--output DIR] [--take-down]``."""
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    synth = steps.add_parser("synth", help="synthesize the bootstrap stack", description=HELP)
    synth.add_argument(
        "--state",
        choices=STATE_LOCATIONS,
        default="local",
        help="where the bootstrap keeps its own state: a local file (before the bucket exists; the default) "
        "or the bucket itself",
    )
    synth.add_argument(
        "--output", default=DEFAULT_OUTDIR, metavar="DIR", help=f"output folder (default: {DEFAULT_OUTDIR})"
    )
    synth.add_argument(
        "--take-down",
        action="store_true",
        help="with --state local: move the bootstrap's state out of the bucket, to destroy the bucket "
        "(docs/state-backend.md, 'Taking it down'); without it, --state local is refused once the state "
        "is in the bucket",
    )
    synth.set_defaults(parser=synth)


def run(arguments: argparse.Namespace, context: Context) -> int:
    """Synthesize the bootstrap stack and print the next steps, or refuse a step out of order."""
    if arguments.take_down and arguments.state != "local":
        arguments.parser.error("--take-down moves the state out of the bucket: it goes with --state local")
    outdir = Path(arguments.output)
    unusable = output_folder_problems(context.cwd / outdir, where="--output", given=show(arguments.output))
    try:
        spec = bootstrap_spec(load_config(context.environ, context.cwd), arguments.state)
    except ConfigError as error:
        report_problems(error, context.stderr)
        return report_problems(unusable, context.stderr) if unusable is not None else EXIT_BAD_INPUT
    if unusable is not None:
        return report_problems(unusable, context.stderr)
    refusal = wrong_path(
        context.cwd / outdir / "stacks" / spec.stack_id, arguments.state, take_down=arguments.take_down
    )
    if refusal:
        print(refusal, file=context.stderr)
        return EXIT_WRONG_STEP
    try:
        stack_dir = synthesize_bootstrap(spec, context.cwd / outdir)
    except EngineError as error:
        return report_engine_error(error, context.stderr)
    except RefusedError as refused:  # something was put into the folder while the stack was synthesized
        return report_problems(output_refusal(refused, where="--output", given=show(arguments.output)), context.stderr)
    except OSError as error:
        return report_unwritable(outdir, error, context.stderr)
    print(next_steps(stack_dir, arguments.state, take_down=arguments.take_down), file=context.stdout)
    return EXIT_OK


def initialised_backend(stack_dir: Path) -> str | None:
    """The backend type (``"s3"``, ``"local"``) that ``terraform init`` last set up in ``stack_dir``, if any."""
    try:
        record = json.loads(read_text(stack_dir / BACKEND_RECORD, limit=MAX_RECORD_BYTES))
    except (RefusedError, ValueError, RecursionError):
        return None
    backend = record.get("backend") if isinstance(record, dict) else None
    kind = backend.get("type") if isinstance(backend, dict) else None
    return kind if isinstance(kind, str) else None


def wrong_path(stack_dir: Path, state: StateLocation, *, take_down: bool) -> str | None:
    """Why synthesizing ``state`` into ``stack_dir`` would lead Terraform astray, or ``None`` if it would not.

    ``--state local`` after the migration would make ``terraform init`` suggest ``-migrate-state`` or
    ``-reconfigure``, both wrong there; ``--take-down`` before it would destroy nothing, as the local state is
    not the bucket's.
    """
    if state != "local":
        return None
    here = os.path.relpath(stack_dir)
    in_bucket = initialised_backend(stack_dir) == "s3"
    if in_bucket and not take_down:
        return "\n".join(
            [
                f"{here} keeps its state in the bucket already: the bucket exists.",
                "To change the bucket (tags, a KMS key, a lock table), run `make bootstrap-apply`. Do not run",
                "`make bootstrap` again, and do not follow Terraform's `-migrate-state` or `-reconfigure` advice.",
                "To take the bucket down, run (docs/state-backend.md, 'Taking it down'):",
                f"  {COMMAND_LINE} synth --state local --take-down",
            ]
        )
    if take_down and not in_bucket:
        return "\n".join(
            [
                f"--take-down moves the bootstrap's state out of the bucket, but {here} is not initialised with",
                "the bucket's state (a fresh clone, or the state was never moved into the bucket). First run:",
                f"  {COMMAND_LINE} synth --state s3",
                f"  terraform -chdir={here} init",
                "then this command again (docs/state-backend.md, 'Taking it down').",
            ]
        )
    return None


def synthesize_bootstrap(spec: BootstrapSpec, outdir: Path) -> Path:
    """Synthesize the bootstrap stack into ``outdir``; return its stack folder.

    The local state, ``.terraform/`` and the lock file that Terraform keeps in the stack folder survive the
    re-synthesis that precedes ``terraform init -migrate-state`` (see :func:`synthesize_via_staging`).
    """
    from ..cdk.state_bucket import build_bootstrap_app  # cdktf and Node start only once the config is known to be good

    synthesize_via_staging(lambda staging: build_bootstrap_app(spec, staging), outdir)
    return outdir / "stacks" / spec.stack_id


def next_steps(stack_dir: Path, state: StateLocation, *, take_down: bool = False) -> str:
    """What to run after synthesizing, for people following docs/state-backend.md."""
    here = os.path.relpath(stack_dir)
    stale_copies = f"{here}/terraform.tfstate {here}/terraform.tfstate.backup"
    if state == "local" and take_down:
        return "\n".join(
            [
                f"Synthesized the state bootstrap into {here}, its own state in a local file again.",
                "Move the state out of the bucket, empty the bucket, then destroy it (docs/state-backend.md,",
                "'Taking it down'; destroy every identity stack first):",
                f"  {WITHOUT_S3_INIT_ARGUMENTS}terraform -chdir={here} init -migrate-state -force-copy",
                "  (delete every object version and delete marker in the bucket)",
                f"  terraform -chdir={here} destroy",
            ]
        )
    if state == "local":
        return "\n".join(
            [
                f"Synthesized the state bootstrap into {here}, its own state in a local file.",
                "Create the bucket, then move this state into it (`make bootstrap` does all of this):",
                f"  {WITHOUT_S3_INIT_ARGUMENTS}terraform -chdir={here} init",
                f"  terraform -chdir={here} apply",
                "  (this command again, with --state s3)",
                f"  terraform -chdir={here} init -migrate-state -force-copy",
                f"  terraform -chdir={here} plan   # expect: No changes.",
                f"  rm -f {stale_copies}   # now stale copies",
            ]
        )
    return "\n".join(
        [
            f"Synthesized the state bootstrap into {here}, its own state in the bucket.",
            "Right after the first, local apply: move the state into the bucket, check it, remove the stale copy:",
            f"  terraform -chdir={here} init -migrate-state -force-copy",
            f"  terraform -chdir={here} plan   # expect: No changes.",
            f"  rm -f {stale_copies}",
            "Otherwise (a change to the bucket; `make bootstrap-apply` does this):",
            f"  terraform -chdir={here} init",
            f"  terraform -chdir={here} apply",
        ]
    )
