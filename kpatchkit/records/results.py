"""Records of ``kpatchkit run``: kernels built and booted, per-test results, kernel splats.

JSON contract (``kpatchkit run --json`` prints ``RunReport.to_json()``):
``accel`` "kvm"/"tcg"; ``kernels`` [{name "base"/"patched", commit, config_hash, build_seconds,
boot_seconds, outcome, result_key, reused_from {run, key, date} or null, guests [...],
...}]; ``results`` [{kernel, test, result
pass/fail/skip/error/timeout, seconds, stats, splats, metrics, phases, known, preexisting,
faults_per_cow_write (only when the test printed that metric)}].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpatchkit.records.base import Record

RESULTS = ("pass", "fail", "skip", "error", "timeout")


@dataclass
class Splat(Record):
    """One classified kernel splat from a console log."""

    kind: str  # lockdep_circular, suspicious_rcu, sleep_in_atomic, warning, bug, kasan, panic...
    title: str  # the header line
    location: str | None = None  # file:line printed by the kernel
    function: str | None = None  # the function at fault (header, RIP or first useful frame)
    test: str | None = None  # the test running when it happened (guest markers)
    time: float | None = None  # printk timestamp
    frames: list[str] = field(default_factory=list)
    text: str = ""
    count: int = 1  # identical splats (kind, location, function, test) folded into this one


@dataclass
class TestResult(Record):
    """One test on one kernel."""

    kernel: str  # "base" / "patched"
    test: str
    result: str  # one of RESULTS
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)  # KVM debugfs counters (peak while running)
    splats: list[Splat] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # '# kpatchkit-metric NAME=VALUE'
    phases: dict[str, dict] = field(default_factory=dict)  # '# kpatchkit-stat phase=NAME k=v'
    args: list[str] = field(default_factory=list)
    timeout: int | None = None  # the per-test timeout it ran under (seconds)
    exit_code: int | None = None
    known: str | None = None  # why a failure is a known limit (TCG), not the patch's fault
    preexisting: bool = False  # failed on base as well
    generated: bool = False  # a gen-tests scenario rather than an upstream selftest
    output: str = ""  # tail of the test's output
    faults_per_cow_write: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.faults_per_cow_write is None:
            data.pop("faults_per_cow_write")
        return data


@dataclass
class ReusedFrom(Record):
    """``KernelRun.reused_from`` read as a record: the earlier run whose results were taken."""

    run: str  # that run's id
    key: str  # the results-cache key both runs share
    date: str = ""  # ISO time of that run
    run_dir: str = ""


@dataclass
class AffectedTest(Record):
    """One test of a ``--tests auto``/``affected`` selection and why the patch's files pick it."""

    test: str
    why: list[str] = field(default_factory=list)


@dataclass
class Selection(Record):
    """``RunReport.selection`` read as a record (see its comment)."""

    mode: str  # auto | affected
    files: list[str] = field(default_factory=list)
    affected: list[AffectedTest] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)


@dataclass
class KernelRun(Record):
    """One kernel: how it was built and how its boot went."""

    name: str  # "base" / "patched"
    commit: str
    config_hash: str
    build_seconds: float
    build_cached: bool = False
    image: str = ""
    accel: str = "tcg"
    boot_seconds: float | None = None  # QEMU start to the guest's first results line
    seconds: float = 0.0  # whole VM runtime
    outcome: str = "ok"  # ok / no-boot / panic / hang / qemu-error
    detail: str = ""
    console_log: str = ""
    results_log: str = ""
    splats: list[Splat] = field(default_factory=list)  # every splat, attributed or not
    # The results cache (kpatchkit/run/reuse.py): the key of these results (image bytes x
    # initramfs and test binaries x QEMU options x test list); when they were not run here but
    # taken from an earlier run with the same key, where from: {"run": run id, "key": key,
    # "date": ISO time of that run, "run_dir": its directory}. None: they ran here.
    result_key: str = ""
    reused_from: dict[str, Any] | None = None
    # The guests this kernel's tests ran in (one unless sharded over free cores): [{"tests":
    # [names, in list order], "console_log", "results_log", "seconds", "boot_seconds",
    # "outcome", "detail", "qemu": its command line}]. ``console_log``/``results_log`` above
    # are the first guest's.
    guests: list[dict[str, Any]] = field(default_factory=list)

    def reuse(self) -> ReusedFrom | None:
        """Where these results were taken from (None: they ran here); a source that lacks a
        field it needs raises TypeError rather than reading as empty."""
        return ReusedFrom.from_json(self.reused_from) if self.reused_from else None


@dataclass
class RunReport(Record):
    """What ``kpatchkit run`` returns."""

    tree: str
    accel: str
    kernels: list[KernelRun] = field(default_factory=list)
    results: list[TestResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    # Issue 8's boot family (``--tests boot``): comparisons, samples, infra events; its claims
    # table (kpatchkit.records.claims.ClaimVerdict as JSON) is what review's report shows.
    boot: dict[str, Any] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    # ``--tests auto`` (kpatchkit/run/affected.py): {"mode": "auto"/"affected", "files": the
    # patch's files, "affected": [{"test", "why": [reasons]}], "rest": [names run after them
    # ("auto") or left out ("affected")], "ran": [names in run order]}. Empty: no selection.
    selection: dict[str, Any] = field(default_factory=dict)
    jobs: int = 1  # guests run at once (free cores)
    # Tests of the upstream list this accelerator's default run leaves out, with why
    # (``only_under`` in guest/data/upstream-<ver>.toml); {} when none.
    left_out: dict[str, str] = field(default_factory=dict)

    def test_selection(self) -> Selection | None:
        """Which tests a ``--tests auto``/``affected`` run picked and why (None: all ran)."""
        return Selection.from_json(self.selection) if self.selection else None
