"""Lines that say what the run stage did not do here (shown in report.html and summary.txt)."""

from __future__ import annotations


def run_notes(run: dict) -> list[str]:
    """What the run stage did not do here: kernels whose results were reused from an earlier
    run (results cache), and which tests a ``--tests auto`` selection ran."""
    notes = []
    for k in run.get("kernels") or []:
        src = k.get("reused_from") if isinstance(k, dict) else None
        if isinstance(src, dict):
            notes.append(f"{k.get('name', '?')}: reused from run {src.get('run') or '?'} "
                         f"({str(src.get('date') or '?')[:16].replace('T', ' ')}), same "
                         "kernel image, tests, QEMU options and test list")
    sel = run.get("selection") or {}
    if isinstance(sel, dict) and sel.get("mode"):
        affected = [str(a.get("test")) for a in sel.get("affected") or [] if isinstance(a, dict)]
        rest = sel.get("rest") or []
        how = "run after them" if sel["mode"] == "auto" else "not run"
        notes.append(f"--tests {sel['mode']}: {len(affected)} test(s) the patch's files affect "
                     f"first ({', '.join(affected[:6])}{', ...' if len(affected) > 6 else ''});"
                     f" {len(rest)} other(s) {how}")
    return notes
