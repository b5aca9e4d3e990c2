"""The cdktf layer: constructs and stacks built from the blueprint."""

from .app import build_app
from .identity import ProgrammaticIdentity, policy_construct_id
from .stack import IdentityStack, require_aws_provider

__all__ = ["IdentityStack", "ProgrammaticIdentity", "build_app", "policy_construct_id", "require_aws_provider"]
