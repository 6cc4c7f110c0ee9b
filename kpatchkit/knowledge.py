"""One loader for kpatchkit's knowledge files (the TOML data beside each stage), with a schema.

``load_toml(path, schema)`` parses a file and checks it against a schema written in the module
that reads it; a broken file raises ``KnowledgeError`` naming the file and the key path
(``kpatchkit/apply/data/drift.toml: rule[1].when[0].probe: 'x' is not one of ...``). The data
comes back exactly as ``tomllib`` parsed it: no defaults filled in, nothing converted.

The schema language:

* a Python type (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``; ``object``: anything):
  ``isinstance`` (``int`` excludes ``bool``; ``float`` takes an ``int`` too); a tuple of schemas:
  any of them;
* a ``dict`` ``{key: schema}``: a closed table, every key required unless ``Opt(schema)``,
  unknown keys are errors; ``Table(fields, rest=schema)``: the same, other keys matching ``rest``;
* ``TableOf(schema)``: any keys, every value matching; ``ListOf(schema, min=0)``;
* ``OneOf(*values)``: an enum; ``Regex(*groups)``: a string that compiles as a Python regular
  expression (with those named groups);
* ``Tagged(key, {tag: fields})``: a table whose ``key`` chooses its (closed) fields;
* ``Where(schema, check)``: ``check(value)`` returns ``None`` or ``(key path below it, message)``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpatchkit.errors import InternalError

_ROOT = Path(__file__).resolve().parent.parent


class KnowledgeError(InternalError):
    """A shipped data file does not match its schema (a kpatchkit bug: exit 3)."""


@dataclass(frozen=True)
class Opt:
    """An optional key of a table."""
    schema: Any


@dataclass(frozen=True)
class Table:
    """A table with ``fields`` (as a closed dict) whose other keys must match ``rest``."""
    fields: dict
    rest: Any


@dataclass(frozen=True)
class TableOf:
    """A table with any keys, every value matching ``schema``."""
    schema: Any


@dataclass(frozen=True)
class ListOf:
    """A list (a TOML array or array of tables) of at least ``min`` items matching ``schema``."""
    schema: Any
    min: int = 0


class OneOf:
    """One of the listed values."""
    def __init__(self, *values: Any) -> None:
        self.values = values


class Regex:
    """A string that compiles as a Python ``re`` pattern, with the named ``groups``."""
    def __init__(self, *groups: str) -> None:
        self.groups = groups


@dataclass(frozen=True)
class Tagged:
    """A table whose ``key`` (one of ``variants``) chooses the closed fields of the rest."""
    key: str
    variants: dict[str, dict]


@dataclass(frozen=True)
class Where:
    """``schema``, then ``check(value)``: ``None`` when fine, else ``(key, message)``."""
    schema: Any
    check: Callable[[Any], tuple[str, str] | None]


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def _key(path: str, key: object) -> str:
    k = str(key) if re.fullmatch(r"[A-Za-z0-9_-]+", str(key)) else '"' + str(key) + '"'
    return f"{path}.{k}" if path else k


def _type_ok(value: Any, t: type) -> bool:
    if t is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, t) and not (t is int and isinstance(value, bool))


def _check(value: Any, schema: Any, path: str) -> None:
    """Raise ``_Bad`` at the first place ``value`` does not match ``schema``."""
    if isinstance(schema, type):
        if not _type_ok(value, schema):
            raise _Bad(path, f"expected {schema.__name__}, got {type(value).__name__} {value!r}")
    elif isinstance(schema, tuple):
        errors = [_error(value, s, path) for s in schema]
        if all(isinstance(s, type) for s in schema) and all(errors):
            names = " or ".join(s.__name__ for s in schema)
            raise _Bad(path, f"expected {names}, got {type(value).__name__} {value!r}")
        if all(errors):
            raise _Bad(path, " or ".join(e.message for e in errors if e))
    elif isinstance(schema, dict | Table):
        fields = schema.fields if isinstance(schema, Table) else schema
        _check(value, dict, path)
        for k, sub in fields.items():
            if k in value:
                _check(value[k], sub.schema if isinstance(sub, Opt) else sub, _key(path, k))
            elif not isinstance(sub, Opt):
                raise _Bad(_key(path, k), "required key is missing")
        for k in value.keys() - fields.keys():
            if not isinstance(schema, Table):
                raise _Bad(_key(path, k), f"unknown key (known: {', '.join(fields)})")
            _check(value[k], schema.rest, _key(path, k))
    elif isinstance(schema, TableOf):
        _check(value, dict, path)
        for k, v in value.items():
            _check(v, schema.schema, _key(path, k))
    elif isinstance(schema, ListOf):
        _check(value, list, path)
        if len(value) < schema.min:
            raise _Bad(path, f"needs at least {schema.min} item(s), has {len(value)}")
        for i, v in enumerate(value):
            _check(v, schema.schema, f"{path}[{i}]")
    elif isinstance(schema, OneOf):
        if not any(value == v and type(value) is type(v) for v in schema.values):
            raise _Bad(path, f"{value!r} is not one of {', '.join(map(str, schema.values))}")
    elif isinstance(schema, Regex):
        _check(value, str, path)
        try:
            missing = set(schema.groups) - set(re.compile(value).groupindex)
        except re.error as exc:
            raise _Bad(path, f"not a valid regular expression: {exc}") from None
        if missing:
            raise _Bad(path, f"regular expression lacks group(s) {', '.join(sorted(missing))}")
    elif isinstance(schema, Tagged):
        _check(value, dict, path)
        if schema.key not in value:
            raise _Bad(_key(path, schema.key), "required key is missing")
        _check(value[schema.key], OneOf(*schema.variants), _key(path, schema.key))
        fields = {schema.key: str, **schema.variants[value[schema.key]]}
        _check(value, fields, path)
    elif isinstance(schema, Where):
        _check(value, schema.schema, path)
        bad = schema.check(value)
        if bad:
            raise _Bad(f"{path}.{bad[0]}" if path else bad[0], bad[1])
    else:
        raise TypeError(f"not a schema: {schema!r}")


def _error(value: Any, schema: Any, path: str) -> _Bad | None:
    try:
        _check(value, schema, path)
    except _Bad as bad:
        return bad
    return None


def display(path: Path) -> str:
    """``path`` as the messages name it: relative to the checkout when inside it."""
    p = Path(str(path)).resolve()
    return p.relative_to(_ROOT).as_posix() if p.is_relative_to(_ROOT) else str(path)


def load_toml(path: Path, schema: Any) -> dict[str, Any]:
    """The parsed TOML file at ``path`` (a ``Path`` or a package resource) after checking it
    against ``schema``; ``KnowledgeError`` names the file and the key (or line) on a mismatch."""
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))  # else "at end of document"
        line = int(at.group(1)) if at else max(1, len(text.splitlines()))
        raise KnowledgeError(f"{display(path)}: line {line}: not TOML: {exc}",
                             payload={"file": display(path), "line": line}) from None
    try:
        _check(data, schema, "")
    except _Bad as bad:
        raise KnowledgeError(f"{display(path)}: {bad.path or '(top level)'}: {bad.message}",
                             payload={"file": display(path), "key": bad.path}) from None
    return data
