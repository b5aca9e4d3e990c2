"""Least-privilege, programmatic-only AWS IAM identities as cdktf stacks.

The flow: configuration (:mod:`.config`) -> names and policy (:mod:`.naming`, :mod:`.policy`,
:mod:`.blueprint`, pure Python) -> constructs and stacks (:mod:`.cdk`, the only cdktf user) -> app.
"""

from .blueprint import Blueprint, IdentitySpec, StackSpec, build_blueprint, identity_spec
from .config import IdentityConfig, load_config, load_config_file, parse_config
from .errors import ConfigError, Problem

__all__ = [
    "Blueprint",
    "ConfigError",
    "IdentityConfig",
    "IdentitySpec",
    "Problem",
    "StackSpec",
    "build_blueprint",
    "identity_spec",
    "load_config",
    "load_config_file",
    "parse_config",
]
