"""Reading the configuration at the edge: the file, then the blueprint, their problems reported together."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..blueprint import build_blueprint
from ..config import IdentityConfig, load_config
from ..errors import ConfigError
from ..spec import Blueprint


def load_blueprint(environ: Mapping[str, str], cwd: Path) -> Blueprint:
    """Load the configuration and resolve it, reporting problems from both steps in one :class:`ConfigError`.

    When the file has problems, the blueprint is still resolved from what was valid, so that name and
    policy problems, and the warnings of every step, are reported in the same run.
    """
    return load_configured(environ, cwd)[1]


def load_configured(environ: Mapping[str, str], cwd: Path) -> tuple[IdentityConfig, Blueprint]:
    """:func:`load_blueprint`, with the configuration it came from (its ``origin`` names the file)."""
    try:
        config = load_config(environ, cwd)
    except ConfigError as error:
        if not isinstance(error.partial, IdentityConfig):
            raise
        problems, notices = error.problems, error.notices
        try:
            notices += build_blueprint(error.partial).notices
        except ConfigError as more:
            problems += more.problems
            notices += more.notices
        raise ConfigError(list(dict.fromkeys(problems)), subject=error.subject, notices=notices) from None
    return config, build_blueprint(config)
