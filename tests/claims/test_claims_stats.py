"""Stats and verdict maths on real measurements.

The data files are the ``KPK-BOOT`` lines the in-guest driver wrote on the results channel in a
real run (``tests/claims/data/*.txt``: 6.1.192 debug kernels, base and with the series ported,
TCG test VM, L2 SeaBIOS 1 vCPU 256 MB, 8 MB read through swiotlb; see the README there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpatchkit.claims import claims, stats
from kpatchkit.records.claims import BootSample, Interval

DATA = Path(__file__).with_name("data")


@pytest.fixture(scope="module")
def samples() -> list[BootSample]:
    out = []
    for kernel in ("base", "patched"):
        out += stats.parse_output((DATA / f"debug61-seabios-{kernel}.txt").read_text(), kernel)
    return out


def test_parse_real_lines(samples: list[BootSample]) -> None:
    assert {s.kernel for s in samples} == {"base", "patched"}
    assert {s.guest for s in samples} == {"diskless", "ide-swiotlb"}
    for s in samples:
        assert s.status == "ok" and s.firmware == "seabios" and s.vcpus == 1 and s.mem_mb == 256
        # the stat names of 6.1's kvm_vcpu_stats_desc, summed over vCPUs in the per-VM dir
        for name in ("pf_taken", "pf_fixed", "pf_emulate", "pf_spurious", "exits"):
            assert name in s.stats
        assert s.stats["pf_taken"] >= s.stats["pf_fixed"] + s.stats["pf_emulate"]
    # the bookkeeping fields are not stats
    assert "seconds" not in samples[0].stats and "rep" not in samples[0].stats


def test_indented_copies_and_other_lines_are_ignored() -> None:
    line = (DATA / "debug61-seabios-base.txt").read_text().splitlines()
    real = [x for x in line if x.startswith("KPK-BOOT ")][0]
    assert stats.parse_line(real, "base") is not None
    assert stats.parse_line("    " + real, "base") is None  # the test's stdout dump
    assert stats.parse_line("KPK-BOOT-START kernel=6.1.192+", "base") is None
    assert stats.parse_line("KPK-BOOT-END", "base") is None


def test_retried_faults_definition(samples: list[BootSample]) -> None:
    s = samples[0]
    assert s.retried == (s.stats["pf_taken"] - s.stats["pf_fixed"] - s.stats["pf_emulate"]
                         - s.stats["pf_spurious"])
    assert BootSample("base", "seabios", "never", "x", 1, 1, 1, "ok", 0.0, {}).retried is None


def test_interval_and_difference_maths() -> None:
    a = stats.interval([10058.0, 10050.0])
    assert a == Interval(mean=10054.0, stdev=5.7, low=10050.0, high=10058.0, n=2)
    b = stats.interval([9716.0])
    assert b is not None and b.stdev == 0.0 and b.n == 1
    d = stats.difference(a, b)
    assert d is not None and d.mean == 338.0 and d.low == 334.0 and d.high == 342.0
    assert d.stdev == pytest.approx((5.657 ** 2 / 2) ** 0.5, abs=0.1)
    assert stats.interval([]) is None and stats.difference(None, b) is None


def test_swiotlb_saving_equals_base_retries_and_dwarfs_diskless(
        samples: list[BootSample]) -> None:
    comps = {(c.guest, c.thp): c for c in stats.compare(samples)}
    io = comps[("ide-swiotlb", "never")]
    disk = comps[("diskless", "never")]
    assert io.faults_saved_per_boot is not None and io.base_retried is not None
    # The series saves what the base kernel retried: the read-then-written pages.
    assert io.faults_saved_per_boot.mean == pytest.approx(io.base_retried.mean, rel=0.05)
    # A diskless boot has almost nothing to save; the swiotlb/IDE one has hundreds.
    assert disk.base_retried is not None and disk.base_retried.mean < 20
    assert io.base_retried.mean > 10 * max(disk.base_retried.mean, 1)


def test_verdicts_for_the_measured_configuration(samples: list[BootSample]) -> None:
    comps = stats.compare(samples)
    verdicts = {v.id: v for v in claims.judge(comps, [], data_mb=8)}
    sea = verdicts["seabios-boot"]
    # A few hundred saved per boot at 1 vCPU/256 MB: a real saving, far below 17000+.
    assert sea.verdict == "partly", sea
    assert sea.measured is not None and 100 < sea.measured < 17000 * 0.75
    assert "saved per MB" in sea.reason and "1 vCPU, 256 MB" in sea.reason
    # No OVMF boot in this data: nothing to judge, and it says so.
    assert verdicts["ovmf-boot"].verdict == "not measured"
    # The 2 GB nested claim is at best "partly": we measure one nesting level less.
    assert verdicts["l2-2g"].verdict in ("partly", "not reproduced")
    assert "one nesting level less" in verdicts["l2-2g"].reason


def test_verdict_thresholds_from_data(samples: list[BootSample]) -> None:
    comps = stats.compare(samples)
    rules = claims.load_claims()
    # Lower the claim below the measurement: the same data then reproduces it.
    small = {**rules, "claim": [dict(rules["claim"][1], claimed=100)]}
    (v,) = claims.judge(comps, [], data_mb=8, claims=small)
    assert v.verdict == "reproduced" and "reduced size" in v.reason
    # The diskless boot's handful of saved faults does not support a claim of 17000+.
    diskless = [c for c in comps if c.guest == "diskless"]
    for c in diskless:
        c.guest = "ide-swiotlb"
    (v,) = claims.judge(diskless, [], data_mb=8, claims={**rules,
                                                         "claim": [rules["claim"][1]]})
    assert v.verdict == "not reproduced" and "negligible" in v.reason


def test_run_stage_entries_from_real_samples(samples: list[BootSample]) -> None:
    from kpatchkit.claims.family import run_results
    from kpatchkit.records.claims import BootFamilyResult

    entries = run_results(BootFamilyResult(samples=samples))
    by = {(e["kernel"], e["test"]): e for e in entries}
    base = by[("base", "boot/seabios/thp-never/ide-swiotlb/1cpu-256M")]
    patched = by[("patched", "boot/seabios/thp-never/ide-swiotlb/1cpu-256M")]
    assert base["result"] == patched["result"] == "pass" and base["repeats"] == 2
    assert base["stats"]["pf_taken"] > patched["stats"]["pf_taken"]
    assert base["stats"]["retried_faults"] == pytest.approx(349, abs=5)
    assert set(base) >= {"kernel", "test", "result", "seconds", "stats", "splats"}


def test_plan_order_and_timeouts() -> None:
    from kpatchkit.claims.boot import BootConfig, make_plan, timeout_for

    plan = make_plan(BootConfig())
    # diskless first, SeaBIOS before OVMF (a crashing OVMF boot then loses least)
    assert plan[0].guest == "diskless"
    firmwares = [p.firmware for p in plan]
    assert firmwares.index("ovmf") > max(i for i, f in enumerate(firmwares) if f == "seabios")
    assert len(plan) == 1 + 2 * 2 * 2
    assert len({p.key() for p in plan}) == len(plan)
    assert timeout_for("ovmf", 8, 16384) > timeout_for("ovmf", 1, 256) > timeout_for(
        "seabios", 1, 256)


def test_ovmf_crashes_make_the_ovmf_claim_not_measured(samples: list[BootSample]) -> None:
    import json

    from kpatchkit.records.claims import InfraEvent

    data = json.loads((DATA / "debug61-ovmf-infra.json").read_text())
    infra = [InfraEvent.from_json(e) for e in data["infra"]]
    assert data["samples"] == [] and len(infra) == 8
    assert {e.kind for e in infra} == {"tcg-assertion"}
    verdicts = {v.id: v for v in claims.judge(stats.compare(samples), infra, data_mb=8)}
    ovmf = verdicts["ovmf-boot"]
    assert ovmf.verdict == "not measured" and ovmf.measured is None
    assert "8 test-VM launch(es) crashed" in ovmf.reason and "tcg_handle_interrupt" in ovmf.reason
    # The SeaBIOS verdict is unaffected by OVMF's crashes.
    assert verdicts["seabios-boot"].verdict == "partly"


def test_saving_grows_with_the_data_bounced(samples: list[BootSample]) -> None:
    big = []
    for kernel in ("base", "patched"):
        big += stats.parse_output(
            (DATA / f"nondebug61-seabios-512M-32MB-{kernel}.txt").read_text(), kernel)
    small_io = next(c for c in stats.compare(samples)
                    if c.guest == "ide-swiotlb" and c.thp == "never")
    big_io = next(c for c in stats.compare(big) if c.guest == "ide-swiotlb")
    assert big_io.faults_saved_per_boot is not None and small_io.faults_saved_per_boot
    # 4x the data read gives far more than 4x the saving: the first megabytes land in pages
    # the guest kernel already wrote during boot (recycled), later ones in fresh memory.
    assert big_io.faults_saved_per_boot.mean > 4 * small_io.faults_saved_per_boot.mean
    assert big_io.faults_saved_per_boot.mean == big_io.base_retried.mean  # type: ignore[union-attr]
    # Below 32 MB x 256 pages/MB: only pages read before written are saved.
    assert big_io.faults_saved_per_boot.mean < 32 * 256
    (v,) = [v for v in claims.judge(stats.compare(big), [], data_mb=32)
            if v.id == "seabios-boot"]
    assert v.verdict == "partly" and "corresponds to about" in v.reason
