"""The "boot" scenario family: nested-VM boots on the base and the patched kernel.

Inside the test VM (TCG ``-cpu max``: AMD svm+npt, so ``kvm_amd`` runs L2 with TDP), the host's
own QEMU boots a small L2 guest with ``-accel kvm`` under SeaBIOS and OVMF; the L2 guest's root
is an ext2 disk on IDE and its kernel bounces every DMA through swiotlb (``swiotlb=force``), as
the author's guest did. The per-VM KVM statistics are read after the guest powered off and
before QEMU tears the VM down (``data/boot.sh``). Each configuration is repeated, with THP
``never`` and ``always`` in the test VM; :mod:`kpatchkit.claims.stats` turns the samples into
faults saved per boot with an interval, and :mod:`kpatchkit.claims.claims` into verdicts.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.cache import cache_dir, content_hash
from kpatchkit.claims import claims as claims_mod
from kpatchkit.claims import stats
from kpatchkit.claims.l2payload import DEFAULT_DATA_MB, build_payload
from kpatchkit.claims.outer import LaunchOutcome, PlanItem, launch
from kpatchkit.console import info
from kpatchkit.records.claims import BootComparison, BootFamilyResult

# Seconds an L2 boot may take under nested TCG (DESIGN.md: SeaBIOS + kernel 13-18 s, OVMF
# 18-41 s), per GB of L2 memory and vCPU beyond the first, with room for a loaded machine.
BASE_TIMEOUT = {"seabios": 240, "ovmf": 420}
PER_GB = 30
PER_VCPU = 20


@dataclass
class BootConfig:
    """Sizes and repeats of one boot-family run (defaults: the CI-sized run)."""

    firmwares: tuple[str, ...] = ("seabios", "ovmf")
    thp: tuple[str, ...] = ("never", "always")
    guests: tuple[str, ...] = ("ide-swiotlb",)
    vcpus: int = 1
    mem_mb: int = 256
    repeats: int = 2
    data_mb: int = DEFAULT_DATA_MB
    # Extra comparison boots: a diskless L2 (no IDE, no swiotlb), SeaBIOS, THP never.
    diskless_repeats: int = 1
    l1_smp: int = 1
    l1_mem_mb: int | None = None  # default: L2 memory + the payload + margin
    retries: int = 4  # test-VM failures (crash, stall) tolerated per kernel
    parallel: bool = True  # base and patched test VMs at the same time
    extra: dict = field(default_factory=dict)

    def l1_memory(self) -> int:
        """Test VM memory: the L2's RAM, the unpacked payload (~110 MB twice) and headroom."""
        return self.l1_mem_mb or max(1024, self.mem_mb + 1024)


def timeout_for(firmware: str, vcpus: int, mem_mb: int) -> int:
    """Per-L2-boot timeout in seconds."""
    return (BASE_TIMEOUT[firmware] + PER_GB * (mem_mb // 1024)
            + PER_VCPU * max(0, vcpus - 1))


def make_plan(cfg: BootConfig) -> list[PlanItem]:
    """The L2 boots, SeaBIOS before OVMF (an OVMF crash of the test VM then loses less)."""
    order = sorted(cfg.firmwares, key=lambda f: f != "seabios")
    plan = []
    for fw in order:
        for guest in cfg.guests:
            for thp in cfg.thp:
                for rep in range(1, cfg.repeats + 1):
                    plan.append(PlanItem(fw, thp, cfg.vcpus, cfg.mem_mb, guest, rep,
                                         timeout_for(fw, cfg.vcpus, cfg.mem_mb)))
    if "seabios" in cfg.firmwares:
        for rep in range(1, cfg.diskless_repeats + 1):
            plan.insert(rep - 1, PlanItem("seabios", "never", cfg.vcpus, cfg.mem_mb, "diskless",
                                          rep, timeout_for("seabios", cfg.vcpus, cfg.mem_mb)))
    return plan


def run_boot_family(kernels: dict[str, Path], l2_kernel: Path,
                    cfg: BootConfig | None = None) -> BootFamilyResult:
    """Run the plan on each test-VM kernel (``{"base": bzImage, "patched": bzImage}``)."""
    cfg = cfg or BootConfig()
    t0 = time.monotonic()
    payload = build_payload(l2_kernel, cfg.data_mb)
    info(f"[boot] payload {payload.overlay} ({payload.size_bytes >> 20} MB, "
         f"{len(payload.files)} files)")
    plan = make_plan(cfg)
    result = BootFamilyResult(config={
        "firmwares": list(cfg.firmwares), "thp": list(cfg.thp), "guests": list(cfg.guests),
        "vcpus": cfg.vcpus, "mem_mb": cfg.mem_mb, "repeats": cfg.repeats,
        "data_mb": cfg.data_mb, "diskless_repeats": cfg.diskless_repeats,
        "l1_mem_mb": cfg.l1_memory(), "l1_smp": cfg.l1_smp, "payload_mb":
        round(payload.size_bytes / 2**20, 1), "l2_kernel": str(l2_kernel),
        "l2_cmdline": "console=ttyS0 panic=-1 nokaslr quiet root=/dev/sda ro rootfstype=ext2 "
                      "init=/init swiotlb=4096,force", "l2_cpu": "qemu64"})
    def one(name: str, image: Path) -> tuple[str, LaunchOutcome, Path]:
        work = cache_dir("claims", "runs", content_hash(str(image), name, str(time.time())))
        return name, launch(image, payload.overlay, plan, work, kernel_name=name,
                            mem_mb=cfg.l1_memory(), smp=cfg.l1_smp, retries=cfg.retries), work

    # Base and patched side by side: one TCG test VM per core.
    workers = len(kernels) if cfg.parallel else 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(lambda kv: one(*kv), kernels.items()))
    for name, outcome, work in done:
        samples = stats.parse_output(outcome.results, name)
        result.samples.extend(samples)
        result.infra.extend(outcome.infra)
        ok = sum(s.status == "ok" for s in samples)
        info(f"[boot] {name}: {ok}/{len(plan)} L2 boots ok in {outcome.seconds}s "
             f"({outcome.attempts} test-VM launch(es)); log {work}")
    result.comparisons = stats.compare(result.samples)
    # A planned configuration with no sample at all (e.g. every OVMF boot lost to the outer
    # QEMU's crash) still gets its row, empty, so the report shows what was not measured.
    seen = {(c.firmware, c.thp, c.guest, c.vcpus, c.mem_mb) for c in result.comparisons}
    for p in plan:
        key = (p.firmware, p.thp, p.guest, p.vcpus, p.mem_mb)
        if key not in seen:
            seen.add(key)
            result.comparisons.append(BootComparison(
                firmware=p.firmware, thp=p.thp, guest=p.guest, vcpus=p.vcpus, mem_mb=p.mem_mb,
                base_pf_taken=None, patched_pf_taken=None, faults_saved_per_boot=None,
                base_retried=None, patched_retried=None,
                failed=sum(1 for q in plan if (q.firmware, q.thp, q.guest, q.vcpus,
                                               q.mem_mb) == key) * len(kernels)))
    result.claims = claims_mod.judge(result.comparisons, result.infra, cfg.data_mb)
    result.seconds = round(time.monotonic() - t0, 1)
    return result
