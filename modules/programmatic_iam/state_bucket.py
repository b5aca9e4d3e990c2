"""The remote-state bootstrap as plain data: the bucket (and optional lock table) that every stack's state lives in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import ipaddress
import json
from pathlib import Path
import re
from typing import Any, Literal, get_args

from .blueprint import BackendSpec
from .config.loader import load_config
from .config.model import IdentityConfig
from .errors import ConfigError, Problem, raise_if_any, show

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

# S3's naming rules beyond the shape that config.model already checks: these names are reserved.
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# The forms Terraform's S3 backend accepts (measured with 1.11): lowercase RFC 4122 key ids, so AWS's
# documentation example "1234abcd-12ab-34cd-56ef-1234567890ab" is refused.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_KMS_KEY = re.compile(
    rf"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{{12}}:(key/({_UUID}|mrk-[0-9a-f]{{32}})|alias/[A-Za-z0-9/_-]+)"
    rf"|{_UUID}|mrk-[0-9a-f]{{32}}|alias/[A-Za-z0-9/_-]+"
)


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

    Raises :class:`ConfigError` with every problem found.
    """
    raise_if_any(state_bucket_problems(config))
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


def load_bootstrap_spec(
    state: StateLocation, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> BootstrapSpec:
    """Load the configuration as the app does and derive the bootstrap, reporting problems from both steps."""
    try:
        config = load_config(environ, cwd)
    except ConfigError as error:
        if isinstance(error.partial, IdentityConfig):
            more = state_bucket_problems(error.partial)
            if more:
                raise ConfigError(list(dict.fromkeys([*error.problems, *more]))) from None
        raise
    return bootstrap_spec(config, state)


def state_bucket_problems(config: IdentityConfig) -> list[Problem]:
    """What in ``config.backend`` S3, DynamoDB or KMS would refuse when the bootstrap creates the bucket."""
    backend = config.backend
    where = f"{config.origin}: backend"
    problems = []
    reserved = [a for a in _BUCKET_RESERVED_PREFIXES if backend.bucket.startswith(a)]
    reserved += [a for a in _BUCKET_RESERVED_SUFFIXES if backend.bucket.endswith(a)]
    if reserved:
        problems.append(
            Problem(
                f"{where}.bucket",
                show(backend.bucket),
                f"uses {reserved[0]!r}, which S3 reserves",
                "choose a bucket name without it",
            )
        )
    if _is_ip_address(backend.bucket):
        problems.append(
            Problem(f"{where}.bucket", show(backend.bucket), "looks like an IP address", "choose a bucket name")
        )
    if backend.dynamodb_table is not None and not _TABLE_NAME.fullmatch(backend.dynamodb_table):
        problems.append(
            Problem(
                f"{where}.dynamodb_table",
                show(backend.dynamodb_table),
                "is not a DynamoDB table name",
                "use 3 to 255 letters, digits, '_', '.' and '-', or drop it to lock with a lock file",
            )
        )
    if backend.kms_key_id is not None and not _KMS_KEY.fullmatch(backend.kms_key_id):
        problems.append(
            Problem(
                f"{where}.kms_key_id",
                show(backend.kms_key_id),
                "is not a KMS key ARN, key id or alias",
                "use 'arn:aws:kms:<region>:<account id>:key/<key id>' (or an alias ARN, a key id or 'alias/<name>')",
            )
        )
    return problems


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


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
