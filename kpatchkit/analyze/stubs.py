"""Fast mode: preprocess one .c against generated stub headers (no prepared build tree).

The file's #include lines are blanked; a generated header declares the typedef names the
parser needs, defines annotation and type-argument macros, and the override header keeps every
lock/RCU/iterator name a call. ``cpp`` then expands the file's own macros only, with line
markers, so the parsed functions carry the file's own line numbers.
"""

from __future__ import annotations

import posixpath
import re
import subprocess

from kpatchkit.analyze import macros as mac
from kpatchkit.analyze.knowledge import Knowledge
from kpatchkit.analyze.source import SourceView
from kpatchkit.errors import InfraError
from kpatchkit.kernel import git as g


def local_headers(view: SourceView, relpath: str, text: str, limit: int = 40) -> dict[str, str]:
    """Quoted headers reachable from ``text`` in the same directory tree, with their text."""
    found: dict[str, str] = {}
    todo = [(posixpath.dirname(relpath), name) for name in mac.local_includes(text)]
    while todo and len(found) < limit:
        base, name = todo.pop(0)
        path = posixpath.normpath(posixpath.join(base, name))
        if path in found:
            continue
        body = view.read(path)
        if body is None:
            continue
        found[path] = body
        todo.extend((posixpath.dirname(path), n) for n in mac.local_includes(body))
    return found


TYPEDEF_DIRS = ("include/", "arch/x86/include/")


def tree_typedefs(view: SourceView) -> set[str]:
    """Every one-line typedef name under include/ and arch/x86/include/ (cached per tree id).

    One ``git grep`` (about 2 s once per header tree): fast mode then knows ``gate_desc`` and
    the rest without reading any header into the parser.
    """
    import json

    from kpatchkit.cache import cache_dir, content_hash

    pattern = r"^\s*typedef\b.*;\s*$"
    if view.rev is None and (view.root / ".git").exists():
        # A work tree of a git repo: its HEAD's headers are close enough for type *names*.
        return tree_typedefs(SourceView(view.root, "HEAD"))
    if view.rev is not None:
        ids = g.git(view.root, "rev-parse", *(f"{view.rev}:{d.rstrip('/')}" for d in TYPEDEF_DIRS),
                    check=False).stdout.split()
        if len(ids) != len(TYPEDEF_DIRS):
            return set()
        entry = cache_dir("analyze", "typedefs") / f"{content_hash(*ids)}.json"
        if entry.exists():
            return set(json.loads(entry.read_text()))
        text = g.git(view.root, "grep", "-h", "-E", pattern, view.rev, "--", *TYPEDEF_DIRS,
                     check=False).stdout
    else:
        entry = None
        cmd = ["grep", "-rhE", "--include=*.h", pattern,
               *(str(view.root / d) for d in TYPEDEF_DIRS if (view.root / d).is_dir())]
        if len(cmd) == 4:
            return set()
        text = subprocess.run(cmd, capture_output=True, text=True).stdout
    names = {n for n in mac.typedef_names(text) if n.isidentifier()}
    if entry is not None:
        entry.write_text(json.dumps(sorted(names)))
    return names


def c_keywords() -> set[str]:
    """Words the c23 lexer treats as keywords (never typedef names)."""
    from pycparser import c_lexer

    words = set(getattr(c_lexer, "_keyword_map", {}))
    words |= set(getattr(c_lexer, "_c23_keywords", {}))
    return words | {"bool", "true", "false", "nullptr", "typeof", "alignof", "static_assert"}


def stub_header(kb: Knowledge, typedefs: set[str]) -> str:
    """The generated stand-in for the real headers."""
    out = ["/* kpatchkit stub header (fast mode) */"]
    for name, value in sorted(kb.stubs.get("defines", {}).items()):
        out.append(f"#define {name} {value}")
    for sig, body in kb.stubs.get("macros", {}).items():
        out.append(f"#define {sig} {body}")
    for name in sorted(typedefs):
        out.append(f"typedef int {name};")
    return "\n".join(out) + "\n"


def _macros(view: SourceView, relpath: str, kb: Knowledge, source: str,
            headers: dict[str, str]) -> tuple[dict[str, tuple[str, str]], set[str]]:
    iter_src = {h: t for h in kb.stubs.get("iterator_headers", []) if (t := view.read(h))}
    all_macros: dict[str, tuple[str, str]] = {}
    for text in [*iter_src.values(), *headers.values(), source]:
        all_macros.update(mac.function_macros(text))
    iterators = mac.iterator_macros(all_macros, kb.stubs.get("iterators", []))
    return all_macros, iterators | set(kb.iterators)


def iterators_of(view: SourceView, relpath: str, kb: Knowledge) -> set[str]:
    """Iterator macro names visible to ``relpath`` (fast mode's view)."""
    source = view.require(relpath)
    return _macros(view, relpath, kb, source, local_headers(view, relpath, source))[1]


def build_unit(view: SourceView, relpath: str, kb: Knowledge) -> tuple[str, str]:
    """Return (text to preprocess, source text) for ``relpath`` in fast mode."""
    source = view.require(relpath)
    headers = local_headers(view, relpath, source)
    extra = {h: t for h in kb.stubs.get("typedef_headers", []) if (t := view.read(h))}
    all_macros, iterators = _macros(view, relpath, kb, source, headers)

    typedefs = set(kb.stubs.get("typedefs", []))
    for text in [*headers.values(), *extra.values()]:
        typedefs |= mac.typedef_names(text)
    # Names ending in _t used by the file are (in kernel style) typedefs; the tree's one-line
    # typedefs are used only when the file mentions them.
    typedefs |= set(re.findall(r"\b([a-z_][a-z0-9_]*_t)\b", source))
    words = set(re.findall(r"\b[A-Za-z_]\w*\b", source))
    typedefs |= tree_typedefs(view) & words
    typedefs -= mac.typedef_names(source)  # the file's own typedefs are parsed for real
    typedefs -= set(all_macros)
    typedefs -= c_keywords()

    own_iters = {n for n in mac.function_macros(source) if n in iterators}
    body = mac.blank_defines(source, own_iters)
    # Fast mode has no headers at all: blank every #include, keeping line numbers.
    body = re.sub(r"^[ \t]*#[ \t]*include\b[^\n]*", "", body, flags=re.M)
    unit = (
        stub_header(kb, typedefs)
        + mac.override_header(kb.keep_names(), iterators)
        + f'#line 1 "{relpath}"\n'
        + body
    )
    return unit, source


def preprocess(unit: str, relpath: str) -> str:
    """Run ``cpp`` on the unit (stdin), keeping line markers."""
    try:
        proc = subprocess.run(
            ["cpp", "-undef", "-nostdinc", "-w", "-std=gnu11", "-"],
            input=unit, capture_output=True, text=True, timeout=120,
        )
    except FileNotFoundError as exc:
        raise InfraError("cpp not found; install gcc (apt-get install cpp)") from exc
    if proc.returncode != 0:
        first = proc.stderr.strip().splitlines()[:1]
        raise InfraError(f"cpp failed on {relpath} in fast mode: {' '.join(first)}")
    from kpatchkit.analyze.sanitize import drop_file_scope_macro_calls

    return drop_file_scope_macro_calls(proc.stdout)
