"""Real-header mode: preprocess with the tree's own compile command, names kept.

After ``make prepare`` (``kpatchkit.kernel.kbuild.prepared_build``) kbuild's command for the
object is rerun with ``-E`` on a copy of the .c that includes, right after its own #include
block, the override header (every lock/RCU/lockdep/iterator macro ``#undef``-ed and redefined
as itself; iterators as ``for (NAME(args); cond(); next())``), then a ``#line`` directive so
line numbers stay the file's. ``-include`` cannot do this: the headers would redefine the
macros after it. Iterator macros are found automatically with ``-dM`` (bodies that start with
``for``). The .i is then reduced to the target file's own lines plus ``typedef`` stubs for every
typedef name the headers declared: the parser needs nothing else from them.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
import tempfile
from pathlib import Path

from kpatchkit.analyze import macros as mac
from kpatchkit.analyze.knowledge import Knowledge
from kpatchkit.analyze.source import SourceView
from kpatchkit.errors import InfraError
from kpatchkit.kernel import git as g

_MARKER = re.compile(r'^# (\d+) "([^"]*)"')


def _compile_argv(argv: list[str], src_index: int, new_src: str, iquote: str) -> list[str]:
    """kbuild's argv turned into a preprocessing run of ``new_src`` to stdout."""
    out: list[str] = [argv[0], "-iquote", iquote]
    skip = False
    for i, a in enumerate(argv[1:], start=1):
        if skip:
            skip = False
            continue
        if i == src_index:
            continue
        if a == "-o":
            skip = True
            continue
        if a in ("-c", "-Werror") or a.startswith(("-Wp,-MMD", "-Wp,-MD")):
            continue
        out.append(a)
    return out + ["-E", "-w", new_src]


def _run(argv: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        err = " ".join(proc.stderr.strip().splitlines()[:3])
        raise InfraError(f"preprocessing {what} with the tree's command failed: {err}")
    return proc.stdout


def reduce_i(text: str, relpath: str) -> str:
    """Keep the target file's chunks (with markers); typedef stubs for the rest."""
    keep: list[str] = []
    other: list[str] = []
    current = ""
    for line in text.split("\n"):
        m = _MARKER.match(line)
        if m:
            current = m.group(2)
            (keep if current == relpath else other).append(line if current == relpath else "")
            continue
        (keep if current == relpath else other).append(line)
    from kpatchkit.analyze.stubs import c_keywords

    names = mac.typedef_names("\n".join(other)) - c_keywords()
    stubs = "".join(f"typedef int {n};\n" for n in sorted(names) if n.isidentifier())
    return stubs + "\n".join(keep) + "\n"


def real_unit(view: SourceView, relpath: str, kb: Knowledge) -> tuple[str, str, set[str]]:
    """(reduced .i, source text, iterator names) of ``relpath`` via the tree's kbuild."""
    from kpatchkit.kernel import kbuild

    source = view.require(relpath)
    # Not a repository: "" lets prepared_build say so in the user's terms.
    commit = view.rev or g.rev_parse(view.root, "HEAD") or ""
    obj = relpath[:-2] + ".o"
    build = kbuild.prepared_build(view.root, commit)
    argv = kbuild.object_command(build, obj)
    src_index = max(i for i, a in enumerate(argv) if a.endswith(relpath))
    directory = posixpath.dirname(relpath)
    with tempfile.TemporaryDirectory(prefix="kpk-analyze-") as tmp:
        tmpdir = Path(tmp)
        # The file's directory at this revision shadows the build checkout's copy (-iquote),
        # so the analysed text is exactly the revision's even if the checkout moved on.
        names = g.git(view.root, "ls-tree", "--name-only", commit, directory + "/",
                      check=False).stdout.split()
        for name in names:
            if name.endswith((".h", ".c")):
                text = view.read(name)
                if text is not None:
                    (tmpdir / posixpath.basename(name)).write_text(text)
        orig = tmpdir / ("orig-" + posixpath.basename(relpath))
        orig.write_text(source)
        with kbuild.build_lock(build):
            defs = _run(_compile_argv(argv, src_index, str(orig), tmp)[:-2] + ["-E", "-dM",
                        str(orig)], build.obj, relpath)
        all_macros = mac.function_macros(defs)
        iterators = mac.iterator_macros(all_macros) | set(kb.iterators)
        own = set(mac.function_macros(source)) & iterators
        lines = mac.blank_defines(source, own).split("\n")
        cut = mac.include_block_end(source)
        text = "\n".join(lines[:cut]) + "\n" + mac.override_header(kb.keep_names(), iterators) \
            + f'#line {cut + 1} "{relpath}"\n' + "\n".join(lines[cut:])
        copy = tmpdir / posixpath.basename(relpath)
        copy.write_text(text)
        with kbuild.build_lock(build):
            out = _run(_compile_argv(argv, src_index, str(copy), tmp), build.obj, relpath)
    return reduce_i(out, relpath), source, iterators
