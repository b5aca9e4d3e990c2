"""Readable Terraform addresses for the identity's resources, with ``moved`` blocks from the hashed ones.

cdktf names a resource after its construct path and a hash of it (``aws_iam_user.identity_user_950F93CB``),
which reads like noise in a plan, a review and ``terraform state`` commands. The identity constructs name
theirs ``<prefix><construct id>`` instead (``aws_iam_user.user`` in the app's stacks) and declare a
``moved`` block from the hashed address, so a stack deployed before the change moves its state instead
of replacing the user and handing out a new key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import hashlib
import re
from typing import Concatenate, ParamSpec, TypeVar

import jsii

from .bindings import Construct, IValidation, TerraformResource, TerraformStack

_ADDRESS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
"""What Terraform accepts as a resource name."""
ResourceT = TypeVar("ResourceT", bound=TerraformResource)
Arguments = ParamSpec("Arguments")


def default_address_prefix(construct_id: str) -> str:
    """``<construct id>_``: unique in a stack as construct ids are, so two identities never share an address."""
    return f"{construct_id}_"


@dataclass
class _StackAddresses:
    """What the readably addressed constructs of one stack have named, and moved, so far."""

    moves: list[dict[str, str]] = field(default_factory=list)
    taken: Counter[str] = field(default_factory=Counter)
    constructs: int = 0


class ReadablyAddressed(Construct):
    """A construct whose resources have readable addresses: it makes each with :meth:`_add`, then calls
    :meth:`_finish_addresses`.

    The ``moved`` blocks are written as one override of the stack, not with cdktf's ``move_from_id``, whose
    resolution at synthesis costs about 80 ms per stack (measured with 20 stacks; docs/performance.md).
    Every question to the jsii kernel is a round trip to Node, which is most of a stack's time at fleet scale,
    so what Python already knows (construct ids, the hashed address of a direct child of a stack, a class's
    resource type) is not asked again.
    """

    def __init__(self, scope: Construct, id: str, address_prefix: str | None = None) -> None:
        super().__init__(scope, id)
        self.address_prefix = default_address_prefix(id) if address_prefix is None else address_prefix
        if not _ADDRESS_NAME.fullmatch(f"{self.address_prefix}x"):
            raise ValueError(
                f"address prefix {self.address_prefix!r} cannot start a Terraform resource name (letters, digits, "
                "'_' and '-', not starting with a digit or '-'); pass address_prefix with such a name"
            )
        # The path below the stack that cdktf hashes into a resource's address, when this construct is a direct
        # child of a stack that allocates addresses as cdktf does; otherwise the stack itself is asked.
        self._path_in_stack: tuple[str, ...] | None = None
        if isinstance(scope, TerraformStack):
            self._stack = scope
            if type(scope)._allocate_logical_id is TerraformStack._allocate_logical_id:
                self._path_in_stack = (construct_node_id(id),)
        else:
            self._stack = TerraformStack.of(self)
        self._addresses = _stack_addresses(self._stack)

    def _add(
        self,
        kind: Callable[Concatenate[Construct, str, Arguments], ResourceT],
        id: str,
        /,
        *args: Arguments.args,
        **kwargs: Arguments.kwargs,
    ) -> ResourceT:
        """Make ``kind(self, id, ...)`` named ``<prefix><id>``; record the move from the name cdktf would give it.

        Made and named in one step, so nothing can refer to the resource (and fix its address) in between.
        """
        resource = kind(self, id, *args, **kwargs)
        node_id = construct_node_id(id)
        if self._path_in_stack is None:
            # The stack's own allocation is what named the resource before, a stack's override of it included.
            hashed = self._stack._allocate_logical_id(resource)
        else:
            hashed = hashed_logical_id([*self._path_in_stack, node_id])
        name = f"{self.address_prefix}{node_id}"
        resource.override_logical_id(name)
        kind_name = resource_type(resource)
        self._addresses.moves.append({"from": f"{kind_name}.{hashed}", "to": f"{kind_name}.{name}"})
        self._addresses.taken[f"{kind_name}.{name}"] += 1
        return resource

    def _finish_addresses(self) -> None:
        """Write the stack's ``moved`` blocks, once every resource has been made by :meth:`_add`.

        A resource made otherwise keeps cdktf's hashed address; the snapshot and address tests catch that
        (tests/test_addresses.py), rather than two more round trips to the kernel per stack.
        """
        self._stack.add_override("moved", list(self._addresses.moves))


def _stack_addresses(stack: TerraformStack) -> _StackAddresses:
    """The stack's record, made by the first readably addressed construct in it.

    Its validation is added with the second: one construct's addresses are unique as its construct ids are.
    """
    found: _StackAddresses | None = getattr(stack, _RECORD, None)
    if found is None:
        found = _StackAddresses()
        setattr(stack, _RECORD, found)
    found.constructs += 1
    if found.constructs == 2:
        stack.node.add_validation(_UniqueAddresses(stack.node.id, found))
    return found


_RESOURCE_TYPES: dict[type, str] = {}


def resource_type(resource: TerraformResource) -> str:
    """``resource``'s Terraform type (``aws_iam_user``), asked of the kernel once per class."""
    kind = type(resource)
    found = _RESOURCE_TYPES.get(kind)
    if found is None:
        found = _RESOURCE_TYPES[kind] = resource.terraform_resource_type
    return found


def construct_node_id(id: str) -> str:
    """The id a construct made with ``id`` gets: constructs writes each ``/`` (its path separator) as ``--``."""
    return id.replace("/", "--")


# cdktf's makeUniqueId (cdktf/lib/private/unique.js), which names an element after its path below its stack.
_HIDDEN_ID = "Default"
_HIDDEN_FROM_HUMAN_ID = "Resource"
_DISALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_MAX_HUMAN_LENGTH = 240
_MAX_ID_LENGTH = 255


def hashed_logical_id(path: Sequence[str]) -> str:
    """The address cdktf gives an element whose construct ids below its stack are ``path``
    (``["identity", "user"]`` gives ``identity_user_950F93CB``), computed as cdktf computes it."""
    components = [component for component in path if component != _HIDDEN_ID]
    if not components:
        raise ValueError("an element below its stack has at least one construct id other than 'Default'")
    if len(components) == 1:
        candidate = _DISALLOWED.sub("", components[0])
        if len(candidate) <= _MAX_ID_LENGTH:
            return candidate
    digest = hashlib.md5("/".join(components).encode("utf-8"), usedforsecurity=False).hexdigest()
    kept: list[str] = []
    for component in components:  # a component that the one before it ends with is left out
        if not kept or not kept[-1].endswith(component):
            kept.append(component)
    human = "_".join(_DISALLOWED.sub("", part) for part in kept if part != _HIDDEN_FROM_HUMAN_ID)
    return f"{human[:_MAX_HUMAN_LENGTH]}_{digest[:8].upper()}"


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
