"""summary.txt: the review as an automated reply to the series on its mailing list.

Plain text, 72 columns where it can be, headers a mail client can use (Subject: Re:,
In-Reply-To), the verdict first, then one line per stage, in the manner of the kernel's CI bots.
"""

from __future__ import annotations

import textwrap

from kpatchkit import __version__
from kpatchkit.records.results import TestResult
from kpatchkit.records.review import ReviewResult
from kpatchkit.report.html import blob_names
from kpatchkit.report.judge import apply_outcome, evidence_lines, stops_after_apply
from kpatchkit.report.notes import run_notes


def _wrap(text: str, width: int, **kw) -> list[str]:
    # Kernel names and verdicts carry hyphens (pre-existing, not-reproduced): never split them.
    return textwrap.wrap(text, width, break_on_hyphens=False, **kw)


def _first_name(author: str) -> str:
    name = author.strip().strip('"')
    return name.split()[0] if name else "there"


def _apply_line(result: ReviewResult) -> str:
    a = result.applied
    if a is None:
        return "not run"
    head = apply_outcome(a) or "?"
    if stops_after_apply(a):
        missing = ", ".join(a.missing_parts)
        return head + (f" (missing: {missing})" if missing else "") + \
            "; the review stopped after apply (the evidence is listed above)"
    if not a.base.found:
        blobs = ", ".join(blob_names(a.base.blobs))
        head += f" (base {blobs + ' ' if blobs else ''}not in the tree; applied on its HEAD)"
    parts = [head]
    if a.drift_rules:
        parts.append("drift rules: " + ", ".join(r.id for r in a.drift_rules))
    comp = a.compile
    if comp is not None and comp.ok is not None:
        parts.append("compiles" if comp.ok else "DOES NOT COMPILE")
    elif comp is not None:
        parts.append(f"compile {comp.status or 'not run'}")
    return "; ".join(parts)


def _failing(results: list[TestResult]) -> set[str]:
    return {r.test for r in results if r.result in ("fail", "error", "timeout")}


def _tests_line(result: ReviewResult) -> str:
    run = result.run
    if run is None:
        return "not run"
    out = []
    for kernel in ("base", "patched"):
        rs = result.results(kernel)
        if rs:
            ok = sum(r.result == "pass" for r in rs)
            skip = sum(r.result == "skip" for r in rs)
            splats = sum(len(r.splats) for r in rs)
            text = f"{kernel} {ok}/{len(rs)} pass"
            if kernel == "patched":
                both = _failing(result.results("base")) & _failing(rs)
                text += f" ({len(both)} fail on both: pre-existing)" if both else ""
            text += f", {skip} skip" if skip else ""
            text += f", {splats} splat(s)" if splats else ""
            out.append(text)
    line = "; ".join(out) + (f" ({run.accel})" if run.accel else "")
    return line + "".join(f"; {x}" for x in run_notes(run))


def _claim_line(result: ReviewResult) -> str:
    v, basis = result.verdict, result.claim_basis
    if stops_after_apply(result.applied):
        return "not judged: the review stopped after apply"
    if v.claim == "no-claim":
        return ("no claim: this is not the reference series, so the COW scenarios are "
                "regression checks (TDP faults per COW write, base -> patched; patched must "
                "not exceed base beyond the base's spread)")
    whose = {"reference": "the reference series' claim", "expect": "the patch's --expect"}
    text = v.claim.replace("-", " ") + " (TDP faults per COW write, base -> patched"
    return text + (f"; {whose[basis.kind]})" if basis.kind in whose else ")")


def render_summary(result: ReviewResult, report_name: str = "report.html") -> str:
    """Return the text of the reply."""
    s, v = result.series, result.verdict
    first = s.patches[0] if s.patches else None
    msgid = s.cover_message_id or (first.message_id if first else "")
    subject = s.title or (first.subject if first else "the series")
    prefix = f"[PATCH 0/{s.total}]" if s.cover_message_id else (
        f"[PATCH 1/{s.total}]" if s.total > 1 else "[PATCH]")
    lines = [f"Subject: Re: {prefix} {subject}"]
    if msgid:
        lines += [f"In-Reply-To: <{msgid}>", f"References: <{msgid}>"]
    lines += ["", f"Hi {_first_name(first.author if first else '')},", ""]
    tree = result.tree
    intro = (f"Thank you for the series \"{subject}\" ({s.total} patch"
             f"{'' if s.total == 1 else 'es'}). kpatchkit reviewed it on "
             f"{tree.name if tree else '?'} (Linux {tree.version if tree else '?'}); the result:")
    lines += _wrap(intro, 72) + [""]
    lines += _wrap(f"VERDICT: {v.status.upper()} - {v.headline}", 70,
                   initial_indent="  ", subsequent_indent="    ")
    for reason in v.reasons:
        lines += _wrap(reason, 68, initial_indent="    - ", subsequent_indent="      ")
    lines.append("")
    a = result.analysis
    analysis = ("not run" if a is None else
                f"{len(result.findings('new'))} new, {len(result.findings('fixed'))} fixed, "
                f"{len(result.findings('unchanged'))} unchanged finding(s); "
                f"{len(a.added_calls)} added call(s) checked")
    rows = [("Apply", _apply_line(result)), ("Analysis", analysis),
            ("Selftests", _tests_line(result)), ("Claim", _claim_line(result))]
    for label, text in rows:
        lines += _wrap(text, 72, initial_indent=f"{label + ':':<11}",
                       subsequent_indent=" " * 11)
    for sc in result.scenarios:
        b = "-" if sc.base is None else f"{sc.base:.2f}"
        p = "-" if sc.patched is None else f"{sc.patched:.2f}"
        tag = {"control": " (control)", "correctness": " (control)",
               "regression": " (no claim)"}.get(sc.check, "" if sc.is_claim else " (control)")
        lines.append(f"{'':11}{sc.scenario[:34]:<34} {b:>5} -> {p:<5} {sc.outcome}{tag}")
    for c in result.claims:
        measured = c.measured_detail or c.measured or "not measured"
        lines += _wrap(f"\"{c.statement}\": {c.verdict} - {measured}", 72,
                       initial_indent=" " * 11, subsequent_indent=" " * 13)
    evidence = evidence_lines(result.applied)
    if evidence and not stops_after_apply(result.applied):
        lines += ["", "Apply evidence:"]
        for e in evidence:
            lines += _wrap(e, 72, initial_indent="  ", subsequent_indent="    ")
    new = result.findings("new")
    if new:
        lines += ["", "New findings:"]
        for f in new:
            lines += _wrap(f"{f.file}:{f.line}: {f.function}(): [{f.check}] {f.message}", 72,
                           initial_indent="  ", subsequent_indent="    ")
    lines += ["", f"The full report is in {report_name} beside this file (run {result.run_id});",
              "junit.xml, findings.sarif and results.json carry the same for CI.", "",
              "-- ", f"kpatchkit {__version__}: an automated reply; the verdict is computed from",
              "the run's results and the scenarios' expectations. Reply if it is wrong."]
    return "\n".join(lines) + "\n"
