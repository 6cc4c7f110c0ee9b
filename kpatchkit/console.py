"""Output conventions: exactly one JSON object on stdout with --json; humans read stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

# What a mail can carry that a terminal would obey: C0 controls (ESC starts colour, title and
# cursor sequences; CR and BS overwrite what was printed), DEL, C1 controls (0x9b is a one-byte
# CSI) and the bidirectional overrides that make text read differently from what it is.
_CONTROLS = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0),
     *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])


def clean(text: str, *, newlines: bool = True) -> str:
    """``text`` without the characters a terminal would interpret (tabs and, unless
    ``newlines`` is false, line feeds are kept). Everything printed to a terminal goes
    through it: subjects, names and file names come from mail anyone can write."""
    text = str(text).translate(_CONTROLS)
    return text if newlines else text.replace("\n", " ")


def info(message: str) -> None:
    """Print a human progress or result line on stderr (control characters stripped)."""
    print(clean(message), file=sys.stderr, flush=True)


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


_emitted = [False]


def emit_json(obj: Any) -> None:
    """Write the one JSON object a command prints under --json."""
    text = dumps(obj) + "\n"
    _emitted[0] = True
    sys.stdout.write(text)
    sys.stdout.flush()


def emitted() -> bool:
    """True once this command has printed its JSON object (an error then prints no second)."""
    return _emitted[0]


def reset() -> None:
    """A new command starts (the CLI calls this)."""
    _emitted[0] = False


class Progress:
    """A minimal progress display for long stages, on stderr only."""

    def __init__(self, label: str) -> None:
        self.label = label

    def step(self, message: str) -> None:
        info(f"[{self.label}] {message}")
