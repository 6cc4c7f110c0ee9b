"""Front end dispatcher: source -> sanitised, parsed AST -> CFGs, cached by content hash."""

from __future__ import annotations

import functools
import pickle
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.analyze import sanitize, stubs
from kpatchkit.analyze.cfg import FunctionCFG, build_cfgs
from kpatchkit.analyze.knowledge import Knowledge
from kpatchkit.analyze.source import SourceView, blob_ids
from kpatchkit.cache import cache_dir, content_hash, locked
from kpatchkit.errors import KpatchkitError

MODES = ("fast", "real")


@dataclass
class Unit:
    """A parsed translation unit reduced to what the analysis needs."""

    file: str
    mode: str
    cfgs: list[FunctionCFG]
    iterators: set[str]
    source: str
    addr: list = field(default_factory=list)  # plain uses of __rcu pointers (addrspace.py)


@functools.cache
def code_digest() -> str:
    """Hash of the analyzer's own code: a cache entry is stale when the code changes."""
    here = Path(__file__).parent
    return content_hash(*(p.read_bytes() for p in sorted(here.glob("*.py"))))


def _trylocks(kb: Knowledge) -> set[str]:
    return {name for name, p in kb.prims.items() if p.get("op") == "trylock"}


def parse_text(text: str, file: str) -> object:
    """Sanitise and parse preprocessed text, with a readable error."""
    from pycparser.c_parser import ParseError

    from kpatchkit.analyze.parser import parse

    try:
        return parse(sanitize.sanitize(text), file)
    except ParseError as exc:
        raise KpatchkitError(f"cannot parse {file}: {exc}; the front end does not know a "
                             "construct there (report it with the file and line)") from exc


def load_unit(view: SourceView, file: str, mode: str, kb: Knowledge,
              use_cache: bool = True) -> tuple[Unit, bool]:
    """The unit for ``file`` in ``view`` (cached by content); returns (unit, from_cache)."""
    if mode not in MODES:
        raise KpatchkitError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    directory = posixpath.dirname(file)
    deps = [directory + "/" if directory else file, *kb.stubs.get("typedef_headers", []),
            *kb.stubs.get("iterator_headers", [])]
    ids = blob_ids(view, deps)
    if not any(k.endswith(file) for k in ids):
        view.require(file)  # raises the user-facing error
    key = content_hash(mode, file, repr(sorted(ids.items())), kb.digest(), code_digest(),
                       view.rev or "")
    if mode == "real":
        key = content_hash(key, str(view.root))
    entry = cache_dir("analyze", "units") / f"{key}.pickle"
    if use_cache and entry.exists():
        try:
            return pickle.loads(entry.read_bytes()), True
        except Exception:  # noqa: BLE001 - a stale or torn entry is rebuilt
            pass
    view.prefetch(ids)
    if mode == "fast":
        unit_text, source = stubs.build_unit(view, file, kb)
        pre = stubs.preprocess(unit_text, file)
        iterators = stubs.iterators_of(view, file, kb)
    else:
        from kpatchkit.analyze import preprocess

        pre, source, iterators = preprocess.real_unit(view, file, kb)
    ast = parse_text(pre, file)
    cfgs = build_cfgs(ast, file, iterators | set(kb.iterators), _trylocks(kb), kb.predicates)
    unit = Unit(file, mode, cfgs, iterators, source, _addr(view, file, source, ast, kb))
    if use_cache:  # overlays too: the key holds their content hash (a re-review is warm)
        with locked(entry):
            tmp = entry.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(unit))
            tmp.replace(entry)
        _prune(entry.parent)
    return unit, False


def _addr(view: SourceView, file: str, source: str, ast: object, kb: Knowledge) -> list:
    """The __rcu pass over the parsed file, with the annotations of its headers."""
    from kpatchkit.analyze import addrspace

    headers = stubs.local_headers(view, file, source)
    for h in kb.rcu_headers:
        if h not in headers and (text := view.read(h)) is not None:
            headers[h] = text
    return addrspace.scan_unit(ast, file, source, headers, kb.accessors)


def _prune(directory: Path, keep: int = 300) -> None:
    """Keep the ``keep`` most recently written units (each is ~100 kB)."""
    entries = sorted(directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".lock").unlink(missing_ok=True)
