"""Records of the claims check (``kpatchkit.claims``): nested-VM boots, their stats, verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field

from kpatchkit.records.base import Record


@dataclass
class BootSample(Record):
    """One L2 boot inside the test VM, as the in-guest driver reported it.

    ``stats`` are the per-VM KVM statistics (debugfs ``kvm/<pid>-<fd>/``, summed over vCPUs)
    read after the L2 guest powered off and before QEMU tore the VM down.
    """

    kernel: str  # "base" / "patched"
    firmware: str  # "seabios" / "ovmf"
    thp: str  # "always" / "never"
    guest: str  # "ide-swiotlb", "ide", "diskless"
    vcpus: int
    mem_mb: int
    rep: int
    status: str  # "ok", "timeout", "qemu-exited", "guest-failed"
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def retried(self) -> int | None:
        """Faults KVM took but neither fixed, emulated nor found spurious: retried ones."""
        s = self.stats
        if "pf_taken" not in s or "pf_fixed" not in s:
            return None
        return (s["pf_taken"] - s["pf_fixed"] - s.get("pf_emulate", 0)
                - s.get("pf_spurious", 0))


@dataclass
class Interval(Record):
    """A mean with its spread over repeats: min/max, sample standard deviation, n."""

    mean: float
    stdev: float
    low: float
    high: float
    n: int


@dataclass
class BootComparison(Record):
    """Base vs patched for one (firmware, THP, guest, vCPUs, memory) configuration."""

    firmware: str
    thp: str
    guest: str
    vcpus: int
    mem_mb: int
    base_pf_taken: Interval | None
    patched_pf_taken: Interval | None
    faults_saved_per_boot: Interval | None  # base mean - patched mean, spread combined
    base_retried: Interval | None
    patched_retried: Interval | None
    base_ok: int = 0
    patched_ok: int = 0
    failed: int = 0


@dataclass
class InfraEvent(Record):
    """An infrastructure failure during the boot family (e.g. the outer QEMU's TCG assertion)."""

    kernel: str
    kind: str  # "tcg-assertion", "outer-timeout", "outer-exit"
    detail: str
    attempt: int


@dataclass
class ClaimVerdict(Record):
    """One number the commit message states, the configuration we ran, what we measured."""

    id: str
    statement: str
    claimed: float
    claim_config: str
    our_config: str
    measured: float | None
    measured_detail: str
    verdict: str  # "reproduced", "partly", "not reproduced", "not measured"
    reason: str


@dataclass
class BootFamilyResult(Record):
    """What the ``boot`` test family returns to ``kpatchkit run``."""

    samples: list[BootSample] = field(default_factory=list)
    comparisons: list[BootComparison] = field(default_factory=list)
    claims: list[ClaimVerdict] = field(default_factory=list)
    infra: list[InfraEvent] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    seconds: float = 0.0
