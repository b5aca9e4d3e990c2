"""The cdktf layer: constructs and stacks built from the blueprint."""

from .app import build_app
from .identity import InstanceProfileIdentity, ProgrammaticIdentity, policy_construct_id
from .stack import IdentityStack, require_aws_provider, require_terraform, use_s3_backend
from .state_bucket import StateBootstrapStack, StateBucket, build_bootstrap_app

__all__ = [
    "IdentityStack",
    "InstanceProfileIdentity",
    "ProgrammaticIdentity",
    "StateBootstrapStack",
    "StateBucket",
    "build_app",
    "build_bootstrap_app",
    "policy_construct_id",
    "require_aws_provider",
    "require_terraform",
    "use_s3_backend",
]
