"""Boot a kernel + initramfs in QEMU and watch it until it powers off, hangs or dies.

The console (ttyS0: kernel log) and the results channel (ttyS1: TAP from the guest's init) go to
two files. QEMU runs in its own session/process group; whatever happens (timeout, exception,
Ctrl-C) the whole group is killed before :func:`run_vm` returns, so no QEMU outlives a run.

Acceleration: KVM only when the host really offers nested virtualisation to this guest
(``/dev/kvm`` usable and the kvm_intel/kvm_amd ``nested`` parameter on); otherwise TCG with
``-cpu max``, which presents an AMD CPU with SVM and NPT.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kpatchkit.errors import InfraError
from kpatchkit.guest.initramfs import guest_config

_BEGIN = re.compile(r"^# kpatchkit-begin (\S+)", re.M)


@dataclass
class VmOutcome:
    """What happened to one VM."""

    console: Path
    results: Path
    returncode: int | None
    seconds: float
    boot_seconds: float | None  # until the guest init's first results line
    status: str  # "ok" (results complete), "timeout" (hung: killed), "no-boot", "died"
    hung_test: str | None = None  # the test running when the VM was killed
    command: list[str] | None = None


def host_vendor() -> str:
    """'amd' or 'intel' from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text(errors="replace")
    return "amd" if "AuthenticAMD" in text else "intel"


def detect_accel() -> str:
    """'kvm' if the host's KVM can run a guest that itself runs KVM guests, else 'tcg'."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    for module in ("kvm_intel", "kvm_amd"):
        param = Path(f"/sys/module/{module}/parameters/nested")
        with contextlib.suppress(OSError):
            if param.read_text().strip() in ("Y", "1"):
                return "kvm"
    return "tcg"


def vendor_fragment(accel: str) -> str:
    """The kconfig vendor fragment for the CPU the guest will see (data/guest.toml
    ``tcg_vendor`` under TCG, the host's under KVM)."""
    vendor = guest_config()["qemu"]["tcg_vendor"] if accel == "tcg" else host_vendor()
    return f"vendor-{vendor}"


def qemu_command(kernel: Path, initrd: Path, console: Path, results: Path, *, accel: str,
                 smp: int | None = None, memory: str | None = None,
                 append_extra: str = "", extra_args: Sequence[str] = ()) -> list[str]:
    """The QEMU argv (no display, two serial ports to files, no reboot, no network);
    ``extra_args`` (a control port, see ``dispatch``) go after the two serial files."""
    cfg = guest_config()["qemu"]
    binary = shutil.which(cfg["binary"])
    if not binary:
        raise InfraError(f"{cfg['binary']} not found; install Debian's qemu-system-x86")
    cpu = cfg["tcg_cpu"] if accel == "tcg" else cfg["kvm_cpu"]
    append = " ".join(x for x in (cfg["append"], append_extra) if x)
    return [binary, "-accel", accel, "-cpu", cpu, "-m", memory or cfg["memory"],
            "-smp", str(smp or cfg["smp"]), "-nodefaults", "-display", "none",
            "-no-reboot", "-monitor", "none",
            "-serial", f"file:{console}", "-serial", f"file:{results}", *extra_args,
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", append]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL QEMU if the thread that started it dies (even by
    SIGKILL, when no ``finally`` runs), so no QEMU outlives kpatchkit."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def run_vm(kernel: Path, initrd: Path, workdir: Path, *, accel: str,
           test_timeouts: dict[str, int], smp: int | None = None, memory: str | None = None,
           append_extra: str = "", extra_args: Sequence[str] = (),
           boot_timeout: float | None = None,
           slack: float | None = None, total_timeout: float | None = None,
           on_test: Callable[[str], None] | None = None) -> VmOutcome:
    """Run one VM to completion under a watchdog.

    The VM is killed (status ``timeout``) when no results line appears within ``boot_timeout``,
    when the test in progress overruns its guest-side timeout by ``slack`` (the guest enforces
    per-test timeouts itself, so overrunning means the guest hung), or after ``total_timeout``.
    """
    tcfg = guest_config()["timeouts"]
    boot_timeout = boot_timeout or tcfg["boot"]
    slack = slack if slack is not None else tcfg["slack"]
    workdir.mkdir(parents=True, exist_ok=True)
    console, results = workdir / "console.log", workdir / "results.log"
    for f in (console, results):
        f.write_text("")
    cmd = qemu_command(kernel, initrd, console, results, accel=accel, smp=smp, memory=memory,
                       append_extra=append_extra, extra_args=extra_args)
    start = time.monotonic()
    stderr = open(workdir / "qemu.stderr", "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                            start_new_session=True, preexec_fn=_die_with_parent)
    boot = None
    current, current_start, seen = None, start, 0
    status, hung = "died", None
    try:
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            text = results.read_text(errors="replace")
            if boot is None and "KPATCHKIT-RESULTS-BEGIN" in text:
                boot = now - start
            begun = _BEGIN.findall(text)
            if len(begun) > seen:
                seen = len(begun)
                current, current_start = begun[-1], now
                if on_test:
                    on_test(current)
            if boot is None and now - start > boot_timeout:
                status, hung = "no-boot", None
                break
            if current and now - current_start > test_timeouts.get(current, 600) + slack:
                status, hung = "timeout", current
                break
            if total_timeout and now - start > total_timeout:
                status, hung = "timeout", current
                break
    finally:
        _kill_group(proc)
        stderr.close()
    seconds = time.monotonic() - start
    text = results.read_text(errors="replace")
    if status == "died" and "KPATCHKIT-RESULTS-END" in text:
        status = "ok"
    elif status == "died" and boot is None and "KPATCHKIT-RESULTS-BEGIN" not in text:
        status = "no-boot"
    return VmOutcome(console=console, results=results, returncode=proc.returncode,
                     seconds=round(seconds, 1), boot_seconds=round(boot, 1) if boot else None,
                     status=status, hung_test=hung if status == "timeout" else current
                     if status == "died" else None, command=cmd)
