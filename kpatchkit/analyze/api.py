"""Library API of the analyze stage (what ``review`` and the CLI call)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kpatchkit.analyze import diff as diffmod
from kpatchkit.analyze.engine import analyze_cfgs
from kpatchkit.analyze.frontend import load_unit
from kpatchkit.analyze.knowledge import load
from kpatchkit.analyze.source import SourceView, resolve_rev
from kpatchkit.errors import KpatchkitError
from kpatchkit.kernel import git as g
from kpatchkit.records.findings import AnalysisDiff, FileAnalysis

DEFAULT_FILE = "arch/x86/kvm/mmu/tdp_mmu.c"


def resolve_mode(mode: str) -> str:
    """``auto`` is the fast (stub) mode unless $KPATCHKIT_ANALYZE_MODE says otherwise.

    Real-header mode needs a prepared build per commit (make prepare, ~15 s once); callers
    that already have one (or want the cross-check) ask for it explicitly.
    """
    if mode == "auto":
        return os.environ.get("KPATCHKIT_ANALYZE_MODE", "fast")
    return mode


def analyze_file(repo: Path, file: str = DEFAULT_FILE, rev: str | None = None, *,
                 mode: str = "auto", overlay: dict[str, str] | None = None,
                 use_cache: bool = True, contexts: bool = True) -> FileAnalysis:
    """Analyse the functions defined in ``file`` at ``rev`` of ``repo`` (working dir if None).

    ``overlay`` replaces file texts in that view without writing anything (tests inject bugs
    this way). Findings carry stable check ids (see checks.CHECKS).
    """
    t0 = time.perf_counter()
    mode = resolve_mode(mode)
    sha = resolve_rev(repo, rev) if rev else None
    view = SourceView(Path(repo), sha, dict(overlay or {}))
    kb = load()
    unit, cached = load_unit(view, file, mode, kb, use_cache=use_cache)
    result = analyze_cfgs(unit.cfgs, kb, file, unit.iterators, contexts=contexts,
                          addr=unit.addr)
    return FileAnalysis(
        file=file, rev=sha or "worktree", mode=mode, functions=result.functions,
        findings=result.findings, calls=result.calls,
        seconds=round(time.perf_counter() - t0, 4), cached=cached,
    )


def source_of(repo: Path, file: str, rev: str | None,
              overlay: dict[str, str] | None = None) -> str:
    """The text of ``file`` at ``rev`` (for the added-line diff)."""
    return SourceView(Path(repo), resolve_rev(repo, rev) if rev else None,
                      dict(overlay or {})).require(file)


def analyze_diff(repo: Path, base: str, head: str, files: list[str] | None = None,
                 mode: str = "auto", *, tree: str = "") -> AnalysisDiff:
    """Analyse ``files`` at ``base`` and ``head``; label findings and list added calls."""
    t0 = time.perf_counter()
    mode = resolve_mode(mode)
    base_sha = resolve_rev(repo, base)
    head_sha = resolve_rev(repo, head)
    explicit = bool(files)
    files = files or changed_c_files(repo, base_sha, head_sha) or [DEFAULT_FILE]
    out = AnalysisDiff(tree=tree or str(repo), base=base_sha, head=head_sha, mode=mode,
                       files=files)
    for file in files:
        try:
            b = _or_empty(repo, file, base_sha, mode, contexts=False)
            h = _or_empty(repo, file, head_sha, mode)
        except KpatchkitError as exc:
            if explicit:
                raise
            # A file the patch touches that the front end cannot read: say so, go on.
            out.errors.append({"file": file, "error": exc.message})
            continue
        out.findings.extend(diffmod.label_findings(b, h))
        out.added_calls.extend(diffmod.added_calls(
            h, SourceView(Path(repo), base_sha).read(file) or "",
            SourceView(Path(repo), head_sha).read(file) or ""))
    out.counts = {s: sum(f.status == s for f in out.findings)
                  for s in ("new", "fixed", "unchanged")}
    out.seconds = round(time.perf_counter() - t0, 4)
    return out


def _or_empty(repo: Path, file: str, rev: str, mode: str, contexts: bool = True) -> FileAnalysis:
    """The analysis of ``file`` at ``rev``; an empty one when the file does not exist there
    (a patch that adds or deletes the file)."""
    if SourceView(Path(repo), rev).read(file) is None:
        return FileAnalysis(file=file, rev=rev, mode=mode)
    return analyze_file(repo, file, rev, mode=mode, contexts=contexts)


def changed_c_files(repo: Path, base: str, head: str) -> list[str]:
    """The analysable .c files under arch/x86/kvm/ the range touches."""
    names = g.git(repo, "diff", "--name-only", base, head, "--", "arch/x86/kvm/",
                  check=False).stdout
    return [p for p in names.split() if p.endswith(".c")]
