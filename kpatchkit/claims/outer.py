"""Launch the test VM (L1) that runs the boot plan, with bounded retries after crashes.

Reuses the guest service's pieces (:mod:`kpatchkit.guest`, shared with the run stage): its
initramfs (busybox + its init, which runs the one "test" here: a driver holding the plan) with
the cached payload overlay appended, and its QEMU runner (TCG ``-cpu max``: AMD with svm+npt, so
``kvm_amd`` runs the L2 VM; watchdog; process-group kill). Results come back on the second
serial port, one ``KPK-BOOT`` line per finished L2 boot, so a crash of the outer QEMU loses only
the boot in flight: the remaining plan lines are relaunched, a bounded number of times.

OVMF under nested TCG makes QEMU 7.2 abort with ``tcg_handle_interrupt: assertion failed``
(DESIGN.md); that is recorded as an infrastructure event, never as a result.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.cache import cache_dir, content_hash, locked
from kpatchkit.claims.stats import parse_output
from kpatchkit.console import info
from kpatchkit.guest import qemu
from kpatchkit.guest.initramfs import GuestTest, build_initramfs
from kpatchkit.records.claims import InfraEvent

TCG_ASSERT = "tcg_handle_interrupt: assertion failed"
BOOT_TEST = "boot-family"


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


def _driver_script(plan: list[PlanItem]) -> str:
    """The guest test program: the plan inline, results straight to the results channel.

    Lines go to ttyS1 as each L2 boot finishes (not at the end of the test), so a crash of the
    test VM loses only the boot in flight.
    """
    lines = "".join(p.line() + "\n" for p in plan)
    return ("#!/bin/sh\n# kpatchkit boot family: the plan for this launch\n"
            f"cat > /tmp/boot-plan <<'PLAN'\n{lines}PLAN\n"
            "exec /bin/sh /claims/boot.sh /tmp/boot-plan /dev/ttyS1\n")


def _initrd(workdir: Path, overlay: Path, plan: list[PlanItem], timeout: int) -> Path:
    """The guest initramfs (busybox, its init, the driver as the one test) + overlay."""
    driver = workdir / "boot-driver"
    driver.write_text(_driver_script(plan))
    driver.chmod(0o755)
    base = build_initramfs([GuestTest(name=BOOT_TEST, program="boot-driver", timeout=timeout)],
                           {"boot-driver": driver}, stats=[])
    key = content_hash(base.name, overlay.parent.name)
    dest = cache_dir("claims", "initrd") / f"{key}.cpio.gz"
    with locked(dest):
        if not dest.exists():
            part = dest.with_suffix(".part")
            with open(part, "wb") as out:
                # The kernel unpacks concatenated gzipped cpio archives one after the other.
                for piece in (base, overlay):
                    with open(piece, "rb") as fh:
                        shutil.copyfileobj(fh, out)
            part.rename(dest)
    return dest


def _run_once(kernel: Path, overlay: Path, plan: list[PlanItem], workdir: Path, *, mem_mb: int,
              smp: int, timeout: float) -> tuple[int | None, str, str, str]:
    """One launch through the guest service's QEMU runner; (exit code or None if killed,
    results, console, QEMU's stderr)."""
    initrd = _initrd(workdir, overlay, plan, int(timeout))
    vm = qemu.run_vm(kernel, initrd, workdir / "vm", accel="tcg",
                     test_timeouts={BOOT_TEST: int(timeout)}, smp=smp, memory=f"{mem_mb}M",
                     slack=30, total_timeout=timeout)
    read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
    rc = None if vm.status in ("timeout", "no-boot") else vm.returncode
    return rc, read(vm.results), read(vm.console), read(workdir / "vm" / "qemu.stderr")


def launch(kernel: Path, overlay: Path, plan: list[PlanItem], workdir: Path, *, kernel_name: str,
           mem_mb: int, smp: int = 1, retries: int = 3, boot_overhead: int = 120,
           max_item_crashes: int = 2, per_launch: int = 1) -> LaunchOutcome:
    """Run ``plan`` in test VMs booted from ``kernel``, ``per_launch`` L2 boots per test VM.

    One L2 boot per test VM (the default) costs a few seconds of test-VM boot each, and buys a
    host-side timeout per L2 boot: a test VM whose nested guest stalls it (seen on an idle
    host: the test VM's own timers stopped firing, so the in-guest timeout never came) is
    killed and its boot retried, like one that crashed. A boot that fails its test VM
    ``max_item_crashes`` times is given up; ``retries`` bounds the extra launches overall.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    outcome = LaunchOutcome()
    todo = list(plan)
    crashes: dict[tuple, int] = {}
    failures = 0
    t0 = time.monotonic()
    while todo and failures <= retries:
        outcome.attempts += 1
        attempt = outcome.attempts
        chunk = todo[:per_launch]
        budget = boot_overhead + sum(p.timeout + 20 for p in chunk)
        info(f"[boot] {kernel_name}: test VM {attempt}: {len(chunk)} L2 boot(s) "
             f"({chunk[0].firmware}, THP {chunk[0].thp}, {chunk[0].guest}, rep {chunk[0].rep}"
             f"{', ...' if len(chunk) > 1 else ''}), timeout {budget}s")
        rc, results, console, err = _run_once(kernel, overlay, chunk, workdir, mem_mb=mem_mb,
                                              smp=smp, timeout=budget)
        outcome.results += results
        outcome.console_tail = console[-4000:]
        done = {(s.firmware, s.thp, s.vcpus, s.mem_mb, s.guest, s.rep)
                for s in parse_output(results, kernel_name)}
        todo = [p for p in todo if p.key() not in done]
        left = [p for p in chunk if p.key() not in done]
        if "KPK-BOOT-END" in results and not left:
            continue
        failures += 1
        if TCG_ASSERT in err:
            kind, detail = "tcg-assertion", err.strip().splitlines()[-1][:300]
        elif rc is None:
            kind, detail = "outer-timeout", f"test VM killed after {budget}s without finishing"
        elif "KPK-BOOT-INFRA" in results:
            kind, detail = "no-kvm", results.split("KPK-BOOT-INFRA", 1)[1].splitlines()[0]
        else:
            tail = (err.strip() or console.strip()[-300:]).splitlines()[-1:] or ["?"]
            kind, detail = "outer-exit", f"exit {rc}: {tail[0][:300]}"
        in_flight = left[0] if left else None
        outcome.infra.append(InfraEvent(
            kernel=kernel_name, kind=kind, attempt=attempt,
            detail=f"{detail} (L2 boot in flight: {in_flight.line() if in_flight else '-'})"))
        info(f"[boot] {kernel_name}: infrastructure: {kind}: {detail}")
        if kind == "no-kvm":
            break
        if in_flight is None:
            continue
        # Boots run in order, so the first undone one was in flight. One that keeps failing
        # its test VM is given up so the rest still runs; when the failure is QEMU's TCG
        # assertion, so are the other boots with the same firmware (measured: OVMF hit it in
        # every launch, SeaBIOS never).
        crashes[in_flight.key()] = crashes.get(in_flight.key(), 0) + 1
        if crashes[in_flight.key()] >= max_item_crashes:
            todo.remove(in_flight)
            if kind == "tcg-assertion":
                same = [p for p in todo if p.firmware == in_flight.firmware]
                todo = [p for p in todo if p.firmware != in_flight.firmware]
                if same:
                    outcome.infra.append(InfraEvent(
                        kernel=kernel_name, kind="skipped", attempt=attempt,
                        detail=f"{len(same)} more {in_flight.firmware} boot(s) not tried "
                               f"after {max_item_crashes} test-VM crashes ({TCG_ASSERT})"))
    if todo:
        outcome.infra.append(InfraEvent(
            kernel=kernel_name, kind="skipped", attempt=outcome.attempts,
            detail=f"{len(todo)} boot(s) not tried: {retries} test-VM retries used up "
                   f"({', '.join(sorted({p.firmware for p in todo}))})"))
    outcome.seconds = round(time.monotonic() - t0, 1)
    return outcome
