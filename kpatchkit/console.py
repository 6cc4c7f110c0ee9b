"""Output conventions: exactly one JSON object on stdout with --json; humans read stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def info(message: str) -> None:
    """Print a human progress or result line on stderr."""
    print(message, file=sys.stderr, flush=True)


def _default(obj: Any) -> Any:
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        return to_json()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Serialise records (anything with ``to_json()``), paths and plain data."""
    return json.dumps(obj, indent=indent, default=_default, sort_keys=False)


def emit_json(obj: Any) -> None:
    """Write the one JSON object a command prints under --json."""
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


class Progress:
    """A minimal progress display for long stages, on stderr only."""

    def __init__(self, label: str) -> None:
        self.label = label

    def step(self, message: str) -> None:
        info(f"[{self.label}] {message}")
