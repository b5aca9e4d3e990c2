"""``python -m programmatic_iam COMMAND``."""

from .cli import run_process

run_process()
