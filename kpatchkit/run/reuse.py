"""The run results cache: one kernel's results, stored under a hash of exactly what made them.

A kernel's results are a function of (the image's bytes, the initramfs: init, busybox, test
list with args and timeouts, every test binary's bytes, the QEMU command line without its file
paths, QEMU's version). A review of a second series on the same tree has the same base kernel
and the same tests: its base results are this cache's entry, not another 3-4 minute boot.

Layout: ``cache/results/<key>/result.json`` (the KernelRun and its TestResults as JSON, plus
``meta``: key inputs, run id, date) and the guests' logs beside it (``g<N>-console.log``,
``g<N>-results.log``), copied into the run directory of every run that reuses them.

Only results that would come out the same again are stored: a kernel that hung, panicked, did
not boot or died, a test that timed out or errored (the VM died under it), or failed without a
known reason (flaky-looking) keeps its results out of the cache.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kpatchkit.cache import cache_dir, content_hash, locked
from kpatchkit.cache import file_digest as file_digest  # re-exported: the key's image part
from kpatchkit.guest.initramfs import GuestTest, render_list
from kpatchkit.records.results import KernelRun, TestResult

VERSION = "1"  # bump when what a stored entry means changes
_PATH_ARGS = {"-kernel": "KERNEL", "-initrd": "INITRD"}


def enabled() -> bool:
    """``$KPATCHKIT_RUN_REUSE=0`` turns reuse off (every kernel boots)."""
    return os.environ.get("KPATCHKIT_RUN_REUSE", "1").strip().lower() not in ("0", "no", "off",
                                                                           "false")


@functools.cache
def qemu_version(binary: str) -> str:
    """``qemu-system-x86_64 --version``'s first line (TCG's behaviour is QEMU's)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout.splitlines() or ["unknown"])[0]


def options_argv(argv: list[str]) -> list[str]:
    """The QEMU argv without what names files (kernel, initrd, log files: they differ from run
    to run and are keyed by content elsewhere), with QEMU's version in place of its path."""
    out: list[str] = [qemu_version(argv[0])]
    skip = None
    for arg in argv[1:]:
        if skip:
            out.append(skip)
            skip = None
        elif arg in _PATH_ARGS:
            out.append(arg)
            skip = _PATH_ARGS[arg]
        elif arg.startswith("file:"):
            out.append("file:LOG")
        else:
            out.append(arg)
    return out


def list_text(tests: list[GuestTest]) -> str:
    """The test list as the guest gets it (name, timeout, program and args), sorted by name:
    each test runs in its own process one after the other, so the order (``--tests auto``
    puts some first) and the split over guests do not change a test's result."""
    return render_list(sorted(tests, key=lambda t: t.name))


def result_key(image_digest: str, files_key: str, qemu_argv: list[str],
               tests: list[GuestTest]) -> str:
    """The cache key of one kernel's results: image bytes x initramfs files (init, busybox,
    test binaries: ``initramfs.files_key``) x QEMU options x test list (with args and
    timeouts). ``qemu_argv`` is :func:`options_argv` of the command line the guests run under
    (without any shard selection)."""
    return content_hash(VERSION, image_digest, files_key, json.dumps(qemu_argv),
                        list_text(tests), length=24)


def why_not_stored(run: KernelRun, results: list[TestResult]) -> str:
    """'' when these results may be stored and reused, else why not."""
    if run.outcome != "ok":
        return f"the kernel's run ended in {run.outcome}"
    for r in results:
        if r.result in ("timeout", "error"):
            return f"{r.test}: {r.result}"
        if r.result == "fail" and not r.known:
            return f"{r.test}: failed without a known reason (flaky-looking)"
        if r.known and r.known.startswith("inconclusive"):
            return f"{r.test}: inconclusive"
    return ""


def _entry(key: str) -> Path:
    return cache_dir("results") / key


def store(key: str, run: KernelRun, results: list[TestResult], *, run_id: str, run_dir: Path,
          inputs: dict[str, Any]) -> bool:
    """Store a kernel's results under ``key`` (with its guests' logs); False if not storable."""
    if why_not_stored(run, results):
        return False
    dest = _entry(key)
    with locked(dest):
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        guests = []
        for i, g in enumerate(run.guests or [{"console_log": run.console_log,
                                              "results_log": run.results_log}]):
            g = dict(g)
            for field, name in (("console_log", f"g{i}-console.log"),
                                ("results_log", f"g{i}-results.log")):
                src = Path(g.get(field) or "")
                if src.is_file():
                    shutil.copy2(src, tmp / name)
                g[field] = name
            guests.append(g)
        data = {
            "meta": {"key": key, "version": VERSION, "run": run_id, "run_dir": str(run_dir),
                     "date": datetime.now(UTC).replace(microsecond=0).isoformat()
                     .replace("+00:00", "Z"), "inputs": inputs},
            "kernel": {**run.to_json(), "guests": guests},
            "results": [r.to_json() for r in results],
        }
        (tmp / "result.json").write_text(json.dumps(data, indent=1))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return True


def load(key: str, name: str, dest_dir: Path) -> tuple[KernelRun, list[TestResult]] | None:
    """The stored results for ``key`` as kernel ``name``, logs copied into ``dest_dir``;
    ``reused_from`` says where they came from. None when there is no (valid) entry."""
    entry = _entry(key)
    path = entry / "result.json"
    if not path.is_file():
        return None
    with locked(entry):
        try:
            data = json.loads(path.read_text())
            meta = data["meta"]
            if meta.get("key") != key or meta.get("version") != VERSION:
                return None
            run = KernelRun.from_json(data["kernel"])
            results = [TestResult.from_json(r) for r in data["results"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        dest_dir.mkdir(parents=True, exist_ok=True)
        guests = []
        for g in run.guests:
            g = dict(g)
            for field in ("console_log", "results_log"):
                src = entry / str(g.get(field) or "")
                if src.is_file() and g.get(field):
                    shutil.copy2(src, dest_dir / src.name)
                    g[field] = str(dest_dir / src.name)
            guests.append(g)
    run.guests = guests
    run.name = name
    if guests:
        run.console_log = guests[0].get("console_log", "")
        run.results_log = guests[0].get("results_log", "")
    run.reused_from = {"run": meta.get("run", ""), "key": key, "date": meta.get("date", ""),
                       "run_dir": meta.get("run_dir", "")}
    run.result_key = key
    for r in results:
        r.kernel = name
        r.preexisting = False
    return run, results


def run_id_of(run_dir: Path) -> str:
    """A run's id: the review's (``reports/<id>/.kpatchkit/run``) or the run directory's name."""
    run_dir = Path(run_dir)
    if run_dir.name == "run" and run_dir.parent.name == ".kpatchkit":
        return run_dir.parent.parent.name
    return run_dir.name
