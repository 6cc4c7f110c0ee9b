"""Macro plumbing shared by both front ends: finding iterator macros and the override header.

The override header is what keeps every lock, RCU, lockdep and iterator *name* through the
preprocessor: each such macro is ``#undef``-ed and redefined as itself (the preprocessor never
re-expands a macro inside its own expansion, so ``read_lock(x)`` stays a call), and each
iterator becomes ``for (NAME(args); __kpk_iter_cond(); __kpk_iter_next())`` so the walk is a
visible call at the loop head.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(\([^)]*\))?(.*)$")

_DIRECTIVE = re.compile(r"#\s*(define|if|ifdef|ifndef|endif|else|undef)\b")

ITER_COND = "__kpk_iter_cond"
ITER_NEXT = "__kpk_iter_next"


def logical_lines(text: str) -> list[tuple[int, int, str]]:
    """Yield (first line index, line count, joined text) with backslash continuations joined."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        start = i
        buf = lines[i]
        while buf.endswith("\\") and i + 1 < len(lines):
            i += 1
            buf = buf[:-1] + " " + lines[i]
        out.append((start, i - start + 1, buf))
        i += 1
    return out


def function_macros(text: str) -> dict[str, tuple[str, str]]:
    """All function-like ``#define``s in ``text``: name -> (parameter list, body)."""
    found: dict[str, tuple[str, str]] = {}
    for _, _, line in logical_lines(text):
        m = _DEFINE.match(line)
        if m and m.group(2):
            body = re.sub(r"/\*.*?\*/", " ", m.group(3)).strip()
            found[m.group(1)] = (m.group(2), body)
    return found


def iterator_macros(macros: dict[str, tuple[str, str]], known: Iterable[str] = ()) -> set[str]:
    """Names of iterator macros: bodies that start with ``for`` or with another iterator."""
    iters = set(known)
    changed = True
    while changed:
        changed = False
        for name, (_, body) in macros.items():
            if name in iters:
                continue
            head = re.match(r"\s*([A-Za-z_]\w*)\s*\(", body)
            if head and (head.group(1) == "for" or head.group(1) in iters):
                iters.add(name)
                changed = True
    return iters


def override_header(keep: Iterable[str], iterators: Iterable[str]) -> str:
    """The header inserted after the file's #include block (see module docstring)."""
    out = ["/* kpatchkit override header: keep lock/RCU/iterator names as calls */"]
    iters = sorted(set(iterators))
    for name in sorted(set(keep) - set(iters)):
        out.append(f"#undef {name}\n#define {name}(...) {name}(__VA_ARGS__)")
    for name in iters:
        out.append(
            f"#undef {name}\n#define {name}(...) "
            f"for ({name}(__VA_ARGS__); {ITER_COND}(); {ITER_NEXT}())"
        )
    return "\n".join(out) + "\n"


def blank_defines(text: str, names: set[str]) -> str:
    """Blank the ``#define``s of ``names`` in ``text`` keeping every line where it was."""
    lines = text.split("\n")
    for start, count, joined in logical_lines(text):
        m = _DEFINE.match(joined)
        if m and m.group(1) in names:
            for k in range(start, start + count):
                lines[k] = ""
    return "\n".join(lines)


def include_block_end(text: str) -> int:
    """0-based index of the line after the file's leading #include block."""
    last = 0
    in_comment = False
    for idx, line in enumerate(text.split("\n")):
        s = line.strip()
        if in_comment:
            in_comment = "*/" not in s
            continue
        if s.startswith("/*") and "*/" not in s:
            in_comment = True
            continue
        if re.match(r"#\s*include\b", s):
            last = idx + 1
            continue
        if not s or s.startswith(("//", "/*")) or _DIRECTIVE.match(s):
            continue
        break
    return last


def local_includes(text: str) -> list[str]:
    """The quoted #include names of ``text`` in order."""
    return re.findall(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', text, re.M)


def typedef_names(text: str) -> set[str]:
    """Typedef names declared in ``text`` (a regex pass: names only, which is all we need)."""
    names: set[str] = set()
    body = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
    for m in re.finditer(r"\btypedef\b", body):
        # Find the end of this declaration: the ';' at brace depth 0.
        depth = 0
        j = m.end()
        while j < len(body):
            c = body[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == ";" and depth == 0:
                break
            j += 1
        decl = body[m.end():j]
        decl = re.sub(r"\{.*\}", " ", decl, flags=re.S) if "{" in decl else decl
        fp = re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", decl)
        if fp:
            names.add(fp.group(1))
            continue
        decl = re.sub(r"\[[^\]]*\]", " ", decl)
        ids = re.findall(r"[A-Za-z_]\w*", decl)
        if ids:
            names.add(ids[-1])
    return names
