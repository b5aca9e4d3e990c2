"""``deployer-policy``: print the least-privilege policy of the identity that runs Terraform on the stacks."""

from __future__ import annotations

import argparse

from ..analysis.deployer import deployer_policy, to_console_json, usage_reader_policy
from ..errors import ConfigError, Problem, show
from .context import Context
from .inputs import load_blueprint
from .problems import EXIT_OK, report_notices, report_problems

NAME = "deployer-policy"
HELP = (
    "print the IAM policy that the identity running `terraform init/plan/apply/destroy` on the configured "
    "stacks needs, and nothing more (docs/deployer-policy.md)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``deployer-policy [--environment NAME]...``."""
    parser.add_argument(
        "--environment",
        action="append",
        metavar="NAME",
        help="only this environment's stack (repeatable); default: every configured environment",
    )
    parser.add_argument(
        "--usage",
        action="store_true",
        help="instead, the read-only policy of `usage report` and `usage tighten` and of the schedule that runs "
        "them (docs/tightening.md)",
    )


def run(arguments: argparse.Namespace, context: Context) -> int:
    """The policy document on stdout, warnings on stderr; or every problem and exit status 2."""
    if arguments.usage:
        try:
            blueprint = load_blueprint(context.environ, context.cwd)
            known = [stack.environment for stack in blueprint.stacks]
            unknown = [name for name in arguments.environment or [] if name not in known]
            if unknown:
                why = f"is not an environment of the configuration ({', '.join(dict.fromkeys(known))})"
                problems = [Problem("--environment", show(name), why, "name a configured one") for name in unknown]
                raise ConfigError(problems, subject="the command line")
            chosen = arguments.environment or known
            stacks = [stack for stack in blueprint.stacks if stack.environment in chosen]
        except ConfigError as error:
            return report_problems(error, context.stderr, wrote_nothing=False)
        print(to_console_json(usage_reader_policy(stacks)), file=context.stdout)
        return EXIT_OK
    try:
        policy = deployer_policy(
            load_blueprint(context.environ, context.cwd), arguments.environment, selected_by="--environment"
        )
    except ConfigError as error:
        return report_problems(error, context.stderr, wrote_nothing=False)
    report_notices(policy.notices, context.stderr)
    print(to_console_json(policy.document), file=context.stdout)
    return EXIT_OK
