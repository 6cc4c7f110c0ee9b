"""report.html: one self-contained page rendered by Jinja2 (autoescape, StrictUndefined).

The page carries a Content-Security-Policy that forbids every script and every external load;
all CSS is inline and the charts are inline SVG. Data from the series (subjects, authors, diffs)
is untrusted: autoescape turns it into text, the CSP is the second wall.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from kpatchkit.records.applied import Applied, BlobCheck
from kpatchkit.records.findings import AnalysisDiff, LockContext
from kpatchkit.records.results import Splat
from kpatchkit.records.review import ReviewResult
from kpatchkit.report import chart
from kpatchkit.report.judge import stops_after_apply
from kpatchkit.report.notes import run_notes

TEMPLATES = Path(__file__).with_name("templates")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STAGE_ORDER = ("fetch", "apply", "analyze", "gen-tests", "run", "report")


def environment() -> jinja2.Environment:
    """The Jinja2 environment every HTML page of kpatchkit is rendered with."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template here is HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["CSP"] = CSP
    env.filters["secs"] = _secs
    env.filters["safe_href"] = safe_href
    return env


def safe_href(url: Any) -> str:
    """``url`` if it is http(s) or relative, else '' (no javascript:, data:, file: links, no
    protocol-relative or backslash tricks that browsers resolve off-site)."""
    from urllib.parse import urlsplit

    text = str(url or "").strip()
    # Browsers drop tabs/newlines inside a URL ("java\tscript:") and read a backslash as a
    # slash ("/\\host", "\\\\host" are off-site): a link with either is not one of ours.
    if "\\" in text or any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in text):
        return ""
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return ""
    return text if scheme in ("", "http", "https") and not text.startswith("//") else ""


def _secs(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if v >= 90:
        return f"{int(v // 60)} min {int(v % 60)} s"
    return f"{v:.1f} s"


def blob_names(blobs: list[BlobCheck]) -> list[str]:
    """Preimage blob ids from apply's ``base.blobs``, with their path: '6250bd3d20c1 (x.c)'."""
    return [b.blob + (f" ({b.path})" if b.path else "") for b in blobs]


def lock_context(ctx: LockContext) -> str:
    """Analyzer lock state as a reviewer reads it: 'mmu_lock write, RCU 1, preempt off'."""
    parts = []
    lock = ctx.mmu_lock
    parts.append(f"mmu_lock {lock}" if lock and lock != "none" else "no mmu_lock")
    if ctx.rcu:
        parts.append(f"RCU read-side (depth {ctx.rcu})")
    parts += [f"spinlock {x}" for x in ctx.spinlocks]
    parts += ["preemption off"] if ctx.preempt_off else []
    parts += ["IRQs off"] if ctx.irqs_off else []
    parts += [f"in {w}" for w in ctx.walks]
    if (ctx.paths or 1) > 1:
        parts.append(f"over {ctx.paths} paths")
    return ", ".join(parts)


def _added_calls(analysis: AnalysisDiff) -> list[dict[str, Any]]:
    """The added-call table's rows: the call, its lock context and needs in words."""
    rows = []
    for c in analysis.added_calls:
        ctx = c.lock()
        rows.append({"function": c.function, "call": c.call, "line": c.line,
                     "context": lock_context(ctx), "needs": ", ".join(map(str, ctx.needs)),
                     "note": c.note})
    return rows


def _matrix(result: ReviewResult) -> tuple[list[str], list[dict[str, Any]]]:
    """Tests x kernels: rows of {test, cells{kernel: cell}, generated, pre_existing, known}."""
    kernels: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for r in result.results():
        if r.kernel not in kernels:
            kernels.append(r.kernel)
        row = rows.setdefault(r.test, {"test": r.test, "cells": {}, "generated": False})
        row["cells"][r.kernel] = {
            "result": r.result, "seconds": r.seconds, "fpcw": r.faults_per_cow_write,
            "splats": len(r.splats),
            "output": r.output[-1500:] if r.result in ("fail", "error", "timeout") else ""}
    generated = {t.name for t in result.tests}
    for row in rows.values():
        row["generated"] = row["test"] in generated or row["test"].rsplit("/", 1)[-1] in generated
        res = [c["result"] for c in row["cells"].values()]
        row["pre_existing"] = len(res) > 1 and all(x in ("fail", "error", "timeout") for x in res)
        row["known"] = next((r.known for r in result.results()
                             if r.test == row["test"] and r.known), "")
    ordered = sorted(rows.values(), key=lambda r: (not r["generated"], r["test"]))
    return kernels, ordered


def _splat(kernel: str, test: str, s: Splat) -> dict[str, Any]:
    return {"kernel": kernel, "test": s.test or test, "kind": s.kind or "splat",
            "title": s.title, "function": s.function or "", "location": s.location or "",
            "log": s.text}


def _splats(result: ReviewResult) -> list[dict[str, Any]]:
    """Every splat: each kernel's own list (attributed or not), and the results' splats of a
    kernel the run does not list."""
    kernels = result.run.kernels if result.run is not None else []
    out = [_splat(k.name, "", s) for k in kernels for s in k.splats]
    listed = {k.name for k in kernels}
    out += [_splat(r.kernel, r.test, s) for r in result.results() if r.kernel not in listed
            for s in r.splats]
    return out


def _evidence(applied: Applied) -> list[dict[str, Any]]:
    """Apply's evidence records with their location as one 'file:function:line' text."""
    out = []
    for e in applied.evidence:
        where = ":".join(str(x) for x in (e.file, e.function, e.line) if x)
        if e.hunk:
            where += f" (hunk {e.hunk})"
        out.append({"kind": e.kind or "evidence", "text": e.text, "patch": e.patch or "",
                    "where": where, "commit": e.commit or "", "hunk_text": e.hunk_text,
                    "target_text": e.target_text})
    return out


def _context(result: ReviewResult) -> dict[str, Any]:
    analysis, applied, run = result.analysis, result.applied, result.run
    findings = [(f, result.excerpts.get(f"{f.file}:{f.line}", [])) for f in result.findings()]
    kernels, matrix = _matrix(result)
    stages = sorted(result.stages, key=lambda s: (STAGE_ORDER.index(s.name)
                                                 if s.name in STAGE_ORDER else 99))
    return {
        "r": result,
        "v": result.verdict,
        "series": result.series,
        "applied": applied,
        "blobs": blob_names(applied.base.blobs) if applied is not None else [],
        "compile": applied.compile if applied is not None else None,
        "evidence": _evidence(applied) if applied is not None else [],
        "stopped": stops_after_apply(applied),
        "basis": result.claim_basis,
        "findings_new": [x for x in findings if x[0].status == "new"],
        "findings_fixed": [x for x in findings if x[0].status == "fixed"],
        "findings_unchanged": [x for x in findings if x[0].status not in ("new", "fixed")],
        "analysis_ran": analysis is not None,
        "analysis_notes": analysis.notes if analysis is not None else [],
        "added_calls": _added_calls(analysis) if analysis is not None else [],
        "kernels": kernels,
        "matrix": matrix,
        "run_kernels": run.kernels if run is not None else [],
        "run_notes": run_notes(run) if run is not None else [],
        "accel": run.accel if run is not None else "",
        "scenarios": result.scenarios,
        "chart": chart.cow_chart(result.scenarios),
        "splats": _splats(result),
        "claims": result.claims,
        "stages": stages,
        "prov": result.provenance,
        "tree": result.tree,
    }


def render_report(result: ReviewResult) -> str:
    """Render the whole review as one HTML document (a string)."""
    return environment().get_template("report.html.j2").render(**_context(result))


def render_index(runs: list[dict[str, Any]], trend: chart.Markup,
                 warnings: list[str] | None = None) -> str:
    """Render the publish index page from run summaries (see publish_command)."""
    return environment().get_template("index.html.j2").render(runs=runs, trend=trend,
                                                              warnings=warnings or [])
