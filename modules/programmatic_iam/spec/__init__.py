"""Plain, frozen descriptions of what the stacks create, by kind; built from a loaded configuration."""

from .identity import (
    AccessKey,
    Adoption,
    Credentials,
    IdentitySpec,
    ManagedPolicy,
    PolicyAttachment,
    Principal,
    RolePrincipal,
    UserPrincipal,
)
from .stack import AssumedRole, BackendSpec, Blueprint, CloudSpec, StackSpec

__all__ = [
    "AccessKey",
    "Adoption",
    "AssumedRole",
    "BackendSpec",
    "Blueprint",
    "CloudSpec",
    "Credentials",
    "IdentitySpec",
    "ManagedPolicy",
    "PolicyAttachment",
    "Principal",
    "RolePrincipal",
    "StackSpec",
    "UserPrincipal",
]
