"""The remote-state bootstrap as plain data: the bucket (and optional lock table) that every stack's state lives in."""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Any, Literal, get_args

from ..config.model import IdentityConfig
from ..errors import ConfigError, Problem
from .stack import BackendSpec

StateLocation = Literal["local", "s3"]
STATE_LOCATIONS: tuple[StateLocation, ...] = get_args(StateLocation)

STACK_ID = "terraform-state"
"""The bootstrap stack's id: its folder under ``stacks/`` in the bootstrap's output."""
STATE_KEY = "bootstrap/terraform.tfstate"
"""Where the bootstrap keeps its own state once it has been moved into the bucket it created."""
LOCAL_STATE_FILE = "terraform.tfstate"
"""The bootstrap's state before the bucket exists, relative to its stack folder."""
LOCK_TABLE_HASH_KEY = "LockID"
"""The attribute Terraform's S3 backend writes its DynamoDB locks under."""

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"


@dataclass(frozen=True, slots=True)
class StateBucketSpec:
    """The state bucket: versioned, encrypted by default, private, TLS only; and its optional lock table."""

    bucket: str
    sse_algorithm: str
    """``AES256`` (SSE-S3, the default) or ``aws:kms`` when ``kms_key_id`` is set."""
    kms_key_id: str | None = None
    lock_table: str | None = None
    """A DynamoDB table for Terraform's legacy locking; ``None`` (the default) relies on lock files."""


@dataclass(frozen=True, slots=True)
class BootstrapSpec:
    """The bootstrap stack: the state bucket, and where the bootstrap keeps its own state."""

    stack_id: str
    region: str
    state_bucket: StateBucketSpec
    backend: BackendSpec | None
    """The bucket itself (key :data:`STATE_KEY`), or ``None`` for a local state file in the stack folder."""
    default_tags: tuple[tuple[str, str], ...]
    provider_version: str
    required_version: str


def bootstrap_spec(config: IdentityConfig, state: StateLocation = "local") -> BootstrapSpec:
    """The bootstrap of ``config.backend``, its own state kept ``local``-ly or in the new bucket (``s3``).

    Raises :class:`ConfigError` when ``[cloud]`` is set: HCP Terraform keeps the state, there is no bucket to make.
    """
    if config.cloud is not None:
        raise ConfigError(
            [
                Problem(
                    f"{config.origin}: cloud",
                    f"organization {config.cloud.organization!r}",
                    "keeps every stack's state on HCP Terraform, so there is no state bucket to create",
                    "skip the bootstrap (docs/terraform-workflows.md#hcp-terraform), or remove [cloud] to use S3",
                )
            ]
        )
    backend = config.backend
    own_state = BackendSpec.of(backend, STATE_KEY)
    return BootstrapSpec(
        stack_id=STACK_ID,
        region=backend.region,
        state_bucket=StateBucketSpec(
            bucket=backend.bucket,
            # S3 encrypts every new object since 2023; we still state the choice so that a plan shows it.
            sse_algorithm=SSE_KMS if backend.kms_key_id else SSE_S3,
            kms_key_id=backend.kms_key_id,
            lock_table=backend.dynamodb_table,
        ),
        backend=own_state if state == "s3" else None,
        default_tags=tuple(config.tags.items()),
        provider_version=config.terraform.provider_version,
        required_version=config.terraform.required_version,
    )


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """A bucket policy refusing every request to the bucket or its objects made without TLS.

    ``bucket_arn`` may be an unresolved value (a cdktf token); it is only placed, never parsed.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def policy_json(document: dict[str, Any]) -> str:
    """A policy document as compact JSON (keys in the order AWS's examples use)."""
    return json.dumps(document, separators=(",", ":"))
