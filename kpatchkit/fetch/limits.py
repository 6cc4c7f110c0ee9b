"""Limits on untrusted input, as data (``data/limits.toml``), and the checks that apply them.

Every check runs before the work it bounds: the raw bytes of a mail are scanned (lines, header
nesting, parameters, MIME parts) before the stdlib parser sees them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kpatchkit.errors import InfraError, KpatchkitError, UserError
from kpatchkit.knowledge import OneOf, Opt, TableOf, load_toml

DATA = Path(__file__).with_name("data") / "limits.toml"
SCHEMA = TableOf({"max": int, "unit": str, "what": str, "why": str,
                  "kind": Opt(OneOf("input", "infrastructure"))})


@dataclass(frozen=True)
class Limit:
    """One bound: its name, value, unit, what it bounds and why."""

    name: str
    max: int
    unit: str
    what: str
    why: str
    kind: str = "input"  # or "infrastructure" (exit 3)


class LimitExceeded(UserError):
    """Input beyond a limit (exit 2); the payload names the limit and why it exists."""


class DeadlineExceeded(InfraError):
    """A server did not finish in time (exit 3)."""


@cache
def _table() -> dict[str, dict]:
    return load_toml(DATA, SCHEMA)


def limits() -> dict[str, Limit]:
    """Every limit, with the environment's overrides applied (read on each call: cheap)."""
    out = {}
    for name, d in _table().items():
        value = d["max"]
        env = os.environ.get(f"KPATCHKIT_LIMIT_{name.upper()}")
        if name == "total_bytes" and not env:
            env = os.environ.get("KPATCHKIT_MAX_INPUT")
        if env:
            try:
                value = int(float(env))
            except ValueError as exc:
                raise UserError(f"KPATCHKIT_LIMIT_{name.upper()}={env!r}: not a number") from exc
        out[name] = Limit(name, value, d["unit"], d["what"], " ".join(d["why"].split()),
                          d.get("kind", "input"))
    return out


def get(name: str) -> int:
    """The value of limit ``name``."""
    return limits()[name].max


def breach(name: str, where: str, value: int | str | None = None) -> KpatchkitError:
    """The error for input ``where`` going past limit ``name`` (``value``: what it had)."""
    lim = limits()[name]
    had = f" ({_amount(value, lim.unit)})" if value is not None else ""
    message = (f"{where}: {lim.what}{had} is over the limit of {_amount(lim.max, lim.unit)} "
               f"('{lim.name}' in kpatchkit/fetch/data/limits.toml)")
    payload = {"limit": {"name": lim.name, "max": lim.max, "unit": lim.unit, "why": lim.why,
                         **({"value": value} if value is not None else {})}}
    cls = DeadlineExceeded if lim.kind == "infrastructure" else LimitExceeded
    return cls(message, payload=payload)


def _amount(value: int | str, unit: str) -> str:
    if unit == "bytes" and isinstance(value, int):
        return f"{value / (1 << 20):.0f} MB" if value >= 1 << 20 else f"{value} bytes"
    return f"{value} {unit}"


def check(name: str, value: int, where: str) -> None:
    """Raise the limit's error when ``value`` is above it."""
    if value > get(name):
        raise breach(name, where, value)


# A header line (also of a MIME part or an in-body From:), or its folded continuation.
_HEADERISH = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,75}:")
_PARAM_HEADERS = (b"content-type:", b"content-disposition:")
_BOUNDARY = re.compile(rb"""boundary\*?\s*=\s*"?([^";\r\n]{1,200})""", re.I)


def check_mail_bytes(data: bytes, label: str) -> None:
    """Scan a raw mail (or page text) for the breaches the parsers cannot survive.

    Linear in ``len(data)``: one pass over the lines, no backtracking regex.
    """
    max_line = get("line_length")
    max_nest = get("header_nesting")
    max_params = get("header_params")
    header: bytes | None = None  # the header being unfolded, lower-cased name included
    for number, line in enumerate(data.split(b"\n"), 1):
        if len(line) > max_line + 1:  # a CR before the LF is not the sender's
            raise breach("line_length", f"{label}: line {number}", len(line.rstrip(b"\r")))
        if header is not None and line[:1] in (b" ", b"\t"):
            header += line
            continue
        if header is not None:
            _check_header(header, label, max_nest, max_params)
            header = None
        if _HEADERISH.match(line):
            header = line
    if header is not None:
        _check_header(header, label, max_nest, max_params)
    boundaries = {m.group(1).strip() for m in _BOUNDARY.finditer(data)}
    if len(boundaries) > get("mime_parts"):
        raise breach("mime_parts", label, len(boundaries))
    if boundaries:
        parts = 0
        for line in data.split(b"\n"):
            if line.startswith(b"--"):
                rest = line[2:].rstrip(b"\r \t")
                if rest in boundaries or (rest.endswith(b"--") and rest[:-2] in boundaries):
                    parts += 1
        check("mime_parts", parts, label)


def _check_header(header: bytes, label: str, max_nest: int, max_params: int) -> None:
    depth = deepest = 0
    escaped = False
    for byte in header if header.count(b"(") > max_nest else b"":
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash quotes the next character
            escaped = True
        elif byte == 0x28:  # (
            depth += 1
            deepest = max(deepest, depth)
        elif byte == 0x29 and depth:  # )
            depth -= 1
    name = header.split(b":", 1)[0].decode("ascii", "replace")
    if deepest > max_nest:
        raise breach("header_nesting", f"{label}: header {name}:", deepest)
    if header.lower().startswith(_PARAM_HEADERS):
        check("header_params", header.count(b";"), f"{label}: header {name}:")
