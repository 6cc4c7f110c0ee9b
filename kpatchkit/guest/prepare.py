"""What a guest boots, prepared once for a local run and a LAVA job alike: the kernels'
fragments and the guest's tests, binaries and initramfs."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kpatchkit.guest import qemu
from kpatchkit.guest.initramfs import GuestTest, build_initramfs
from kpatchkit.kernel import kconfig, selftests


@dataclass
class KernelSpec:
    """A kernel to build and boot: ``name`` ('base'/'patched') at ``commit`` of ``repo``."""

    name: str
    repo: Path
    commit: str


def timeout_scale() -> float:
    """``$KPATCHKIT_TIMEOUT_SCALE`` (default 1.0)."""
    try:
        return max(0.1, float(os.environ.get("KPATCHKIT_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


def kernel_fragments(accel: str, debug: bool, kasan: bool = False,
                     guest_options: Sequence[str] = ()) -> list[str | Path]:
    """The fragments of the guests' kernels, plus one for ``guest_options`` (kconfig names
    the tests need, e.g. gen-tests' ``kconfig``) only where the shipped ones lack them."""
    frags: list[str | Path] = ["kvm-base", qemu.vendor_fragment(accel), "selftests"]
    if debug:
        frags.append("debug")
    if kasan:
        frags.append("kasan")
    if extra := kconfig.fragment_for_options(guest_options, frags):
        frags.append(extra)
    return frags


def prepare_guest(kernel: KernelSpec, tests: list[GuestTest],
                  extra_sources: dict[str, Path] | None, progress: Callable[[str], None],
                  label: str
                  ) -> tuple[list[GuestTest], list[GuestTest], dict[str, Path], Path]:
    """(tests the tree has, with timeouts scaled; those it lacks; the test binaries by name;
    the initramfs holding them).

    The selftests are built from ``kernel``'s tree and the generated tests from their sources;
    the local run and the LAVA jobs boot the same initramfs.
    """
    extras = dict(extra_sources or {})
    have = selftests.tree_programs(kernel.repo, kernel.commit)
    absent = [t for t in tests if t.program not in extras and t.program not in have]
    tests = [t for t in tests if t not in absent]
    for t in absent:
        progress(f"[{label}] {t.name}: no such selftest in this tree; reported as skip")
    programs = sorted({t.program for t in tests} - set(extras))
    progress(f"[{label}] building {len(programs)} selftests + {len(extras)} generated tests")
    binaries = selftests.build_selftests(kernel.repo, kernel.commit, programs, extras)
    # A shared, loaded machine makes TCG slower: $KPATCHKIT_TIMEOUT_SCALE stretches every
    # per-test timeout (guest side, and so the host's hang watchdog too).
    scale = timeout_scale()
    if scale != 1.0:
        tests = [dataclasses.replace(t, timeout=max(1, round(t.timeout * scale))) for t in tests]
    return tests, absent, binaries, build_initramfs(tests, binaries)
