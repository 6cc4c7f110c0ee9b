"""Static KVM selftest binaries from a tree's own ``tools/testing/selftests/kvm``.

``build_selftests(repo, commit, tests, extra_sources) -> {name: static binary}``

* ``tests``: upstream programs by name (``demand_paging_test``, ``smm_test``; the Makefile's
  ``x86_64/smm_test`` works too); ``None`` = every x86 program. The result is keyed by the
  program's basename.
* ``extra_sources``: ``{name: path/to/test.c}``: programs written against the same library
  (``kvm_util.h``, ``processor.h``, ``test_util.h``...). They are copied into kpatchkit's own
  copy of the selftests directory as ``<arch>/<name>.c`` and built by the tree's Makefile
  exactly like an upstream test (same CFLAGS, linked with the same libkvm objects). Headers a
  source includes with quotes from its own directory (gen-tests' ``cow_util.h``) go beside it.

The x86 directory ``<arch>`` is the tree's own (``x86_64`` up to 6.13, ``x86`` after; see
:func:`arch_dir`), and so are the Makefile variable ``TEST_GEN_PROGS_<arch>`` and the files
that list it (``data/selftests.toml``).

How: ``git archive`` of the parts of ``commit`` needed (``tools``, ``scripts``, ``include``,
``arch/x86``, top ``Makefile``) into ``cache/selftests/src-<tree-key>/``, ``make
headers_install`` there, then ``make -C tools/testing/selftests/kvm OUTPUT=... USERLDFLAGS=-static
TEST_GEN_PROGS_<arch>="<selection>"`` (a command-line variable replaces the Makefile's list, so
only the chosen programs are built). Version quirks (6.1.192's stable backports need
``EXTRA_CFLAGS``) come from ``data/selftests.toml``. Binaries are stripped and copied to
``cache/selftests/bin-<key>/``; the key covers the git tree ids of those paths, the selection,
the extra sources' contents and the flags, so base and patched kernels share one build.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kpatchkit.cache import cache_dir, content_hash, locked
from kpatchkit.console import info
from kpatchkit.errors import InfraError, KpatchkitError
from kpatchkit.kernel import git as g
from kpatchkit.kernel.kbuild import jobs_default, make_env, resolve_commit, tail
from kpatchkit.kernel.version import makefile_version
from kpatchkit.knowledge import ListOf, Opt, load_toml

DATA = Path(__file__).with_name("data") / "selftests.toml"
SCHEMA = {"arch": {"dirs": ListOf(str, min=1), "makefiles": ListOf(str, min=1)},
          "quirk": Opt(ListOf({"versions": ListOf(str, min=1), "why": str,
                               "extra_cflags": Opt(ListOf(str))}))}
SELFTESTS = "tools/testing/selftests/kvm"
# What headers_install and the selftests Makefile read from the tree.
_PATHS = ("Makefile", "scripts", "include", "arch/x86", "tools", "usr")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_ASSIGN_RE = re.compile(r"^(TEST_GEN_PROGS_\w+)\s*(\+=|:=|=)[ \t]*(.*)$", re.M)
_REF_RE = re.compile(r"^\$[({](\w+)[)}]$")
_LOCAL_INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_.+-]+\.h)"', re.M)


def layout() -> dict[str, Any]:
    """data/selftests.toml (the x86 directories and the files listing the programs, quirks)."""
    return load_toml(DATA, SCHEMA)


def _quirks(version: str) -> dict:
    """Merged quirks of every ``[[quirk]]`` in data/selftests.toml whose prefix matches."""
    data = layout()
    flags: list[str] = []
    for quirk in data.get("quirk", []):
        if version.startswith(tuple(quirk["versions"])):
            flags.extend(quirk.get("extra_cflags", []))
    return {"extra_cflags": " ".join(flags)}


def arch_dirs() -> list[str]:
    """The names the x86 selftests directory has had, newest first (data/selftests.toml)."""
    return list(layout()["arch"]["dirs"])


def arch_dir(repo: Path, sha: str) -> str:
    """The x86 selftests directory of ``sha`` (``x86_64`` up to 6.13, ``x86`` after): the
    first of :func:`arch_dirs` whose ``lib/<dir>`` exists there."""
    for name in arch_dirs():
        if g.blob_id(repo, sha, f"{SELFTESTS}/lib/{name}"):
            return name
    raise KpatchkitError(f"{SELFTESTS}/lib at {sha[:12]} in {repo} has no x86 directory "
                         f"({', '.join(arch_dirs())}); kpatchkit runs x86 selftests only")


def listed_programs(makefiles: str, arch: str) -> list[str]:
    """The programs ``TEST_GEN_PROGS_<arch>`` lists in the selftests Makefile texts
    (``<arch>/smm_test``, ``demand_paging_test``), references like ``$(TEST_GEN_PROGS_COMMON)``
    expanded. Assignments are read in order: ``=`` starts a list, ``+=`` extends it."""
    lists: dict[str, list[str]] = {}
    for var, op, value in _ASSIGN_RE.findall(makefiles):
        words = value.split("#", 1)[0].split()
        lists[var] = (lists.get(var, []) if op == "+=" else []) + words

    def expand(var: str, seen: frozenset[str]) -> list[str]:
        out: list[str] = []
        for word in lists.get(var, []):
            ref = _REF_RE.match(word)
            if ref and ref.group(1) not in seen:
                out += expand(ref.group(1), seen | {ref.group(1)})
            elif not ref:
                out.append(word)
        return out

    return expand(f"TEST_GEN_PROGS_{arch}", frozenset({f"TEST_GEN_PROGS_{arch}"}))


def local_headers(source: Path) -> list[Path]:
    """Headers ``source`` includes with quotes that sit beside it (gen-tests' ``cow_util.h``),
    and theirs in turn; library headers (``kvm_util.h``...) are not beside it and not listed."""
    seen: dict[str, Path] = {}
    todo = [Path(source)]
    while todo:
        for name in _LOCAL_INCLUDE_RE.findall(todo.pop().read_text()):
            path = Path(source).parent / name
            if name not in seen and path.is_file():
                seen[name] = path
                todo.append(path)
    return list(seen.values())


def _headers_of(extras: dict[str, Path]) -> dict[str, Path]:
    """{header name: path} over every extra source; one name must mean one content."""
    out: dict[str, Path] = {}
    for src in extras.values():
        for h in local_headers(src):
            if h.name in out and out[h.name].read_text() != h.read_text():
                raise KpatchkitError(f"two different headers named {h.name} ({out[h.name]}, {h}); "
                                     "tests built together must share one")
            out.setdefault(h.name, h)
    return out


def _kernel_version(repo: Path, sha: str) -> str:
    return makefile_version(g.out(repo, "show", f"{sha}:Makefile"))


def _tree_key(repo: Path, sha: str) -> str:
    return content_hash(*[g.blob_id(repo, sha, path) or "-" for path in _PATHS])


def upstream_programs(selftests_dir: Path, arch: str) -> list[str]:
    """The x86 programs the selftests Makefile(s) in ``selftests_dir`` list (``x86_64/smm_test``,
    ``demand_paging_test``, ...)."""
    texts = [(selftests_dir / name).read_text() for name in layout()["arch"]["makefiles"]
             if (selftests_dir / name).is_file()]
    return listed_programs("\n".join(texts), arch)


def tree_programs(repo: Path, commit: str) -> set[str]:
    """Basenames of the x86 selftest programs ``commit``'s Makefile(s) list (read from git)."""
    repo = Path(repo)
    sha = resolve_commit(repo, commit)
    texts = [g.show_file(repo, sha, f"{SELFTESTS}/{name}")
             for name in layout()["arch"]["makefiles"]]
    if not any(texts):
        return set()
    return {Path(p).name for p in listed_programs("\n".join(t for t in texts if t),
                                                   arch_dir(repo, sha))}


def _export(repo: Path, sha: str, dest: Path) -> None:
    """``git archive`` the needed paths of ``sha`` into ``dest`` and install the uapi headers."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    present = [p for p in _PATHS if g.has_object(repo, f"{sha}:{p}")]
    g.archive_into(repo, sha, present, tmp)
    info("[selftests] make headers_install")
    proc = subprocess.run(["make", f"O={tmp / '.hdr-obj'}", f"INSTALL_HDR_PATH={tmp / 'usr'}",
                           "headers_install"], cwd=tmp, env=make_env(), capture_output=True,
                          text=True)
    if proc.returncode:
        raise InfraError(f"make headers_install failed: {tail(proc.stdout + proc.stderr, 8)}")
    tmp.rename(dest)


def _resolve_tests(tests: list[str] | None, known: list[str]) -> list[str]:
    if tests is None:
        return list(known)
    by_base = {Path(k).name: k for k in known}
    out = []
    for name in tests:
        prog = name if name in known else by_base.get(Path(name).name)
        if prog is None:
            raise KpatchkitError(f"no KVM selftest '{name}' in this tree's {SELFTESTS}/Makefile")
        out.append(prog)
    return sorted(set(out))


def _write_if_changed(target: Path, text: str) -> bool:
    """Keep the mtime of an unchanged file, so make does not rebuild what it built.

    Returns True if the file was (re)written.
    """
    if target.exists() and target.read_text() == text:
        return False
    target.write_text(text)
    return True


def build_selftests(repo: Path, commit: str, tests: list[str] | None = None,
                    extra_sources: dict[str, Path] | None = None) -> dict[str, Path]:
    """Build static selftest binaries; returns {test name (Makefile name or extra name): path}."""
    repo = Path(repo)
    sha = resolve_commit(repo, commit)
    extras = {name: Path(p) for name, p in (extra_sources or {}).items()}
    for name, path in extras.items():
        if not _NAME_RE.match(name) or "/" in name:
            raise KpatchkitError(f"bad extra test name {name!r}: use letters, digits, '_', '-'")
        if not path.is_file():
            raise KpatchkitError(f"extra test source {path} does not exist")
    headers = _headers_of(extras)
    version = _kernel_version(repo, sha)
    quirks = _quirks(version)
    src_key = _tree_key(repo, sha)
    key = content_hash(src_key, json.dumps(sorted(tests)) if tests is not None else "*",
                       *[f"{n}\0{p.read_text()}" for n, p in sorted(extras.items())],
                       *[f"{n}\0{p.read_text()}" for n, p in sorted(headers.items())],
                       quirks["extra_cflags"], "static")
    bin_dir = cache_dir("selftests") / f"bin-{key}"
    manifest = bin_dir / "manifest.json"
    if manifest.exists():
        names = json.loads(manifest.read_text())
        if all((bin_dir / f).exists() for f in names.values()):
            return {n: bin_dir / f for n, f in names.items()}

    src = cache_dir("selftests") / f"src-{src_key}"
    with locked(src):
        if not src.exists():
            info(f"[selftests] exporting tools and headers of {sha[:12]} ({version})")
            _export(repo, sha, src)
        kvm = src / SELFTESTS
        arch = arch_dir(repo, sha)
        known = upstream_programs(kvm, arch)
        progs = _resolve_tests(tests, known)
        out = src / "out"
        for name, path in headers.items():
            if any((kvm / d / name).exists() for d in ("include", f"include/{arch}")):
                raise KpatchkitError(f"{path} has the name of a selftest library header; "
                                     "rename it")
            _write_if_changed(kvm / arch / name, path.read_text())
        # Not every tree's Makefile tracks header dependencies (6.1's has no -MD): an extra
        # program built before its header last changed is compiled again.
        newest = max(((kvm / arch / n).stat().st_mtime for n in headers), default=0.0)
        for prog in extras:
            for built in (out / arch).glob(f"{prog}*"):
                if built.stat().st_mtime <= newest:
                    built.unlink()
        for name, path in extras.items():
            if f"{arch}/{name}" in known:
                raise KpatchkitError(f"extra test name '{name}' clashes with an upstream test")
            _write_if_changed(kvm / arch / f"{name}.c", path.read_text())
            progs.append(f"{arch}/{name}")
        cmd = ["make", "-C", str(kvm), f"-j{jobs_default()}", f"OUTPUT={out}",
               "USERLDFLAGS=-static", f"EXTRA_CFLAGS={quirks['extra_cflags']}",
               f"TEST_GEN_PROGS_{arch}={' '.join(progs)}",
               *[f"{out}/{p}" for p in progs]]
        info(f"[selftests] building {len(progs)} static programs")
        proc = subprocess.run(cmd, env=make_env(), capture_output=True, text=True)
        log = src / "build.log"
        log.write_text(proc.stdout + proc.stderr)
        if proc.returncode:
            failed = [p for p in progs if not (out / p).exists()]
            raise KpatchkitError(
                f"selftests did not build ({', '.join(failed) or 'library'}): "
                f"{tail(proc.stderr, 6)} (log {log})")
        tmp = bin_dir.with_name(bin_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        names: dict[str, str] = {}
        for prog in progs:
            name = flat = Path(prog).name  # basenames are unique in every tree's list
            shutil.copy2(out / prog, tmp / flat)
            subprocess.run(["strip", str(tmp / flat)], capture_output=True)
            names[name] = flat
        (tmp / "manifest.json").write_text(json.dumps(names, indent=1))
        shutil.rmtree(bin_dir, ignore_errors=True)
        tmp.rename(bin_dir)
    return {n: bin_dir / f for n, f in names.items()}
