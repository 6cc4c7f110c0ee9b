"""Entry point of the ``boot`` test family for ``kpatchkit run --tests boot``.

``run_family(repo, commit, kernels, size="ci") -> dict`` builds the L2 guest kernel (kbuild),
boots the plan on every given test-VM kernel and returns the JSON-ready block::

    {"config": {...}, "comparisons": [{firmware, thp, guest, vcpus, mem_mb,
        base_pf_taken: {mean, stdev, low, high, n}, patched_pf_taken: {...},
        faults_saved_per_boot: {...}, base_retried: {...}, patched_retried: {...}, ...}],
     "claims": [{id, statement, claimed, our_config, measured, verdict, reason, ...}],
     "infra": [{kernel, kind, detail, attempt}], "samples": [...], "results": [...]}

``results`` holds one entry per kernel and configuration in the run stage's result shape
(``kernel``, ``test``, ``result``, ``seconds``, ``stats``, ``splats``).

Sizes: ``ci`` (default; 1 vCPU, 256 MB L2, 8 MB read through swiotlb, 2 repeats, THP never and
always, SeaBIOS and OVMF) and ``full`` (8 vCPUs, 2 GB, 64 MB read); ``kpatchkit run --tests
boot`` takes the size from ``$KPATCHKIT_BOOT_SIZE``.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from kpatchkit.claims.boot import BootConfig, run_boot_family
from kpatchkit.claims.l2kernel import build_l2_kernel
from kpatchkit.errors import KpatchkitError
from kpatchkit.records.claims import BootFamilyResult

# Named sizes: "ci" fits CI's budget on 2 shared cores; "full" goes toward the claim.
SIZES: dict[str, BootConfig] = {
    "ci": BootConfig(),
    "full": BootConfig(vcpus=8, mem_mb=2048, repeats=3, data_mb=64, l1_smp=2,
                       diskless_repeats=1),
}


def run_results(result: BootFamilyResult) -> list[dict]:
    """One run-stage result entry per kernel and boot configuration."""
    out = []
    groups: dict[tuple, list] = {}
    for s in result.samples:
        key = (s.kernel, s.firmware, s.thp, s.guest, s.vcpus, s.mem_mb)
        groups.setdefault(key, []).append(s)
    for (kernel, fw, thp, guest, vcpus, mem), samples in groups.items():
        ok = [s for s in samples if s.status == "ok"]
        names = sorted({k for s in ok for k in s.stats})
        mean_stats = {k: round(statistics.fmean(s.stats.get(k, 0) for s in ok), 1)
                      for k in names}
        if ok:
            retried = [s.retried for s in ok if s.retried is not None]
            mean_stats["retried_faults"] = round(statistics.fmean(retried), 1) if retried else 0
        out.append({
            "kernel": kernel,
            "test": f"boot/{fw}/thp-{thp}/{guest}/{vcpus}cpu-{mem}M",
            "result": "pass" if len(ok) == len(samples) else ("error" if not ok else "pass"),
            "seconds": round(sum(s.seconds for s in samples), 1),
            "stats": mean_stats,
            "splats": [],
            "repeats": len(samples),
            "failed_repeats": [s.status for s in samples if s.status != "ok"],
        })
    for c in result.comparisons:
        if c.base_ok or c.patched_ok or not c.failed:
            continue
        for kernel in sorted({s.kernel for s in result.samples} | {e.kernel
                                                                    for e in result.infra}):
            if not any(e["test"] == _test_name(c) and e["kernel"] == kernel for e in out):
                out.append({"kernel": kernel, "test": _test_name(c), "result": "error",
                            "seconds": 0.0, "stats": {}, "splats": [], "repeats": 0,
                            "failed_repeats": ["not measured (infrastructure)"]})
    return out


def _test_name(c) -> str:
    return f"boot/{c.firmware}/thp-{c.thp}/{c.guest}/{c.vcpus}cpu-{c.mem_mb}M"


def run_family(repo: Path, commit: str, kernels: dict[str, Path], size: str = "ci",
               config: BootConfig | None = None) -> dict:
    """Run the boot family and return its JSON-ready block (see the module docstring)."""
    cfg = config or SIZES[size]
    l2 = build_l2_kernel(repo, commit)
    result = run_boot_family(kernels, l2.path, cfg)
    block = result.to_json()
    block["results"] = run_results(result)
    block["config"]["size"] = size if config is None else "custom"
    return block


def attach_to_run(report, repo: Path, commit: str, size: str | None = None) -> dict:
    """The ``kpatchkit run --tests boot`` hook: run the family on the report's kernels.

    Adds one ``TestResult`` per kernel and configuration to ``report.results`` (test
    ``boot/<firmware>/thp-<mode>/<guest>/<N>cpu-<M>M``, stats = means over the repeats, metrics
    = faults saved per boot and retried faults) and returns the family's JSON block, which the
    run command puts under the report's ``boot`` key.
    """
    from kpatchkit.records.results import TestResult

    size = size or os.environ.get("KPATCHKIT_BOOT_SIZE", "ci")
    if size not in SIZES:
        raise KpatchkitError(f"KPATCHKIT_BOOT_SIZE={size!r}: use one of {', '.join(SIZES)}")
    kernels = {k.name: Path(k.image) for k in report.kernels
               if k.image and k.outcome == "ok"}
    block = run_family(repo, commit, kernels, size=size)
    saved = {(c["firmware"], c["thp"], c["guest"], c["vcpus"], c["mem_mb"]): c
             for c in block["comparisons"]}
    infra = {e["kind"] for e in block["infra"]}
    for entry in block["results"]:
        fw, thp, guest, size_s = entry["test"].split("/")[1:]
        vcpus, mem = size_s.removesuffix("M").split("cpu-")
        comp = saved.get((fw, thp.removeprefix("thp-"), guest, int(vcpus), int(mem)), {})
        metrics = {}
        if comp.get("faults_saved_per_boot"):
            metrics["faults_saved_per_boot"] = comp["faults_saved_per_boot"]["mean"]
            metrics["faults_saved_stdev"] = comp["faults_saved_per_boot"]["stdev"]
        known = None
        if entry["result"] != "pass" and infra:
            known = "infrastructure: " + ", ".join(sorted(infra))
        report.results.append(TestResult(
            kernel=entry["kernel"], test=entry["test"], result=entry["result"],
            seconds=entry["seconds"], stats=entry["stats"], metrics=metrics, known=known,
            output="; ".join(entry["failed_repeats"])))
    return block
