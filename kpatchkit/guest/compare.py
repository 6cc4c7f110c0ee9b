"""Base and patched results side by side: pre-existing failures, inconclusive timeouts, and the
run summary. One comparison for a local run and for LAVA's results read back."""

from __future__ import annotations

from kpatchkit.records.results import RunReport, TestResult

SLOW_FRACTION = 0.5  # a pass that used this share of the timeout makes a sibling timeout moot


def subject_kernel(report: RunReport) -> str:
    """The kernel under test: 'patched' when there is one, else 'base'."""
    names = [k.name for k in report.kernels]
    return "patched" if "patched" in names else (names[0] if names else "base")


def compare_kernels(report: RunReport, generated: set[str]) -> None:
    """Mark failures present on base too as pre-existing and the ``generated`` tests as such;
    fill ``report.summary``."""
    bad = ("fail", "error", "timeout")
    base = {r.test: r for r in report.results if r.kernel == "base"}
    for r in report.results:
        r.generated = r.test in generated
        if r.kernel != "base" and r.result in bad and base.get(r.test) \
                and base[r.test].result in bad:
            r.preexisting = True
            base[r.test].preexisting = True
    # A timeout next to a pass that itself needed most of the budget says "slow machine", not
    # "the patch broke it": report it as such instead of blaming either kernel.
    by_test: dict[str, list[TestResult]] = {}
    for r in report.results:
        by_test.setdefault(r.test, []).append(r)
    for runs in by_test.values():
        for r in runs:
            if r.result != "timeout" or r.known or not r.timeout:
                continue
            slow = [o for o in runs if o is not r and o.result == "pass"
                    and o.seconds >= SLOW_FRACTION * r.timeout]
            if slow:
                r.known = (f"inconclusive: timed out after {r.timeout}s while the "
                           f"{slow[0].kernel} kernel passed in {slow[0].seconds:.0f}s; "
                           "the guest is too slow here for this test's timeout")
    # Only the kernel under test can have new failures: with a patched kernel, base's own
    # failures (or tests base never ran because its VM died) are context, not findings.
    subject = subject_kernel(report)
    new_failures = [f"{r.kernel}:{r.test}" for r in report.results
                    if r.kernel == subject and r.result in bad and not r.known
                    and not r.preexisting]
    report.summary = {
        "tests": len({r.test for r in report.results}),
        "by_kernel": {k.name: {res: sum(1 for r in report.results
                                        if r.kernel == k.name and r.result == res)
                               for res in ("pass", "fail", "skip", "error", "timeout")}
                      for k in report.kernels},
        "splats": {k.name: len(k.splats) for k in report.kernels},
        "known": sorted({f"{r.test}" for r in report.results if r.known}),
        "preexisting": sorted({r.test for r in report.results if r.preexisting}),
        "new_failures": new_failures,
        "infra": {k.name: k.outcome for k in report.kernels if k.outcome not in ("ok",)},
    }
