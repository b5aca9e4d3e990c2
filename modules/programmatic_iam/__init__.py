"""Least-privilege, programmatic-only AWS IAM identities as cdktf stacks.

The flow: configuration (:mod:`.config`) -> names and policy (:mod:`.naming`, :mod:`.policy`, pure Python)
-> specs by kind (:mod:`.spec`, built by :mod:`.blueprint`) -> constructs and stacks (:mod:`.cdk`, the only
cdktf user) -> app. :mod:`.cli` is the command line around it; :mod:`.analysis` works on specs without cdktf.
"""

from .blueprint import build_blueprint, identity_spec, identity_specs
from .config import Fleet, IdentityConfig, load_config, load_config_file, load_fleet, parse_config
from .errors import ConfigError, Problem
from .spec import AccessKey, Blueprint, IdentitySpec, PolicyAttachment, StackSpec, UserPrincipal

__all__ = [
    "AccessKey",
    "Blueprint",
    "ConfigError",
    "Fleet",
    "IdentityConfig",
    "IdentitySpec",
    "PolicyAttachment",
    "Problem",
    "StackSpec",
    "UserPrincipal",
    "build_blueprint",
    "identity_spec",
    "identity_specs",
    "load_config",
    "load_config_file",
    "load_fleet",
    "parse_config",
]
