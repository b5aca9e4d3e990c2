"""The cdktf app: one stack per environment of the blueprint."""

from __future__ import annotations

from ..spec import Blueprint
from .bindings import App
from .stack import IdentityStack


def build_app(blueprint: Blueprint, outdir: str) -> App:
    """An app with one :class:`IdentityStack` per environment, writing to ``outdir``."""
    app = App(outdir=outdir, stack_traces=False)
    for spec in blueprint.stacks:
        IdentityStack(app, spec.stack_id, spec)
    return app
