"""Spreading one kernel's tests over several guests, one per free core, and merging them back.

TCG runs a 1-CPU guest on one host thread, so a 2-core machine runs two guests in the time of
one. Each guest boots the same image with the same initramfs; ``kpatchkit.only=I,J,...`` on its
kernel command line (1-based lines of ``/tests/list``, read by ``data/init.sh``) picks its tests.
Guests are balanced by expected duration (the same test's seconds on the base kernel, else the
last time it ran anywhere, else a default), and each keeps the list's order; the merged
results are in the original order.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from kpatchkit.cache import cache_dir, locked
from kpatchkit.guest.initramfs import GuestTest

DEFAULT_SECONDS = 15.0  # a test never seen before
ONLY_PARAM = "kpatchkit.only"
# The worst outcome of a kernel's guests is the kernel's (a panic anywhere is a panic).
_SEVERITY = ("panic", "hang", "no-boot", "died", "ok")


def free_cores(jobs: int | None = None) -> int:
    """Guests to run at once: ``jobs`` if given, else ``$KPATCHKIT_JOBS``, else the CPU count."""
    if jobs:
        return max(1, int(jobs))
    with contextlib.suppress(ValueError):
        if os.environ.get("KPATCHKIT_JOBS"):
            return max(1, int(os.environ["KPATCHKIT_JOBS"]))
    return max(1, os.cpu_count() or 1)


def guests_per_kernel(cores: int, kernels: int) -> list[int]:
    """How many guests each of ``kernels`` kernels gets out of ``cores`` (at least one each;
    two kernels on two cores: one guest each, as before sharding existed)."""
    if kernels <= 0:
        return []
    per, extra = divmod(max(cores, kernels), kernels)
    return [per + (1 if i < extra else 0) for i in range(kernels)]


def split(tests: Sequence[GuestTest], guests: int,
          seconds: Mapping[str, float] | None = None) -> list[list[int]]:
    """Indices of ``tests`` per guest: longest first onto the least loaded guest, then each
    guest's indices sorted (list order). No empty guest; at most ``len(tests)`` guests."""
    guests = max(1, min(guests, len(tests)))
    if guests == 1:
        return [list(range(len(tests)))]
    seconds = seconds or {}

    def cost(i: int) -> float:
        t = tests[i]
        return float(seconds.get(t.name, min(DEFAULT_SECONDS, float(t.timeout))))

    loads = [0.0] * guests
    bins: list[list[int]] = [[] for _ in range(guests)]
    for i in sorted(range(len(tests)), key=lambda i: (-cost(i), i)):
        g = min(range(guests), key=lambda g: (loads[g], g))
        bins[g].append(i)
        loads[g] += cost(i)
    return [sorted(b) for b in bins if b]


def only_param(indices: Sequence[int], total: int) -> str:
    """The kernel command line word that makes the guest run these list indices (0-based in,
    1-based out); '' for the whole list."""
    if len(indices) == total and list(indices) == list(range(total)):
        return ""
    return f"{ONLY_PARAM}=" + ",".join(str(i + 1) for i in indices)


def worst(outcomes: Sequence[str]) -> str:
    """The kernel's outcome from its guests' outcomes."""
    for o in _SEVERITY:
        if o in outcomes:
            return o
    return outcomes[0] if outcomes else "ok"


# ------------------------------------------------------------------ durations of earlier runs

def _durations_path() -> Path:
    return cache_dir("runs") / "durations.json"


def _duration_key(t: GuestTest) -> str:
    return "|".join([t.name, t.program, *t.args])


def known_durations(tests: Sequence[GuestTest]) -> dict[str, float]:
    """Seconds each test took the last time it ran (any kernel), by test name."""
    try:
        data = json.loads(_durations_path().read_text())
    except (OSError, ValueError):
        return {}
    return {t.name: float(data[_duration_key(t)]) for t in tests if _duration_key(t) in data}


def record_durations(tests: Sequence[GuestTest], seconds: Mapping[str, float]) -> None:
    """Remember how long these tests took (a test that did not finish is left out)."""
    path = _durations_path()
    with locked(path):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        for t in tests:
            if t.name in seconds:
                data[_duration_key(t)] = round(float(seconds[t.name]), 2)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
