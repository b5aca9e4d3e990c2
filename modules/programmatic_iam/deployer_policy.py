"""`python -m programmatic_iam.deployer_policy`: print the deploying identity's least-privilege policy."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
import os
from pathlib import Path
import sys
from typing import TextIO

from .blueprint import load_blueprint
from .deployer import deployer_policy, to_console_json
from .errors import ConfigError

EXIT_CONFIG_ERROR = 2


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (argparse exits with status 2 and the usage on a bad one)."""
    parser = argparse.ArgumentParser(
        prog="python -m programmatic_iam.deployer_policy",
        description="Print the IAM policy that the identity running `terraform init/plan/apply/destroy` "
        "on the configured stacks needs, and nothing more. The configuration is read as the app reads it: "
        "iam.toml, or the file $IAM_CONFIG names, or the built-in default.",
    )
    parser.add_argument(
        "--environment",
        action="append",
        metavar="NAME",
        help="only this environment's stack (repeatable); default: every configured environment",
    )
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    cwd: Path | None = None,
) -> int:
    """Print the policy document on stdout, warnings on stderr. Returns the process exit code.

    ``cwd`` is where ``iam.toml`` (or a relative ``$IAM_CONFIG``) is looked for; default: the working folder.
    """
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        policy = deployer_policy(load_blueprint(environ, cwd), arguments.environment)
    except ConfigError as error:
        print(error.render(), file=stderr)
        return EXIT_CONFIG_ERROR
    for notice in policy.notices:
        print(f"warning: {notice.render()}", file=stderr)
    print(to_console_json(policy.document), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
