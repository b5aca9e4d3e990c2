"""Readable Terraform addresses for the identity's resources, with ``moved`` blocks from the hashed ones.

cdktf names a resource after its construct path and a hash of it (``aws_iam_user.identity_user_950F93CB``),
which reads like noise in a plan, a review and ``terraform state`` commands. The identity constructs name
theirs ``<prefix><construct id>`` instead (``aws_iam_user.user`` in the app's stacks) and declare a
``moved`` block from the hashed address, so a stack deployed before the change moves its state instead
of replacing the user and handing out a new key.
"""

from __future__ import annotations

from collections import Counter
import re
from typing import TypeVar

import jsii

from .bindings import Construct, IValidation, TerraformResource, TerraformStack

_ADDRESS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
"""What Terraform accepts as a resource name."""
ResourceT = TypeVar("ResourceT", bound=TerraformResource)


def default_address_prefix(construct_id: str) -> str:
    """``<construct id>_``: unique in a stack as construct ids are, so two identities never share an address."""
    return f"{construct_id}_"


class ReadablyAddressed(Construct):
    """A construct whose resources have readable addresses: it passes each through :meth:`_readable` as it makes
    it, then calls :meth:`_guard_addresses`."""

    def __init__(self, scope: Construct, id: str, address_prefix: str | None = None) -> None:
        super().__init__(scope, id)
        self.address_prefix = default_address_prefix(id) if address_prefix is None else address_prefix

    def _readable(self, resource: ResourceT) -> ResourceT:
        return readable_address(resource, self.address_prefix)

    def _guard_addresses(self) -> None:
        guard_readable_addresses(self, self.address_prefix)


def readable_address(resource: ResourceT, prefix: str) -> ResourceT:
    """Name ``resource`` ``<prefix><its construct id>``, moved from the hashed name cdktf would give it.

    Call it as the resource is made, before anything refers to it: the first reference fixes the address.
    """
    if not _ADDRESS_NAME.fullmatch(f"{prefix}x"):
        raise ValueError(
            f"address prefix {prefix!r} cannot start a Terraform resource name (letters, digits, '_' and '-', "
            "not starting with a digit or '-'); pass address_prefix with such a name"
        )
    # The stack's own allocation is what named the resource before, a stack's override of it included.
    hashed = TerraformStack.of(resource)._allocate_logical_id(resource)
    resource.override_logical_id(f"{prefix}{resource.node.id}")
    resource.move_from_id(f"{resource.terraform_resource_type}.{hashed}")
    return resource


def guard_readable_addresses(construct: Construct, prefix: str) -> None:
    """Check that every resource of ``construct`` got its readable address, and keep it unique at synthesis.

    Two resources of one type with the same address would silently merge into one in the synthesized
    JSON, so synthesis fails instead (a validation: resources added to the stack later count too).
    """
    addresses = []
    for child in construct.node.children:
        if not isinstance(child, TerraformResource):
            continue
        if child.friendly_unique_id != f"{prefix}{child.node.id}":
            raise RuntimeError(f"{child.node.path} was made without readable_address()")
        addresses.append(f"{child.terraform_resource_type}.{child.friendly_unique_id}")
    construct.node.add_validation(_UniqueAddresses(TerraformStack.of(construct), tuple(addresses)))


@jsii.implements(IValidation)
class _UniqueAddresses:
    """Fails synthesis when another resource in the stack took one of the construct's addresses."""

    def __init__(self, stack: TerraformStack, addresses: tuple[str, ...]) -> None:
        self._stack = stack
        self._addresses = addresses

    def validate(self) -> list[str]:
        taken = Counter(
            f"{element.terraform_resource_type}.{element.friendly_unique_id}"
            for element in self._stack.node.find_all()
            if isinstance(element, TerraformResource)
        )
        return [
            f"{taken[address]} resources in stack {self._stack.node.id!r} have the address {address}; give each "
            "identity construct in a stack its own address_prefix (or its own construct id)"
            for address in self._addresses
            if taken[address] > 1
        ]
