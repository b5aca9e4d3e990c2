"""The one way text reaches the Terraform JSON: every binding's arguments escaped, or checked, as Terraform reads them.

Terraform evaluates nearly every string of its JSON as a template (``${...}`` runs, ``$${`` is a literal); a
few places it reads as written, evaluating nothing: backend and cloud settings, the ``terraform`` block,
``moved`` addresses, an output's description. :mod:`.bindings` hands the cdk layer only the classes made here,
so the constructs pass user text as it is, whole, and a new argument cannot forget its escaping.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
import functools
import re
from typing import Any, TypeVar, cast

from ..errors import show
from ..escaping import literal_place_texts, literal_tree, token_pieces

T = TypeVar("T")

DOOR = "__programmatic_iam_door__"
"""The attribute naming the door a class went through: ``evaluated``, ``read_as_written`` or ``functions``."""
STACK_READ_AS_WRITTEN = ("terraform", "moved")
"""A stack's top-level keys that Terraform reads as written (versions, backend, cloud; ``moved`` addresses)."""
# What a string literal inside one of our own expressions (a Fn argument) may hold: cdktf quotes such a
# string without escaping '"', '\' or '%{', so text outside our own constants could end the quote.
_EXPRESSION_CONSTANT = re.compile(r"[A-Za-z0-9 _.:/=+@,-]*")


class UnescapableTextError(ValueError):
    """Text that no escape can keep literal reached the door: a bug, since the configuration refuses such text."""


def evaluated(cls: type[T], *, read_as_written: Collection[str] = ()) -> type[T]:
    """``cls`` whose keyword arguments, ``import_from`` ids and ``add_override`` values are escaped, as Terraform
    evaluates them (:func:`~programmatic_iam.escaping.literal_tree`); the arguments (and top-level override
    keys) named in ``read_as_written`` are checked instead. Positional arguments (scope, construct id) pass as
    given: they are not written as values."""
    name = cls.__name__
    members: dict[str, Any] = {}

    def construct(self: Any, *args: Any, **kwargs: Any) -> None:
        arguments = {
            key: _as_written(value, f"{name}.{key}") if key in read_as_written else literal_tree(value)
            for key, value in kwargs.items()
        }
        super(door, self).__init__(*args, **arguments)

    members["__init__"] = construct
    if hasattr(cls, "import_from"):

        def import_from(self: Any, id: str, provider: Any = None) -> None:
            super(door, self).import_from(literal_tree(id), provider)

        members["import_from"] = import_from
    if hasattr(cls, "add_override"):

        def add_override(self: Any, path: str, value: Any) -> None:
            top = path.split(".", 1)[0]
            where = f"{name}.add_override({path!r})"
            super(door, self).add_override(
                path, _as_written(value, where) if top in read_as_written else literal_tree(value)
            )

        members["add_override"] = add_override
    door = _subclass(cls, members, "evaluated")
    return door


def read_as_written(cls: type[T]) -> type[T]:
    """``cls`` (a backend, a workspace) whose every argument Terraform reads as written: each is checked to hold no
    template sequence and no cdktf token, since either would stay in the value as it is."""
    name = cls.__name__
    members: dict[str, Any] = {}

    def construct(self: Any, *args: Any, **kwargs: Any) -> None:
        _as_written([argument for argument in args if isinstance(argument, str)], name)
        super(door, self).__init__(*args, **{key: _as_written(value, f"{name}.{key}") for key, value in kwargs.items()})

    members["__init__"] = construct
    if hasattr(cls, "add_override"):

        def add_override(self: Any, path: str, value: Any) -> None:
            super(door, self).add_override(path, _as_written(value, f"{name}.add_override({path!r})"))

        members["add_override"] = add_override
    door = _subclass(cls, members, "read_as_written")
    return door


def functions(cls: type[T]) -> type[T]:
    """``cls`` (cdktf's ``Fn``) whose functions take only our own constants as text: cdktf writes a string
    argument into an expression as ``"..."`` without escaping quotes, backslashes or ``%{``, so no escape of
    ours could keep user text literal there. Tokens (references) pass."""
    return cast(type[T], _Functions(cls))


class _Functions:
    """Terraform's functions as cdktf offers them, each checking its text arguments first."""

    def __init__(self, functions: type) -> None:
        self._functions = functions
        setattr(self, DOOR, "functions")

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._functions, name)
        if not callable(found):
            return found

        @functools.wraps(found)
        def call(*args: Any, **kwargs: Any) -> Any:
            for text in _plain_texts((args, kwargs)):
                if not _EXPRESSION_CONSTANT.fullmatch(text):
                    raise UnescapableTextError(
                        f"Fn.{name}: {show(text)} cannot be a string inside a Terraform expression; pass only "
                        "constants such as 'YYYYMMDDhhmmss' there, and user text as a resource argument"
                    )
            return found(*args, **kwargs)

        return call


def _plain_texts(value: Any) -> Iterator[str]:
    """The text in ``value`` (map keys too) outside cdktf's tokens."""
    if isinstance(value, str):
        yield from token_pieces(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _plain_texts(key)
            yield from _plain_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _plain_texts(item)


def _as_written(value: T, where: str) -> T:
    for text in literal_place_texts(value):
        raise UnescapableTextError(
            f"{where}: {show(text)} would reach Terraform where it reads text as written, so '${{', '%{{' or a "
            "cdktf token in it could not be escaped; the configuration should have refused it"
        )
    return value


def _subclass(cls: type[T], members: dict[str, Any], door: str) -> type[T]:
    made = type(cls.__name__, (cls,), {"__doc__": cls.__doc__, "__module__": __name__, DOOR: door, **members})
    return cast(type[T], made)
