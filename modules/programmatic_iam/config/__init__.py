"""The configuration: its typed model, its loader, and the fleet it resolves into (one config per stack)."""

from .fleet import Fleet, Setting, StackConfig, explain, load_fleet, load_fleet_file, parse_fleet, resolve_fleet
from .loader import CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE, load_config, load_config_file, parse_config
from .model import Backend, Environment, IdentityConfig, IdentityEntry, Naming, Policy, Terraform, User

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "DEFAULT_CONFIG_FILE",
    "Backend",
    "Environment",
    "Fleet",
    "IdentityConfig",
    "IdentityEntry",
    "Naming",
    "Policy",
    "Setting",
    "StackConfig",
    "Terraform",
    "User",
    "explain",
    "load_config",
    "load_config_file",
    "load_fleet",
    "load_fleet_file",
    "parse_config",
    "parse_fleet",
    "resolve_fleet",
]
