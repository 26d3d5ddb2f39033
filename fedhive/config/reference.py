"""`fedhive config`: every config field with its type, default and description, read
from the pydantic models so that it cannot drift from them."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from fedhive.config import Config
from fedhive.errors import UserError


def _sections(annotation: Any, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    """The config models an annotation holds (`X`, `X | None`, a union of forms, a list of
    X), each with whether it comes as a list item."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, in_list)]
    in_list = in_list or typing.get_origin(annotation) is list
    found: list[tuple[type[BaseModel], bool]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _sections(arg, in_list) if m not in found]
    return found


def _item_label(model: type[BaseModel]) -> str:
    """A list item's name: its `name` literal (a server transform's `krum`), else its class."""
    name = model.model_fields.get("name")
    args = typing.get_args(name.annotation) if name is not None else ()
    return str(args[0]) if len(args) == 1 else model.__name__


def type_name(annotation: Any) -> str:
    """A short readable type: `int`, `float | None`, `'iid' | 'dirichlet'`, `list[int]`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "(section)" if isinstance(value, BaseModel) else repr(value)
    return "(required)" if field.default is PydanticUndefined else repr(field.default)


def field_rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) of every field, sections recursed into."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sections = _sections(field.annotation)
        if sections:
            first = sections[0][0]
            doc = field.description or " ".join((first.__doc__ or "").strip().split("\n\n")[0].split())
            forms = [m.__name__ for m, listed in sections if not listed]
            if any(listed for _, listed in sections):
                forms.append(f"list of {key}[<transform>] items")
            rows.append((key, " | ".join(forms), _default(field), doc))
            for section, listed in sections:
                rows += field_rows(section, f"{key}[{_item_label(section)}]." if listed else f"{key}.")
        else:
            rows.append((key, type_name(field.annotation), _default(field), field.description or ""))
    return rows


def config_reference(section: str | None = None) -> str:
    """The reference as aligned text lines, optionally only the keys under `section`."""
    rows = field_rows(Config)
    if section:
        rows = [r for r in rows if r[0] == section or r[0].startswith((section + ".", section + "["))]
        if not rows:
            raise UserError(f"config: no section or field {section!r}; `fedhive config` lists them all")
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{k:<{width}}  {t}  [default {d}]" + (f"\n{'':<{width}}  {doc}" if doc else "")
                     for k, t, d, doc in rows)
