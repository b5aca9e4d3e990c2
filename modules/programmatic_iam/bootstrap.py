"""``python -m programmatic_iam.bootstrap synth``: the stack that creates the state bucket, in its own folder.

The chicken-and-egg path (docs/state-backend.md): synthesize with ``--state local``, ``terraform init`` and
``apply`` in the stack folder, synthesize again with ``--state s3``, then ``terraform init -migrate-state
-force-copy`` moves the bootstrap's own state into the bucket it created.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
import os
from pathlib import Path
import sys
from typing import TextIO

from .cli import EXIT_CONFIG_ERROR, EXIT_OUTPUT_ERROR, synthesize_via_staging
from .errors import ConfigError
from .state_bucket import STATE_LOCATIONS, BootstrapSpec, StateLocation, load_bootstrap_spec

DEFAULT_OUTDIR = "cdktf.out.bootstrap"


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Parse the command line, then synthesize the bootstrap stack. Returns the process exit code."""
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        spec = load_bootstrap_spec(args.state, environ)
    except ConfigError as error:
        print(error.render(), file=stderr)
        return EXIT_CONFIG_ERROR
    outdir = Path(args.output)
    try:
        stack_dir = synthesize_bootstrap(spec, outdir)
    except OSError as error:
        print(
            f"{outdir}: cannot write the output ({error}); check the folder's permissions and free space", file=stderr
        )
        return EXIT_OUTPUT_ERROR
    print(next_steps(stack_dir, args.state), file=stdout)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m programmatic_iam.bootstrap",
        description="Synthesize the stack that creates the S3 state bucket configured in [backend].",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synth", help="synthesize the bootstrap stack")
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
    return parser


def synthesize_bootstrap(spec: BootstrapSpec, outdir: Path) -> Path:
    """Synthesize the bootstrap stack into ``outdir``; return its stack folder.

    Unlike the identity stacks' output, the folder is updated in place: only the files cdktf writes are
    replaced, so the local state, ``.terraform/`` and the lock file that Terraform keeps beside them
    survive the re-synthesis that precedes ``terraform init -migrate-state``.
    """
    from .cdk.state import build_bootstrap_app  # cdktf and Node start only once the config is known to be good

    synthesize_via_staging(lambda staging: build_bootstrap_app(spec, staging), outdir, _move_files)
    return outdir / "stacks" / spec.stack_id


def _move_files(source: Path, target: Path) -> None:
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, destination)


def next_steps(stack_dir: Path, state: StateLocation) -> str:
    """What to run after synthesizing, for people following docs/state-backend.md."""
    here = os.path.relpath(stack_dir)
    if state == "local":
        return "\n".join(
            [
                f"Synthesized the state bootstrap into {here}, its own state in a local file.",
                "Create the bucket, then move this state into it:",
                f"  terraform -chdir={here} init",
                f"  terraform -chdir={here} apply",
                "  (this command again, with --state s3)",
                f"  terraform -chdir={here} init -migrate-state -force-copy",
            ]
        )
    return "\n".join(
        [
            f"Synthesized the state bootstrap into {here}, its own state in the bucket.",
            f"  terraform -chdir={here} init -migrate-state -force-copy   # first time after a local apply",
            f"  terraform -chdir={here} init                              # otherwise",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
