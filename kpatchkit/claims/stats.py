"""From the in-guest driver's lines to faults saved per boot with an interval.

The driver prints one ``KPK-BOOT key=value ...`` line per L2 boot (see ``data/boot.sh``).
Faults saved per boot is base pf_taken minus patched pf_taken for the same configuration; its
spread combines both kernels' run-to-run noise (standard error of a difference of means), and
the low/high bounds are the worst and best pairing of the observed repeats. The base kernel's
retried faults (pf_taken - pf_fixed - pf_emulate - pf_spurious) are what the series can save.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from kpatchkit.records.claims import BootComparison, BootSample, Interval

_INT_KEYS = ("vcpus", "mem", "rep")
_FIELDS = {"firmware", "thp", "vcpus", "mem", "guest", "rep", "status", "seconds", "l2_uptime",
           "qemu_err"}


def parse_line(line: str, kernel: str) -> BootSample | None:
    """Parse one ``KPK-BOOT`` line (None for anything else)."""
    # Only lines the driver wrote to the channel itself: indented copies are test output.
    line = line.rstrip()
    if not line.startswith("KPK-BOOT "):
        return None
    kv: dict[str, str] = {}
    for tok in line.split()[1:]:
        key, sep, value = tok.partition("=")
        if sep:
            kv[key] = value
    if "firmware" not in kv:
        return None
    stats = {k: int(v) for k, v in kv.items() if k not in _FIELDS and v.isdigit()}
    try:
        seconds = float(kv.get("seconds", "0"))
    except ValueError:
        seconds = 0.0
    return BootSample(kernel=kernel, firmware=kv["firmware"], thp=kv.get("thp", "?"),
                      guest=kv.get("guest", "?"), vcpus=int(kv.get("vcpus", 0)),
                      mem_mb=int(kv.get("mem", 0)), rep=int(kv.get("rep", 0)),
                      status=kv.get("status", "?"), seconds=seconds, stats=stats)


def parse_output(text: str, kernel: str) -> list[BootSample]:
    """All boot samples in a results-channel text."""
    out = []
    for line in text.splitlines():
        sample = parse_line(line, kernel)
        if sample:
            out.append(sample)
    return out


def interval(values: Iterable[float]) -> Interval | None:
    """Mean, sample standard deviation, min and max of the values (None when empty)."""
    vals = [float(v) for v in values]
    if not vals:
        return None
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return Interval(mean=round(statistics.fmean(vals), 1), stdev=round(sd, 1), low=min(vals),
                    high=max(vals), n=len(vals))


def difference(base: Interval | None, patched: Interval | None) -> Interval | None:
    """base - patched: mean difference, combined standard error, extreme pairings as bounds."""
    if base is None or patched is None:
        return None
    se = math.sqrt(base.stdev ** 2 / base.n + patched.stdev ** 2 / patched.n)
    return Interval(mean=round(base.mean - patched.mean, 1), stdev=round(se, 1),
                    low=base.low - patched.high, high=base.high - patched.low,
                    n=min(base.n, patched.n))


def config_key(s: BootSample) -> tuple[str, str, str, int, int]:
    """The configuration a sample belongs to (everything but kernel and repeat)."""
    return (s.firmware, s.thp, s.guest, s.vcpus, s.mem_mb)


def compare(samples: Iterable[BootSample]) -> list[BootComparison]:
    """One comparison per configuration, from the samples whose boot completed."""
    groups: dict[tuple, dict[str, list[BootSample]]] = {}
    failed: dict[tuple, int] = {}
    for s in samples:
        key = config_key(s)
        groups.setdefault(key, {"base": [], "patched": []})
        if s.status == "ok" and "pf_taken" in s.stats:
            groups[key].setdefault(s.kernel, []).append(s)
        else:
            failed[key] = failed.get(key, 0) + 1
    out = []
    for key, by_kernel in groups.items():
        base, patched = by_kernel.get("base", []), by_kernel.get("patched", [])
        b_pf = interval(s.stats["pf_taken"] for s in base)
        p_pf = interval(s.stats["pf_taken"] for s in patched)
        out.append(BootComparison(
            firmware=key[0], thp=key[1], guest=key[2], vcpus=key[3], mem_mb=key[4],
            base_pf_taken=b_pf, patched_pf_taken=p_pf,
            faults_saved_per_boot=difference(b_pf, p_pf),
            base_retried=interval(s.retried for s in base if s.retried is not None),
            patched_retried=interval(s.retried for s in patched if s.retried is not None),
            base_ok=len(base), patched_ok=len(patched), failed=failed.get(key, 0)))
    return sorted(out, key=lambda c: (c.guest, c.firmware, c.thp, c.vcpus, c.mem_mb))
