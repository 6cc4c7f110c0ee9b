"""Which kernel symbols lines of C use, and which of them a tree lacks.

Used twice: for the lines a series adds (does the tree define what the patch calls?) and for the
context a hunk expects (does the tree have the code the hunk was written against?). Symbols are
what can be looked up by name with ``git grep -w``: called functions and function-like macros,
``struct``/``union`` tags, upper-case macros and struct members reached through ``->``/``.``.
Locals cannot be told apart from nothing, so they are not symbols here.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from kpatchkit.kernel import git as g
from kpatchkit.knowledge import ListOf, load_toml

DATA = Path(__file__).with_name("data") / "places.toml"
SCHEMA = {"functions": {"specs": ListOf(str, min=1), "why": str},
          "symbols": {"always": ListOf(str, min=1), "why": str}}


@functools.cache
def places(path: Path = DATA) -> dict:
    """Where moved functions and used symbols are looked for (data/places.toml)."""
    return load_toml(path, SCHEMA)


def function_specs() -> tuple[str, ...]:
    """git pathspecs of the files a function a hunk changes may have moved to."""
    return tuple(places()["functions"]["specs"])

C_KEYWORDS = frozenset("""if for while switch return sizeof do else case default goto break
continue typeof __typeof__ defined likely unlikely static inline const volatile struct union enum
void int long short char unsigned signed bool u8 u16 u32 u64 s8 s16 s32 s64 true false
NULL""".split())
_NOISE = re.compile(r"//.*|/\*.*?\*/|\"(?:\\.|[^\"])*\"|'(?:\\.|[^'])'")


def strip_noise(line: str) -> str:
    """A line without comments, strings and char literals (each replaced by a space)."""
    return _NOISE.sub(" ", line)


def is_comment(line: str) -> bool:
    """True for a line that is only (part of) a comment."""
    s = line.strip()
    return s.startswith(("/*", "*", "//")) or s.endswith("*/") and "/*" not in s and ";" not in s


def defined_by(lines: list[str]) -> set[str]:
    """Names these lines define themselves: ``#define X`` and function definitions."""
    out: set[str] = set()
    for raw in lines:
        x = strip_noise(raw)
        out.update(re.findall(r"^\s*#\s*define\s+(\w+)", x))
        m = re.match(r"^[A-Za-z_][\w\s\*]*?\b(\w+)\s*\(", x)
        if m and not x.rstrip().endswith(";") and m.group(1) not in C_KEYWORDS:
            out.add(m.group(1))
    return out


def used_by(lines: list[str], *, members: bool = True) -> dict[str, str]:
    """Symbol -> the first line (as given) that uses it; comment lines are skipped."""
    wanted: dict[str, str] = {}
    comment = False
    for raw in lines:
        x = strip_noise(raw)
        s = x.strip()
        if comment or raw.strip().startswith(("/*", "*")):
            comment = "*/" not in raw and (comment or raw.strip().startswith("/*"))
            continue
        if s.startswith("#") and not s.startswith(("#if", "#elif")):
            continue  # includes and defines name files and new macros, not uses
        syms = (re.findall(r"\b([A-Za-z_]\w*)\s*\(", x)
                + re.findall(r"\b(?:struct|union)\s+(\w+)", x)
                + re.findall(r"\b([A-Z][A-Z0-9_]{2,})\b", x))
        if members:
            syms += re.findall(r"(?:->|\.)\s*([A-Za-z_]\w*)", x)
        for sym in syms:
            if sym not in C_KEYWORDS:
                wanted.setdefault(sym, raw)
    return wanted


def search_dirs(files: list[str]) -> list[str]:
    """Where a symbol a patch to ``files`` may use is defined: the shared headers, generic KVM
    code and each file's own subsystem (all 75k files of a tree cost 10+ s to grep)."""
    dirs = set(places()["symbols"]["always"])
    for f in files:
        parts = f.split("/")
        dirs.add("/".join(parts[:2]) if parts[0] == "arch" and len(parts) > 2 else parts[0])
    return sorted(dirs)


def absent(repo: Path, commit: str, symbols: list[str], files: list[str]) -> list[str]:
    """The ``symbols`` that occur nowhere (as a word) in the search dirs at ``commit``."""
    symbols = sorted(set(symbols))
    if not symbols:
        return []
    args = ["grep", "-o", "-h", "-w", "-F", "-I"]
    for sym in symbols:
        args += ["-e", sym]
    specs = [f"{d}/*.{ext}" for d in search_dirs(files) for ext in ("h", "c")]
    proc = g.git(repo, *args, commit, "--", *specs, check=False)
    found = {line.split(":", 1)[-1] for line in proc.stdout.splitlines()}
    return [s for s in symbols if s not in found]
