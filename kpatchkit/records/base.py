"""The Record mixin: ``to_json()`` / ``from_json()`` for nested dataclasses."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T", bound="Record")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.metadata.get("transient")}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(args[0], value) if len(args) == 1 else value
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(tp) or (Any,)
        return [_build(arg, v) for v in value]
    if origin is dict:
        _, varg = typing.get_args(tp) or (Any, Any)
        return {k: _build(varg, v) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp.from_json(value) if hasattr(tp, "from_json") else tp(**value)
    if tp is Path:
        return Path(value)
    return value


class Record:
    """Mixin for dataclass records: a JSON-ready dict out, the same dataclass back in."""

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (fields marked ``transient`` are left out)."""
        return _plain(self)

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild the record from ``to_json()`` output; unknown keys are ignored."""
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _build(hints.get(f.name, Any), data[f.name])
        return cls(**kwargs)
