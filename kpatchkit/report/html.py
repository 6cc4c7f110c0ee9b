"""report.html: one self-contained page rendered by Jinja2 (autoescape, StrictUndefined).

The page carries a Content-Security-Policy that forbids every script and every external load;
all CSS is inline and the charts are inline SVG. Data from the series (subjects, authors, diffs)
is untrusted: autoescape turns it into text, the CSP is the second wall.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

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


def blob_names(blobs: Any) -> list[str]:
    """Preimage blob ids from apply's ``base.blobs`` (strings or {blob, path, ...} objects)."""
    out = []
    for b in blobs or []:
        if isinstance(b, dict):
            name = str(b.get("blob") or b.get("id") or "")
            if b.get("path"):
                name += f" ({b['path']})"
            out.append(name)
        else:
            out.append(str(b))
    return out


_FINDING_DEFAULTS = {"id": "", "check": "", "function": "", "file": "", "line": 0, "message": "",
                     "status": "", "severity": ""}


def _finding(f: dict[str, Any], excerpts: dict[str, list]) -> dict[str, Any]:
    out = {**_FINDING_DEFAULTS, **f}
    out["trace"] = [{"line": t.get("line", ""), "state": t.get("state", ""),
                     "note": t.get("note", "")}
                    if isinstance(t, dict) else {"line": "", "state": str(t), "note": ""}
                    for t in f.get("trace") or []]
    out["excerpt"] = excerpts.get(f"{out['file']}:{out['line']}", [])
    return out


def lock_context(ctx: dict[str, Any]) -> str:
    """Analyzer lock state as a reviewer reads it: 'mmu_lock write, RCU 1, preempt off'."""
    parts = []
    lock = ctx.get("mmu_lock")
    parts.append(f"mmu_lock {lock}" if lock and lock != "none" else "no mmu_lock")
    if ctx.get("rcu"):
        parts.append(f"RCU read-side (depth {ctx['rcu']})")
    parts += [f"spinlock {x}" for x in ctx.get("spinlocks") or []]
    parts += ["preemption off"] if ctx.get("preempt_off") else []
    parts += ["IRQs off"] if ctx.get("irqs_off") else []
    parts += [f"in {w}" for w in ctx.get("walks") or []]
    if (ctx.get("paths") or 1) > 1:
        parts.append(f"over {ctx['paths']} paths")
    return ", ".join(parts)


def _added_calls(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for c in analysis.get("added_calls") or []:
        ctx, needs = c.get("context", ""), ""
        if isinstance(ctx, dict):
            needs = ", ".join(map(str, ctx.get("needs") or []))
            ctx = lock_context(ctx)
        elif isinstance(ctx, list):
            ctx = ", ".join(str(x) for x in ctx)
        rows.append({"function": c.get("function", ""), "call": c.get("call", ""),
                     "line": c.get("line", ""), "context": ctx, "needs": needs,
                     "note": c.get("note", "")})
    return rows


def _matrix(result: ReviewResult) -> tuple[list[str], list[dict[str, Any]]]:
    """Tests x kernels: rows of {test, cells{kernel: result dict}, pre_existing}."""
    kernels: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for r in result.results():
        k = str(r.get("kernel", "?"))
        if k not in kernels:
            kernels.append(k)
        row = rows.setdefault(str(r.get("test", "?")), {"test": str(r.get("test", "?")),
                                                       "cells": {}, "generated": False})
        row["cells"][k] = {"result": r.get("result", "?"), "seconds": r.get("seconds"),
                           "fpcw": r.get("faults_per_cow_write"),
                           "splats": len(r.get("splats") or []),
                           "output": str(r.get("output") or "")[-1500:]
                           if r.get("result") in ("fail", "error", "timeout") else ""}
    generated = {str(t.get("name")) for t in result.tests}
    for row in rows.values():
        row["generated"] = row["test"] in generated or row["test"].rsplit("/", 1)[-1] in generated
        res = [c["result"] for c in row["cells"].values()]
        row["pre_existing"] = len(res) > 1 and all(x in ("fail", "error", "timeout") for x in res)
        row["known"] = next((r.get("known") for r in result.results()
                             if r.get("test") == row["test"] and r.get("known")), "")
    ordered = sorted(rows.values(), key=lambda r: (not r["generated"], r["test"]))
    return kernels, ordered


def _splat(kernel: str, test: str, s: Any) -> dict[str, Any]:
    s = s if isinstance(s, dict) else {"title": str(s)}
    return {"kernel": kernel, "test": s.get("test") or test or "",
            "kind": s.get("kind") or s.get("type") or "splat",
            "title": s.get("title") or s.get("message") or s.get("line") or "",
            "function": s.get("function") or "", "location": s.get("location") or "",
            "log": s.get("log") or s.get("excerpt") or s.get("text") or ""}


def _splats(result: ReviewResult) -> list[dict[str, Any]]:
    """Every splat: the kernel-level list (attributed or not) when the run gives one."""
    out = []
    kernels = (result.run or {}).get("kernels") or []
    with_list = {str(k.get("name")) for k in kernels if "splats" in k}
    for k in kernels:
        out += [_splat(str(k.get("name")), "", s) for s in k.get("splats") or []]
    for r in result.results():
        if str(r.get("kernel")) not in with_list:
            out += [_splat(str(r.get("kernel", "")), str(r.get("test", "")), s)
                    for s in r.get("splats") or []]
    return out


def _evidence(applied: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply's evidence records with their location as one 'file:function:line' text."""
    out = []
    for e in applied.get("evidence") or []:
        e = e if isinstance(e, dict) else {"text": str(e)}
        where = ":".join(str(e[k]) for k in ("file", "function", "line") if e.get(k))
        if e.get("hunk"):
            where += f" (hunk {e['hunk']})"
        out.append({"kind": str(e.get("kind") or "evidence"), "text": str(e.get("text") or ""),
                    "patch": str(e.get("patch") or ""), "where": where,
                    "commit": str(e.get("commit") or ""),
                    "hunk_text": str(e.get("hunk_text") or ""),
                    "target_text": str(e.get("target_text") or "")})
    return out


def _context(result: ReviewResult) -> dict[str, Any]:
    analysis = result.analysis or {}
    findings = [_finding(f, result.excerpts) for f in result.findings()]
    kernels, matrix = _matrix(result)
    applied = result.applied or {}
    run = result.run or {}
    stages = sorted(result.stages, key=lambda s: (STAGE_ORDER.index(s.name)
                                                 if s.name in STAGE_ORDER else 99))
    return {
        "r": result,
        "v": result.verdict,
        "series": result.series,
        "applied": applied,
        "base": applied.get("base") or {},
        "blobs": blob_names((applied.get("base") or {}).get("blobs")),
        "compile": applied.get("compile") or {},
        "commits": applied.get("commits") or [],
        "drift_rules": applied.get("drift_rules") or [],
        "evidence": _evidence(applied),
        "stopped": stops_after_apply(applied),
        "basis": result.claim_basis or {},
        "findings_new": [f for f in findings if f["status"] == "new"],
        "findings_fixed": [f for f in findings if f["status"] == "fixed"],
        "findings_unchanged": [f for f in findings if f["status"] not in ("new", "fixed")],
        "analysis_ran": result.analysis is not None,
        "analysis_notes": analysis.get("notes") or analysis.get("warnings") or [],
        "added_calls": _added_calls(analysis),
        "kernels": kernels,
        "matrix": matrix,
        "run_kernels": run.get("kernels") or [],
        "run_notes": run_notes(run),
        "accel": run.get("accel", ""),
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
