"""The configuration reference in docs/configuration.md, generated from the model so it cannot go stale."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import sys
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .model import IdentityConfig, keyed_by, layer_of, nested_model

BEGIN = "<!-- BEGIN GENERATED REFERENCE: make docs -->"
END = "<!-- END GENERATED REFERENCE -->"


def reference_table() -> str:
    """A markdown table of every key: its type, its default and what it does."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [f"| `{key}` | {kind} | {default} | {text} |" for key, kind, default, text in _rows(IdentityConfig, "")]
    return "\n".join(rows) + "\n"


def documented_keys(model: type[BaseModel] = IdentityConfig, prefix: str = "") -> list[str]:
    """Every leaf key, dotted (``naming.user``, ``environments.region``)."""
    return [key for key, *_ in _rows(model, prefix)]


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        text = (field.description or "").replace("|", "\\|")
        section = layer_of(field)
        if section is not None:  # a fleet's layer: the keys of its section, documented there
            yield key, "table of strings" if section == "tags" else "table", "not set", text
            continue
        nested = nested_model(field.annotation)
        if nested is not None:
            names = keyed_by(field)
            yield from _rows(nested, f"{key}.{names}." if names else f"{key}.")
            continue
        yield key, _type_name(field.annotation), _default(field), text


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    arguments = [a for a in get_args(annotation) if a is not type(None)]
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in arguments)
    if origin is Literal:
        return " or ".join(f'`"{a}"`' for a in get_args(annotation))
    if origin is tuple:
        return f"list of {_type_name(arguments[0])}"
    if origin is dict:
        return "table of strings"
    if get_origin(annotation) is not None and get_args(annotation):  # Annotated
        return _type_name(get_args(annotation)[0])
    return {str: "string", bool: "boolean", int: "integer"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "not set"
    if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
        return "; ".join(", ".join(str(v) for v in item.model_dump(exclude_defaults=True).values()) for item in value)
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`".replace("|", "\\|")


def with_reference(document: str) -> str:
    """``document`` with the text between the markers replaced by the current reference table."""
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{reference_table()}{END}{tail}"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(with_reference(target.read_text(encoding="utf-8")), encoding="utf-8")
