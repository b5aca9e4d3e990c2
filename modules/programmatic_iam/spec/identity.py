"""An identity by its parts: who it is (the principal), how it signs in (credentials), what it may do (policies)."""

from __future__ import annotations

from dataclasses import dataclass
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


Principal = UserPrincipal
"""Every kind of principal (a role with an instance profile is the next one)."""


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One access key of a user; its secret comes back as a sensitive output (delivery and rotation come next)."""


Credentials = AccessKey
"""Every kind of credentials."""


@dataclass(frozen=True, slots=True)
class PolicyAttachment:
    """Where the managed policies are attached: to the principal itself, or to a group it is the only member of."""

    to: Literal["user", "group"] = "user"
    group_name: str = ""
    """The group's name when ``to`` is ``"group"``; ``""`` otherwise."""


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """Everything the identity construct creates: the principal, its policies and their attachment, its credentials."""

    principal: Principal
    policies: tuple[ManagedPolicy, ...]
    attachment: PolicyAttachment = PolicyAttachment()
    credentials: Credentials = AccessKey()
