"""A stack per identity and environment (provider, backend, versions, the identity) and the blueprint that holds them all."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.model import Backend
from ..errors import Notice
from .identity import IdentitySpec


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """The S3 backend of one stack."""

    bucket: str
    key: str
    region: str
    encrypt: bool
    use_lockfile: bool
    dynamodb_table: str | None
    kms_key_id: str | None

    @classmethod
    def of(cls, backend: Backend, key: str) -> BackendSpec:
        """The ``[backend]`` settings with the state object ``key`` (rendered per stack)."""
        return cls(
            bucket=backend.bucket,
            key=key,
            region=backend.region,
            encrypt=backend.encrypt,
            use_lockfile=backend.use_lockfile,
            dynamodb_table=backend.dynamodb_table,
            kms_key_id=backend.kms_key_id,
        )


@dataclass(frozen=True, slots=True)
class CloudSpec:
    """HCP Terraform as the stack's home: its organization and workspace (a name, or tags selecting several)."""

    organization: str
    workspace: str | None
    workspace_tags: tuple[str, ...] = ()
    project: str | None = None
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class AssumedRole:
    """The role the stack's provider assumes to work in the environment's account."""

    role_arn: str
    session_name: str
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class StackSpec:
    """One stack: an identity in one environment."""

    identity_name: str
    """The identity's name (``identities.name``, or ``naming.name`` in a file without [[identities]]): its
    ``programmatic-iam:identity`` tag, and what commands group the stacks by. (``identity`` is its spec.)"""
    environment: str
    region: str
    account_id: str | None
    default_tags: tuple[tuple[str, str], ...]
    backend: BackendSpec
    identity: IdentitySpec
    provider_version: str
    required_version: str
    assume_role: AssumedRole | None = None
    cloud: CloudSpec | None = None
    """Set: the stack uses HCP Terraform instead of ``backend``, and ``backend`` is not written."""

    @property
    def stack_id(self) -> str:
        """The principal's name: it names the folder in ``cdktf.out/stacks`` (part of the product's contract)."""
        return self.identity.principal.name


@dataclass(frozen=True, slots=True)
class Blueprint:
    """All stacks of a configuration, and the warnings found on the way."""

    stacks: tuple[StackSpec, ...]
    """In the fleet's order: identity by identity as in the file, each in its environments as in the file."""
    notices: tuple[Notice, ...]

    def of_identity(self, name: str) -> tuple[StackSpec, ...]:
        """The stacks of the identity ``name``, in environment order."""
        return tuple(stack for stack in self.stacks if stack.identity_name == name)

    @property
    def identities(self) -> tuple[str, ...]:
        """The identities' names, in the fleet's order, once each."""
        return tuple(dict.fromkeys(stack.identity_name for stack in self.stacks))
