"""The run library: build kernels, build the tests, boot each kernel, collect and compare.

``run_suite(tree, kernels, tests, extra_sources=...) -> RunReport`` is what ``kpatchkit run``
and ``kpatchkit.run.run_kernels`` call. It never imports another stage:
the CLI layer hands it the patched commit and the generated test sources. The guest itself
(tests, initramfs, QEMU, reading its logs, comparing kernels) is :mod:`kpatchkit.guest`'s; what
is the local run's is here: building the kernels, the results cache, guests at once.
"""

from __future__ import annotations

import concurrent.futures
import copy
import shlex
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kpatchkit.cache import cache_dir
from kpatchkit.console import info
from kpatchkit.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INFRA, KpatchkitError
from kpatchkit.guest import collect, qemu, shard
from kpatchkit.guest.compare import compare_kernels, subject_kernel
from kpatchkit.guest.dispatch import QUEUE_PARAM, QueueServer, TestQueue
from kpatchkit.guest.initramfs import GuestTest, files_key, guest_config
from kpatchkit.guest.prepare import KernelSpec, kernel_fragments, prepare_guest
from kpatchkit.guest.shard import free_cores
from kpatchkit.kernel import kbuild
from kpatchkit.records.results import KernelRun, RunReport, TestResult
from kpatchkit.run import reuse


def run_suite(tree: str, kernels: Sequence[KernelSpec], tests: list[GuestTest], *,
                extra_sources: dict[str, Path] | None = None, accel: str | None = None,
                debug: bool = True, kasan: bool = False, parallel: bool = True,
                smp: int | None = None, known: dict[tuple[str, str], str] | None = None,
                append_extra: str = "", vm_timeout: float | None = None,
                work_dir: Path | None = None, jobs: int | None = None,
                guest_options: Sequence[str] = (),
                progress: Callable[[str], None] = info, use_cache: bool | None = None,
                run_id: str | None = None) -> RunReport:
    """Build every kernel, boot each with ``tests``, and return the compared results.

    ``guest_options`` are kconfig options the tests need in the guest kernel (gen-tests'
    ``kconfig``); the kernels get them on top of the shipped fragments.

    A kernel whose results are in the results cache (same image bytes, initramfs files, QEMU
    options and test list: :mod:`kpatchkit.run.reuse`) is not booted: its ``reused_from`` says
    which run they come from. ``use_cache`` False (or ``$KPATCHKIT_RUN_REUSE=0``) boots every
    kernel and stores nothing. The kernels that boot share the free cores (``jobs``, else
    ``$KPATCHKIT_JOBS``, else the CPU count): one kernel alone runs its tests in that many
    guests, taking them from a shared queue as each becomes free
    (:mod:`kpatchkit.guest.dispatch`); two kernels one guest each per two cores.
    ``run_id`` names this run in the cache (default: the review's run id or the run dir's name).
    """
    if not kernels:
        raise KpatchkitError("nothing to run: no kernel given")
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise KpatchkitError("test names must be unique within a run")
    accel = accel or qemu.detect_accel()
    frags = kernel_fragments(accel, debug, kasan, guest_options)
    report = RunReport(tree=tree, accel=accel)

    images = []
    for spec in kernels:
        progress(f"[run] building the {spec.name} kernel ({spec.commit[:12]}, "
                 f"{' '.join(Path(f).stem for f in frags)})")
        img = kbuild.build_image(spec.repo, spec.commit, frags, jobs=jobs)
        progress(f"[run] {spec.name} kernel {'cached' if img.cached else 'built'} "
                 f"({img.build_seconds:.0f}s to build)")
        images.append(img)

    extras = dict(extra_sources or {})
    tests, absent, binaries, initrd = prepare_guest(kernels[0], tests, extras, progress, "run")
    timeouts = {t.name: t.timeout for t in tests}
    known_here = {name: reason for (name, acc), reason in (known or {}).items() if acc == accel}
    known_by_test = {t.name: known_here.get(t.name) or known_here.get(t.program)
                     for t in tests}
    known_by_test = {k: v for k, v in known_by_test.items() if v}
    cores = free_cores(jobs) if parallel else 1
    report.jobs = cores
    # TCG runs a 1-CPU guest on one host thread: with more than one core, guests get one CPU
    # each and as many run at once as there are cores.
    vm_smp = smp or (1 if cores > 1 else guest_config()["qemu"]["smp"])
    # One directory per run (logs are kept for the report); never shared by concurrent runs.
    run_dir = work_dir or Path(tempfile.mkdtemp(
        prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=cache_dir("runs")))
    this_run = run_id or reuse.run_id_of(run_dir)
    use_cache = reuse.enabled() if use_cache is None else use_cache

    # The results cache: a kernel whose image, tests and QEMU options are those of an earlier
    # run (the base kernel of a second series) takes that run's results instead of booting.
    argv = reuse.options_argv(qemu.qemu_command(
        Path("KERNEL"), Path("INITRD"), Path("console"), Path("results"), accel=accel,
        smp=vm_smp, append_extra=append_extra))
    files = files_key(tests, binaries)
    inputs = {"qemu": argv, "files": files, "tests": reuse.list_text(tests).splitlines()}
    keys = [reuse.result_key(reuse.file_digest(img.path), files, argv, tests) for img in images]
    position = {t.name: i for i, t in enumerate(tests)}
    done: dict[int, tuple[KernelRun, list[TestResult]]] = {}
    for idx, (spec, img) in enumerate(zip(kernels, images, strict=True)):
        hit = reuse.load(keys[idx], spec.name, run_dir / spec.name) if use_cache else None
        if hit is None:
            continue
        run, results = hit
        run.commit, run.config_hash, run.image = img.commit, img.config_hash, str(img.path)
        run.build_seconds, run.build_cached, run.accel = img.build_seconds, img.cached, accel
        results.sort(key=lambda r: position.get(r.test, len(position)))
        for r in results:
            r.known = known_by_test.get(r.test) if r.result in ("fail", "timeout", "error") \
                else None
        done[idx] = (run, results)
        src = run.reused_from or {}
        progress(f"[run] {spec.name}: reused from run {src.get('run')} ({src.get('date')}): "
                 f"same image, tests and QEMU options; "
                 f"{sum(r.result == 'pass' for r in results)}/{len(results)} passed")

    # Kernels whose images are byte-identical (a patch that changes no code this configuration
    # builds) boot once: the later ones take the first one's results (unless reuse is off:
    # then every kernel boots).
    same_as: dict[int, int] = {}
    for idx in range(len(kernels)):
        if idx not in done and use_cache:
            first = next(j for j in range(len(kernels)) if keys[j] == keys[idx])
            if first != idx and first not in done:
                same_as[idx] = first
    to_run = [i for i in range(len(kernels)) if i not in done and i not in same_as]
    # Expected seconds per test, to balance the guests: the reused kernel's, else the last time.
    expected = shard.known_durations(tests)
    for _run, results in done.values():
        expected.update({r.test: r.seconds for r in results if r.seconds})
    # A kernel alone on several cores hands its tests to its guests from a queue, longest
    # expected first, as each guest becomes free (guest/dispatch.py); one guest runs them all.
    jobs_list: list[tuple[int, int, list[int]]] = []
    queues: dict[int, TestQueue] = {}
    for idx, n in zip(to_run, shard.guests_per_kernel(cores, len(to_run)), strict=True):
        n = max(1, min(n, len(tests)))
        if n > 1:
            queues[idx] = TestQueue(tests, expected)
            jobs_list.extend((idx, g, []) for g in range(n))
        else:
            jobs_list.append((idx, 0, list(range(len(tests)))))
    per_kernel = {idx: sum(1 for j in jobs_list if j[0] == idx) for idx in to_run}

    def boot(job: tuple[int, int, list[int]]) -> tuple[dict, list[TestResult], list, str]:
        idx, g, part = job
        spec, img = kernels[idx], images[idx]
        many = per_kernel[idx] > 1
        label = f"{spec.name}#{g + 1}" if many else spec.name
        workdir = run_dir / spec.name / (f"guest{g + 1}" if many else "")
        on_test = lambda name, s=label: progress(f"[{s}] {name}")  # noqa: E731
        queue = queues.get(idx)
        if queue is None:
            progress(f"[run] booting {label} ({accel}, {len(part)} tests)")
            vm = qemu.run_vm(img.path, initrd, workdir, accel=accel, test_timeouts=timeouts,
                             smp=vm_smp, append_extra=append_extra, total_timeout=vm_timeout,
                             on_test=on_test)
        else:
            progress(f"[run] booting {label} ({accel}, tests from a shared queue)")
            with QueueServer(queue, g) as server:
                vm = qemu.run_vm(img.path, initrd, workdir, accel=accel,
                                 test_timeouts=timeouts, smp=vm_smp,
                                 append_extra=" ".join(x for x in (append_extra, QUEUE_PARAM)
                                                       if x),
                                 extra_args=server.qemu_args(), total_timeout=vm_timeout,
                                 on_test=on_test)
            part = sorted(queue.taken.get(g, []))
        subset = [tests[i] for i in part]
        results, splats, panic = collect.collect(spec.name, subset, vm, known_by_test)
        outcome = {"ok": "ok", "timeout": "hang", "no-boot": "no-boot"}.get(vm.status, "died")
        if panic:
            outcome = "panic"
        detail = panic or (f"killed after {vm.seconds:.0f}s while running {vm.hung_test}"
                           if vm.status == "timeout" else "")
        if vm.status == "no-boot" and not panic:
            detail = "the guest never reached its init (see console log)"
        guest = {"tests": [t.name for t in subset], "console_log": str(vm.console),
                 "results_log": str(vm.results), "seconds": vm.seconds,
                 "boot_seconds": vm.boot_seconds, "outcome": outcome, "detail": detail,
                 "qemu": shlex.join(vm.command or [])}
        progress(f"[run] {label}: {outcome} in {vm.seconds:.0f}s; "
                 f"{sum(r.result == 'pass' for r in results)}/{len(results)} passed, "
                 f"{len(splats)} splat(s)")
        return guest, results, splats, panic

    if jobs_list:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(cores, len(jobs_list))) as pool:
            booted = list(pool.map(boot, jobs_list))
    else:
        booted = []
    for idx in to_run:
        spec, img = kernels[idx], images[idx]
        mine = [b for j, b in zip(jobs_list, booted, strict=True) if j[0] == idx]
        guests = [b[0] for b in mine]
        left = queues[idx].left() if idx in queues else []
        # Tests no guest asked for: every guest of this kernel ended first (it died or hung).
        unrun = [TestResult(kernel=spec.name, test=tests[i].name, result="error",
                            args=list(tests[i].args), timeout=tests[i].timeout,
                            output="kpatchkit: not run: every guest of this kernel ended "
                                   "before asking for it", known=known_by_test.get(tests[i].name))
                 for i in left]
        results = sorted([*(r for b in mine for r in b[1]), *unrun],
                         key=lambda r: position[r.test])
        outcome = shard.worst([gst["outcome"] for gst in guests])
        details = [gst["detail"] for gst in guests if gst["detail"]]
        boots = [gst["boot_seconds"] for gst in guests if gst["boot_seconds"] is not None]
        run = KernelRun(name=spec.name, commit=img.commit, config_hash=img.config_hash,
                        build_seconds=img.build_seconds, build_cached=img.cached,
                        image=str(img.path), accel=accel,
                        boot_seconds=min(boots) if boots else None,
                        seconds=max([gst["seconds"] for gst in guests] or [0.0]),
                        outcome=outcome, detail="; ".join(details),
                        console_log=guests[0]["console_log"] if guests else "",
                        results_log=guests[0]["results_log"] if guests else "",
                        splats=[s for b in mine for s in b[2]], result_key=keys[idx],
                        guests=guests)
        if len(guests) > 1:
            progress(f"[run] {spec.name}: {outcome}; {len(guests)} guests, longest "
                     f"{run.seconds:.0f}s")
        shard.record_durations(tests, {r.test: r.seconds for r in results
                                       if r.result in ("pass", "fail", "skip")})
        if use_cache:
            why = reuse.why_not_stored(run, results)
            if why:
                progress(f"[run] {spec.name}: results not cached ({why})")
            else:
                reuse.store(keys[idx], run, results, run_id=this_run, run_dir=run_dir,
                            inputs={**inputs, "image": run.image})
        done[idx] = (run, results)
    for idx, first in same_as.items():
        run, results = copy.deepcopy(done[first])
        name = kernels[idx].name
        run.name, run.commit = name, images[idx].commit
        run.reused_from = {"run": this_run, "key": keys[idx], "run_dir": str(run_dir),
                           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        for r in results:
            r.kernel = name
        progress(f"[run] {name}: the same image as {kernels[first].name}, byte for byte: "
                 "its results are that kernel's")
        done[idx] = (run, results)
    for idx in range(len(kernels)):
        run, results = done[idx]
        report.kernels.append(run)
        report.results.extend(results)
        report.results.extend(TestResult(kernel=run.name, test=t.name, result="skip",
                                         args=list(t.args),
                                         output="kpatchkit: not in this tree's selftests")
                              for t in absent)
    compare_kernels(report, {t.name for t in tests if t.program in extras or t.name in extras})
    return report


def exit_code(report: RunReport) -> int:
    """0 clean; 1 new failures, splats, panic or hang of the kernel under test; 3 when a kernel
    did not boot or the reference (base) kernel itself panicked or hung."""
    subject = subject_kernel(report)
    for k in report.kernels:
        if k.outcome == "no-boot" or (k.name != subject and k.outcome != "ok"):
            return EXIT_INFRA
    kern = next((k for k in report.kernels if k.name == subject), None)
    if report.summary.get("new_failures") or (kern and (kern.splats or kern.outcome != "ok")):
        return EXIT_FINDINGS
    return EXIT_CLEAN
