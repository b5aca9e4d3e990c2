"""An identity by its parts: who it is (the principal), how it signs in (credentials), what it may do (policies)."""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Literal

from ..policy.document import PolicyDocument


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    """One customer-managed policy: its name and the document sent to AWS (not yet escaped)."""

    name: str
    document: PolicyDocument
    description: str
    path: str

    @property
    def document_json(self) -> str:
        return self.document.to_json()


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """An IAM user that can only call APIs: it never gets a login profile, so it has no console password."""

    name: str
    path: str = "/"
    permissions_boundary: str | None = None
    """ARN of a managed policy that caps the user's permissions; ``None`` for none."""
    force_destroy: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    """Tags on the user only, besides the provider's default tags."""


@dataclass(frozen=True, slots=True)
class RolePrincipal:
    """A role that EC2 instances assume through an instance profile of the same name: no user, no key at all."""

    name: str
    path: str = "/"
    permissions_boundary: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    service: str = "ec2.amazonaws.com"
    """The service trusted to assume the role (EC2's name in the environment's partition)."""

    @property
    def trust_policy(self) -> str:
        statement = {"Effect": "Allow", "Principal": {"Service": self.service}, "Action": "sts:AssumeRole"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))


Principal = UserPrincipal | RolePrincipal
"""Every kind of principal: a user with an access key, or a role with an instance profile."""


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One access key of a user, and where its secret goes (docs/security.md: where it lives in each mode)."""

    delivery: Literal["output", "secretsmanager", "ssm", "pgp"] = "output"
    pgp_key: str | None = None
    """With ``pgp``: the base64 public key; the state then holds only the encrypted secret."""
    secret_name: str = ""
    """With ``secretsmanager``: the secret's name, rendered."""
    parameter_path: str = ""
    """With ``ssm``: the path under which ``access-key-id`` and ``secret-access-key`` are written, rendered."""
    kms_key_id: str | None = None
    """The KMS key of the store; ``None``: the account's AWS managed key."""
    generation: int = 1
    """The current key's generation; odd and even generations alternate between two key resources."""
    previous: Literal["none", "active", "inactive"] = "none"
    """The previous generation's key, during a rotation."""
    max_age_days: int = 90
    """How old a key may get before ``keys status`` calls it overdue."""
    create: bool = True
    """``False``: no key is managed (an adopted user's hand-made key serves until one is rotated in)."""

    @property
    def uses_write_only_arguments(self) -> bool:
        """Whether a store receives the secret through write-only arguments (``secret_string_wo``, ``value_wo``)."""
        return self.create and self.delivery in ("secretsmanager", "ssm")


Credentials = AccessKey
"""Every kind of credentials."""


@dataclass(frozen=True, slots=True)
class PolicyAttachment:
    """Where the managed policies are attached: to the principal itself, or to a group it is the only member of."""

    to: Literal["user", "group"] = "user"
    group_name: str = ""
    """The group's name when ``to`` is ``"group"``; ``""`` otherwise."""


@dataclass(frozen=True, slots=True)
class Adoption:
    """Import the user, its policies and their attachments made by hand, instead of creating them."""

    account_id: str
    partition: str = "aws"

    def policy_arn(self, policy: ManagedPolicy) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:policy{policy.path}{policy.name}"


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """Everything the identity construct creates: the principal, its policies and their attachment, its credentials."""

    principal: Principal
    policies: tuple[ManagedPolicy, ...]
    attachment: PolicyAttachment = PolicyAttachment()
    credentials: Credentials = AccessKey()
    adoption: Adoption | None = None
    """Set: the first deploy imports what already exists (docs/adopting.md)."""
