"""A minimal launcher for the test VM (L1) that runs the boot plan, with crash retries.

Used when the run stage's runner is not available. The test VM is TCG ``-cpu max`` (AMD with
svm+npt, so ``kvm_amd`` runs the L2 VM); its initramfs is a small per-launch archive (busybox,
``/init``, the plan) followed by the cached payload overlay. Results come back on a second
serial port, one ``KPK-BOOT`` line per finished L2 boot, so a crash of the outer QEMU loses only
the boot in flight: the remaining plan lines are relaunched, a bounded number of times.

OVMF under nested TCG makes QEMU 7.2 abort with ``tcg_handle_interrupt: assertion failed``
(DESIGN.md); that is recorded as an infrastructure event, never as a result.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.claims.l2payload import BUSYBOX, DATA, write_cpio
from kpatchkit.console import info
from kpatchkit.records.claims import InfraEvent

TCG_ASSERT = "tcg_handle_interrupt: assertion failed"


@dataclass
class PlanItem:
    """One L2 boot: firmware, THP mode, vCPUs, memory (MB), guest kind, repeat, timeout (s)."""

    firmware: str
    thp: str
    vcpus: int
    mem_mb: int
    guest: str
    rep: int
    timeout: int

    def line(self) -> str:
        """The plan line ``boot.sh`` reads."""
        return (f"{self.firmware} {self.thp} {self.vcpus} {self.mem_mb} {self.guest} "
                f"{self.rep} {self.timeout}")

    def key(self) -> tuple:
        """Identity used to match a result line to its plan item."""
        return (self.firmware, self.thp, self.vcpus, self.mem_mb, self.guest, self.rep)


@dataclass
class LaunchOutcome:
    """All results text gathered over the attempts, and the infrastructure events."""

    results: str = ""
    console_tail: str = ""
    infra: list[InfraEvent] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0


def _small_initrd(workdir: Path, plan: list[PlanItem]) -> Path:
    root = workdir / "root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "claims"):
        (root / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in ("sh", "mount", "mountpoint", "cat", "cut", "grep", "tail", "tr", "sed", "awk",
                   "ls", "head", "sleep", "kill", "mkfifo", "rm", "mkdir", "echo", "sync",
                   "poweroff", "uname"):
        os.symlink("busybox", root / "bin" / applet)
    shutil.copy2(DATA / "l1-init.sh", root / "init")
    (root / "init").chmod(0o755)
    (root / "claims/plan").write_text("".join(p.line() + "\n" for p in plan))
    return write_cpio(root, workdir / "small.cpio.gz")


def _run_once(kernel: Path, overlay: Path, plan: list[PlanItem], workdir: Path, *, mem_mb: int,
              smp: int, timeout: float) -> tuple[int | None, str, str, str]:
    """One launch; returns (exit code or None on timeout, results, console, qemu stderr)."""
    small = _small_initrd(workdir, plan)
    initrd = workdir / "initrd.cpio.gz"
    with open(initrd, "wb") as out:
        for part in (small, overlay):
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out)
    console, results, err = (workdir / "console.log", workdir / "results.txt",
                             workdir / "qemu.err")
    for f in (console, results):
        f.unlink(missing_ok=True)
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", str(mem_mb),
           "-smp", str(smp), "-nodefaults", "-display", "none", "-no-reboot", "-kernel",
           str(kernel), "-initrd", str(initrd), "-append",
           "console=ttyS0 panic=-1 tsc=reliable", "-serial", f"file:{console}",
           "-serial", f"file:{results}"]
    with open(err, "w") as errfh:
        proc = subprocess.Popen(cmd, stdout=errfh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            # The whole process group, always: never leave a QEMU behind.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
    return rc, read(results), read(console), read(err)


def launch(kernel: Path, overlay: Path, plan: list[PlanItem], workdir: Path, *, kernel_name: str,
           mem_mb: int, smp: int = 1, retries: int = 3, boot_overhead: int = 120,
           max_item_crashes: int = 2) -> LaunchOutcome:
    """Run ``plan`` in test VMs booted from ``kernel``, relaunching what a crash left undone."""
    from kpatchkit.claims.stats import parse_output

    workdir.mkdir(parents=True, exist_ok=True)
    outcome = LaunchOutcome()
    todo = list(plan)
    crashes: dict[tuple, int] = {}
    t0 = time.monotonic()
    for attempt in range(1, retries + 2):
        if not todo:
            break
        outcome.attempts = attempt
        budget = boot_overhead + sum(p.timeout + 20 for p in todo)
        info(f"[boot] {kernel_name}: test VM attempt {attempt}, {len(todo)} L2 boot(s), "
             f"timeout {budget}s")
        rc, results, console, err = _run_once(kernel, overlay, todo, workdir, mem_mb=mem_mb,
                                              smp=smp, timeout=budget)
        outcome.results += results
        outcome.console_tail = console[-4000:]
        done = {(s.firmware, s.thp, s.vcpus, s.mem_mb, s.guest, s.rep)
                for s in parse_output(results, kernel_name)}
        todo = [p for p in todo if p.key() not in done]
        if "KPK-BOOT-END" in results and not todo:
            break
        if TCG_ASSERT in err:
            kind, detail = "tcg-assertion", err.strip().splitlines()[-1][:300]
        elif rc is None:
            kind, detail = "outer-timeout", f"test VM still running after {budget}s"
        elif "KPK-BOOT-INFRA" in results:
            kind, detail = "no-kvm", results.split("KPK-BOOT-INFRA", 1)[1].splitlines()[0]
        else:
            tail = (err.strip() or console.strip()[-300:]).splitlines()[-1:] or ["?"]
            kind, detail = "outer-exit", f"exit {rc}: {tail[0][:300]}"
        in_flight = todo[0].line() if todo else "-"
        if todo:
            # The plan runs in order, so the first undone boot was in flight; one that keeps
            # crashing the test VM is given up after two tries so the rest still runs.
            crashes[todo[0].key()] = crashes.get(todo[0].key(), 0) + 1
            if crashes[todo[0].key()] >= max_item_crashes:
                todo.pop(0)
        outcome.infra.append(InfraEvent(kernel=kernel_name, kind=kind,
                                        detail=f"{detail} (L2 boot in flight: {in_flight})",
                                        attempt=attempt))
        info(f"[boot] {kernel_name}: infrastructure: {kind}: {detail}")
        if kind == "no-kvm":
            break
    outcome.seconds = round(time.monotonic() - t0, 1)
    return outcome
