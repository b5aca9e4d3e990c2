"""Readable Terraform addresses for the identity's resources, with ``moved`` blocks from the hashed ones.

cdktf names a resource after its construct path and a hash of it (``aws_iam_user.identity_user_950F93CB``),
which reads like noise in a plan, a review and ``terraform state`` commands. The identity constructs name
theirs ``<prefix><construct id>`` instead (``aws_iam_user.user`` in the app's stacks) and declare a
``moved`` block from the hashed address, so a stack deployed before the change moves its state instead
of replacing the user and handing out a new key.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
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


@dataclass
class _StackAddresses:
    """What the readably addressed constructs of one stack have named, and moved, so far."""

    moves: list[dict[str, str]] = field(default_factory=list)
    taken: Counter[str] = field(default_factory=Counter)


class ReadablyAddressed(Construct):
    """A construct whose resources have readable addresses: it passes each through :meth:`_readable` as it makes
    it, then calls :meth:`_finish_addresses`.

    The ``moved`` blocks are written as one override of the stack, not with cdktf's ``move_from_id``, whose
    resolution at synthesis costs about 80 ms per stack (measured with 20 stacks; docs/performance.md).
    """

    def __init__(self, scope: Construct, id: str, address_prefix: str | None = None) -> None:
        super().__init__(scope, id)
        self.address_prefix = default_address_prefix(id) if address_prefix is None else address_prefix
        if not _ADDRESS_NAME.fullmatch(f"{self.address_prefix}x"):
            raise ValueError(
                f"address prefix {self.address_prefix!r} cannot start a Terraform resource name (letters, digits, "
                "'_' and '-', not starting with a digit or '-'); pass address_prefix with such a name"
            )
        self._stack = TerraformStack.of(self)
        self._addresses = _stack_addresses(self._stack)
        self._named = 0

    def _readable(self, resource: ResourceT) -> ResourceT:
        """Name ``resource`` ``<prefix><its construct id>``; record the move from the name cdktf would give it.

        Call it as the resource is made, before anything refers to it: the first reference fixes the address.
        """
        # The stack's own allocation is what named the resource before, a stack's override of it included.
        hashed = self._stack._allocate_logical_id(resource)
        name = f"{self.address_prefix}{resource.node.id}"
        resource.override_logical_id(name)
        if resource.friendly_unique_id != name:  # cdktf keeps the first address it gave out, silently
            raise RuntimeError(f"{resource.node.path} was referred to before it could be named {name!r}")
        self._named += 1
        kind = resource.terraform_resource_type
        self._addresses.moves.append({"from": f"{kind}.{hashed}", "to": f"{kind}.{name}"})
        self._addresses.taken[f"{kind}.{name}"] += 1
        return resource

    def _finish_addresses(self) -> None:
        """Check that every resource went through :meth:`_readable`, and write the stack's ``moved`` blocks."""
        resources = sum(isinstance(child, TerraformResource) for child in self.node.children)
        if resources != self._named:
            raise RuntimeError(f"{self.node.path}: {resources - self._named} resource(s) made without _readable()")
        self._stack.add_override("moved", list(self._addresses.moves))


def _stack_addresses(stack: TerraformStack) -> _StackAddresses:
    """The stack's record, made (with its validation) by the first readably addressed construct in it."""
    found: _StackAddresses | None = getattr(stack, _RECORD, None)
    if found is None:
        found = _StackAddresses()
        setattr(stack, _RECORD, found)
        stack.node.add_validation(_UniqueAddresses(stack.node.id, found))
    return found


_RECORD = "_programmatic_iam_addresses"


@jsii.implements(IValidation)
class _UniqueAddresses:
    """Fails synthesis when two readably addressed resources of a stack got one address.

    cdktf would silently merge them into one in the synthesized JSON. Resources named by other code are not
    counted: the prefix of each construct (its construct id by default) keeps ours apart from theirs.
    """

    def __init__(self, stack_id: str, record: _StackAddresses) -> None:
        self._stack_id = stack_id
        self._record = record

    def validate(self) -> list[str]:
        return [
            f"{count} resources in stack {self._stack_id!r} have the address {address}; give each "
            "identity construct in a stack its own address_prefix (or its own construct id)"
            for address, count in self._record.taken.items()
            if count > 1
        ]
