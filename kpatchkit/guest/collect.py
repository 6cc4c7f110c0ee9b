"""Turn one VM's two logs into per-test results: TAP outcomes, stats, metrics, splats.

Results channel layout (written by data/init.sh)::

    KPATCHKIT-RESULTS-BEGIN
    TAP version 13
    1..N
    # kpatchkit-begin NAME
        <the test's own output, indented: kselftest TAP, '# kpatchkit-metric ...' lines>
    # kpatchkit-stats NAME seconds=1.23 exit=0 pf_taken=... pf_fixed=...
    ok 1 NAME                      (or '# SKIP ...', 'not ok 1 NAME # TIMEOUT ...', '# exit=N')
    # kpatchkit-dmesg-begin ... # kpatchkit-dmesg-end
    KPATCHKIT-RESULTS-END
"""

from __future__ import annotations

import re

from kpatchkit.guest import tap
from kpatchkit.guest.initramfs import GuestTest
from kpatchkit.guest.qemu import VmOutcome
from kpatchkit.guest.splats import find_splats
from kpatchkit.records.results import Splat, TestResult

_STATS = re.compile(r"^# kpatchkit-stats (\S+)\s*(.*)$")
_KV = re.compile(r"(\w+)=(\S+)")
_PANIC = re.compile(r"Kernel panic - not syncing: .*")


def _section(text: str) -> str:
    text = text.replace("\r", "")
    start = text.find("KPATCHKIT-RESULTS-BEGIN")
    if start < 0:
        return ""
    end = text.find("KPATCHKIT-RESULTS-END", start)
    body = text[start + len("KPATCHKIT-RESULTS-BEGIN"): end if end >= 0 else len(text)]
    dm = body.find("# kpatchkit-dmesg-begin")
    return body[:dm] if dm >= 0 else body


def _chunks(section: str) -> dict[str, list[str]]:
    """Lines per test, from its begin marker to its result line."""
    out: dict[str, list[str]] = {}
    cur = None
    for line in section.splitlines():
        if line.startswith("# kpatchkit-begin "):
            cur = line.split()[2]
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def _num(v: str) -> float | int | str:
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def collect(kernel: str, tests: list[GuestTest], vm: VmOutcome,
            known: dict[str, str] | None = None) -> tuple[list[TestResult], list[Splat], str]:
    """Per-test results, all splats, and the kernel's panic line (or "")."""
    known = known or {}
    results_text = vm.results.read_text(errors="replace")
    console = vm.console.read_text(errors="replace")
    section = _section(results_text)
    doc = tap.parse(section)
    points = {p.description: p for p in doc.points}
    chunks = _chunks(section)
    splats = find_splats(console)
    panic = m.group(0) if (m := _PANIC.search(console)) else ""
    out: list[TestResult] = []
    for t in tests:
        lines = chunks.get(t.name)
        res = TestResult(kernel=kernel, test=t.name, result="error", args=list(t.args),
                         timeout=t.timeout)
        if lines is not None:
            output = [ln[4:] for ln in lines if ln.startswith("    ")]
            res.output = "\n".join(output[-40:])
            res.metrics, res.phases = tap.parse_metrics(output)
            if isinstance(res.metrics.get("faults_per_cow_write"), float):
                res.faults_per_cow_write = res.metrics["faults_per_cow_write"]
            for ln in lines:
                if m := _STATS.match(ln):
                    kv = {k: _num(v) for k, v in _KV.findall(m.group(2))}
                    res.seconds = float(kv.pop("seconds", 0.0))
                    ec = kv.pop("exit", None)
                    res.exit_code = ec if isinstance(ec, int) else None
                    res.stats = kv
        point = points.get(t.name)
        if point is not None:
            if point.reason.upper().startswith("TIMEOUT"):
                res.result = "timeout"
            else:
                res.result = point.outcome
        elif lines is not None:
            # Started but never finished: the VM died (panic) or hung under this test.
            res.result = "timeout" if vm.status == "timeout" else "error"
            res.output = (res.output + "\n" if res.output else "") + (
                f"kpatchkit: VM {vm.status} during this test" + (f": {panic}" if panic else ""))
        else:
            res.output = f"kpatchkit: not run: VM ended early ({vm.status})"
        res.splats = [s for s in splats if s.test == t.name]
        if res.result in ("fail", "timeout", "error") and t.name in known:
            res.known = known[t.name]
        out.append(res)
    return out, splats, panic
