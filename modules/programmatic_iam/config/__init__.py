"""The configuration: its typed model and its loader."""

from .loader import CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE, load_config, load_config_file, parse_config
from .model import Backend, Environment, IdentityConfig, Naming, Policy, Terraform, User

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "DEFAULT_CONFIG_FILE",
    "Backend",
    "Environment",
    "IdentityConfig",
    "Naming",
    "Policy",
    "Terraform",
    "User",
    "load_config",
    "load_config_file",
    "parse_config",
]
