"""Lines that say what the run stage did not do here (shown in report.html and summary.txt)."""

from __future__ import annotations

from kpatchkit.records.results import RunReport


def run_notes(run: RunReport) -> list[str]:
    """What the run stage did not do here: kernels whose results were reused from an earlier
    run (results cache), a patched kernel that is base's image, tests of the list this
    accelerator leaves out, and which tests a
    ``--tests auto`` selection ran."""
    notes = []
    for k in run.kernels:
        src = k.reuse()
        if src is not None:
            notes.append(f"{k.name}: reused from run {src.run or '?'} "
                         f"({(src.date or '?')[:16].replace('T', ' ')}), same "
                         "kernel image, tests, QEMU options and test list")
    keys = {k.name: k.result_key for k in run.kernels}
    if keys.get("base") and keys.get("base") == keys.get("patched"):
        notes.append("patched: the same kernel image as base, byte for byte (the patch changes "
                     "no code built into this guest's configuration), so its results are "
                     "base's and say nothing about the patch's code")
    for name, why in run.left_out.items():
        notes.append(f"{name}: not run under {run.accel} ({why})")
    sel = run.test_selection()
    if sel is not None and sel.mode:
        affected = [a.test for a in sel.affected]
        how = "run after them" if sel.mode == "auto" else "not run"
        notes.append(f"--tests {sel.mode}: {len(affected)} test(s) the patch's files affect "
                     f"first ({', '.join(affected[:6])}{', ...' if len(affected) > 6 else ''});"
                     f" {len(sel.rest)} other(s) {how}")
    return notes
