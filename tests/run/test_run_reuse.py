"""The run results cache (kpatchkit/run/reuse.py), sharding (guest/shard.py), the guest init's test
selection and ``--tests auto`` (affected.py): keys on real inputs, what is (not) stored, and a
whole run_suite with QEMU replaced by a fake guest that follows the same results protocol."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from kpatchkit.guest import dispatch, prepare, qemu, shard
from kpatchkit.guest.initramfs import GuestTest, files_key, find_busybox, render_init
from kpatchkit.guest.lists import left_out, upstream_tests
from kpatchkit.guest.prepare import KernelSpec
from kpatchkit.records import results as rec
from kpatchkit.run import affected, reuse, suite

UPSTREAM, KNOWN = upstream_tests("6.1")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _argv(**kw) -> list[str]:
    args = {"accel": "tcg", "smp": 1, **kw}
    return reuse.options_argv(qemu.qemu_command(Path("/x/bzImage"), Path("/y/initrd"),
                                                Path("/z/c.log"), Path("/z/r.log"), **args))


def _binaries(tmp_path: Path, tests: list[GuestTest]) -> dict[str, Path]:
    out = {}
    for t in tests:
        p = tmp_path / "bin" / t.program
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"\x7fELF" + t.program.encode())
        out[t.program] = p
    return out


# --------------------------------------------------------------------------------- the key

def test_key_changes_with_each_input_and_only_with_them(tmp_path):
    tests = [t for t in UPSTREAM if t.name in ("demand_paging_test", "cpuid_test",
                                               "kvm_page_table_test:thp")]
    image = tmp_path / "bzImage"
    image.write_bytes(bytes(range(256)) * 64)
    bins = _binaries(tmp_path, tests)
    files = files_key(tests, bins)
    key = reuse.result_key(reuse.file_digest(image), files, _argv(), tests)

    # Same content elsewhere, other log paths, another order: the same key.
    other = tmp_path / "elsewhere" / "bzImage"
    other.parent.mkdir()
    other.write_bytes(image.read_bytes())
    argv2 = reuse.options_argv(qemu.qemu_command(other, tmp_path / "i", tmp_path / "a",
                                                 tmp_path / "b", accel="tcg", smp=1))
    assert reuse.result_key(reuse.file_digest(other), files, argv2, tests[::-1]) == key

    # One byte of the image.
    data = bytearray(image.read_bytes())
    data[1000] ^= 1
    image.write_bytes(bytes(data))
    assert reuse.result_key(reuse.file_digest(image), files, _argv(), tests) != key
    data[1000] ^= 1
    image.write_bytes(bytes(data))
    digest = reuse.file_digest(image)
    assert reuse.result_key(digest, files, _argv(), tests) == key

    # One byte of one test binary.
    b = bins["cpuid_test"]
    b.write_bytes(b.read_bytes() + b"\0")
    assert reuse.result_key(digest, files_key(tests, bins), _argv(), tests) != key

    # A test's argument, a test's timeout, the list itself.
    changed = [GuestTest(t.name, t.program, [*t.args, "-v", "3"] if t.name == "demand_paging_test"
                         else t.args, t.timeout) for t in tests]
    assert reuse.result_key(digest, files, _argv(), changed) != key
    slower = [GuestTest(t.name, t.program, t.args, t.timeout + 1) for t in tests]
    assert reuse.result_key(digest, files, _argv(), slower) != key
    assert reuse.result_key(digest, files, _argv(), tests[:2]) != key

    # QEMU options: memory, CPUs, accel, kernel command line.
    for kw in ({"memory": "4G"}, {"smp": 2}, {"accel": "kvm"},
               {"append_extra": "nokaslr"}):
        assert reuse.result_key(digest, files, _argv(**kw), tests) != key, kw


def test_options_argv_drops_paths_and_names_qemu_version():
    argv = _argv()
    assert "/x/bzImage" not in argv and "/y/initrd" not in argv
    assert not any("/z/" in a for a in argv)
    assert argv[0].startswith("QEMU emulator version") or argv[0] == "unknown"
    assert argv[argv.index("-kernel") + 1] == "KERNEL"


@pytest.mark.tree
@pytest.mark.build
def test_real_image_one_byte_changes_the_key(tmp_path):
    from kpatchkit.kernel import kbuild
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree("deb61")
    img = kbuild.build_image(tree.path, tree.head)  # cached: the run stage's base image
    copy = tmp_path / "bzImage"
    data = bytearray(img.path.read_bytes())
    copy.write_bytes(bytes(data))
    tests = UPSTREAM[:3]
    key = reuse.result_key(reuse.file_digest(img.path), "f", _argv(), tests)
    assert reuse.result_key(reuse.file_digest(copy), "f", _argv(), tests) == key
    data[len(data) // 2] ^= 0x80
    copy.write_bytes(bytes(data))
    assert reuse.result_key(reuse.file_digest(copy), "f", _argv(), tests) != key


# ------------------------------------------------------------------------ storing and loading

def _kernel(tmp_path: Path, outcome: str = "ok") -> rec.KernelRun:
    g = tmp_path / "run" / "base"
    g.mkdir(parents=True, exist_ok=True)
    (g / "console.log").write_text("[ 1.0] boot\n")
    (g / "results.log").write_text("KPATCHKIT-RESULTS-BEGIN\n")
    return rec.KernelRun("base", "c0ffee", "cfg", 1.0, outcome=outcome,
                     console_log=str(g / "console.log"), results_log=str(g / "results.log"),
                     guests=[{"tests": ["a", "b"], "console_log": str(g / "console.log"),
                              "results_log": str(g / "results.log"), "seconds": 9.0,
                              "boot_seconds": 1.0, "outcome": outcome, "detail": ""}])


@pytest.mark.parametrize("outcome,results,stored", [
    ("ok", [("a", "pass", None), ("b", "skip", None)], True),
    ("ok", [("a", "pass", None), ("b", "fail", "TCG does not implement SVM nRIP save")], True),
    ("ok", [("a", "pass", None), ("b", "fail", None)], False),  # flaky-looking
    ("ok", [("a", "pass", None), ("b", "timeout", None)], False),
    ("ok", [("a", "pass", None), ("b", "timeout", "inconclusive: timed out after 5s")], False),
    ("ok", [("a", "error", None)], False),
    ("hang", [("a", "pass", None)], False),
    ("panic", [("a", "pass", None)], False),
    ("no-boot", [("a", "error", None)], False),
])
def test_only_results_that_would_repeat_are_stored(cache, tmp_path, outcome, results, stored):
    run = _kernel(tmp_path, outcome)
    res = [rec.TestResult("base", n, r, known=k, seconds=1.5) for n, r, k in results]
    assert reuse.store("k1", run, res, run_id="R1", run_dir=tmp_path / "run",
                       inputs={}) is stored
    assert (reuse.load("k1", "base", tmp_path / "new") is not None) is stored


def test_loaded_results_say_where_they_come_from(cache, tmp_path):
    run = _kernel(tmp_path)
    res = [rec.TestResult("base", "a", "pass", seconds=2.0, preexisting=True),
           rec.TestResult("base", "b", "skip")]
    assert reuse.store("k2", run, res, run_id="20261207T010000Z-abc123", run_dir=tmp_path,
                       inputs={"tests": ["a", "b"]})
    # The original run's logs may be gone: the cache has its own copy.
    for f in (tmp_path / "run" / "base").iterdir():
        f.unlink()
    got = reuse.load("k2", "patched", tmp_path / "new" / "patched")
    assert got is not None
    k, rs = got
    assert k.name == "patched" and [r.kernel for r in rs] == ["patched", "patched"]
    assert k.reused_from["run"] == "20261207T010000Z-abc123"
    assert k.reused_from["key"] == "k2" and re.match(r"\d{4}-\d\d-\d\dT", k.reused_from["date"])
    assert k.result_key == "k2"
    assert Path(k.console_log).read_text() == "[ 1.0] boot\n"
    assert Path(k.console_log).parent == tmp_path / "new" / "patched"
    assert not rs[0].preexisting  # judged again against this run's other kernel
    assert reuse.load("missing", "base", tmp_path / "x") is None


def test_run_id_of_a_review_is_the_reports_folder():
    assert reuse.run_id_of(Path("/r/reports/20261207T0100Z-ab12/.kpatchkit/run")) == \
        "20261207T0100Z-ab12"
    assert reuse.run_id_of(Path("/c/runs/20261207T010000-xyz")) == "20261207T010000-xyz"


# ------------------------------------------------------------------------------- sharding

def test_split_balances_by_duration_and_keeps_list_order():
    tests = [GuestTest(f"t{i}", f"t{i}", timeout=300) for i in range(8)]
    secs = {"t0": 100, "t1": 10, "t2": 10, "t3": 60, "t4": 30, "t5": 5, "t6": 5, "t7": 1}
    parts = shard.split(tests, 2, secs)
    assert sorted(i for p in parts for i in p) == list(range(8))
    assert all(p == sorted(p) for p in parts)
    loads = [sum(secs[f"t{i}"] for i in p) for p in parts]
    assert max(loads) <= 111  # 221 s of tests: the longest guest holds t0 and a little
    assert shard.split(tests[:1], 4) == [[0]]
    assert len(shard.split(tests, 20)) == 8  # never an empty guest
    assert shard.split(tests, 1) == [list(range(8))]


def test_cores_kernels_and_outcomes():
    assert shard.guests_per_kernel(2, 2) == [1, 1]  # the cold review: as before
    assert shard.guests_per_kernel(2, 1) == [2]  # base reused: the patched kernel gets both
    assert shard.guests_per_kernel(5, 2) == [3, 2]
    assert shard.guests_per_kernel(1, 2) == [1, 1]
    assert shard.worst(["ok", "hang", "ok"]) == "hang"
    assert shard.worst(["no-boot", "panic"]) == "panic"
    assert shard.only_param([0, 1, 2], 3) == ""
    assert shard.only_param([0, 2], 3) == "kpatchkit.only=1,3"


def test_free_cores(monkeypatch):
    monkeypatch.setenv("KPATCHKIT_JOBS", "3")
    assert shard.free_cores() == 3
    assert shard.free_cores(1) == 1
    monkeypatch.delenv("KPATCHKIT_JOBS")
    assert shard.free_cores() >= 1


def _init_selection(tmp_path: Path, ctl: str = "/dev/ttyS2",
                    listing: str = "a|5|a\nb|5|b -x\n\nc|5|c\nd|5|d\n") -> str:
    """data/init.sh's selection and dispatch, with run_test() printing what it would run."""
    init = render_init(["pf_taken"])
    head = init[init.index('ONLY=""'):init.index("run_test() {")]
    tail = init[init.index('if [ -n "$QUEUE" ]; then'):init.index('say "# kpatchkit-dmesg-begin"')]
    (tmp_path / "list").write_text(listing)
    return ('say() { echo "$*"; }\nrun_test() { i=$((i + 1)); say "$i $name $cmd"; }\n'
            + (head + tail).replace("/proc/cmdline", str(tmp_path / "cmdline"))
            .replace("/tests/list", str(tmp_path / "list")).replace("/dev/ttyS2", ctl))


def test_guest_init_runs_only_its_lines(tmp_path):
    """data/init.sh's selection loop, run by busybox sh on a real list and command line."""
    snippet = _init_selection(tmp_path)

    def run(cmdline: str) -> list[str]:
        (tmp_path / "cmdline").write_text(cmdline + "\n")
        out = subprocess.run([str(find_busybox()), "sh", "-c", snippet], capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    assert run("console=ttyS0 kpatchkit.only=2,4 panic=-1") == [
        "TAP version 13", "1..2", "1 b b -x", "2 d d"]
    assert run("console=ttyS0 panic=-1") == [
        "TAP version 13", "1..4", "1 a a", "2 b b -x", "3 c c", "4 d d"]


def test_guest_init_takes_tests_from_the_hosts_queue(tmp_path):
    """kpatchkit.queue=1: init asks on a real tty (a pty standing for ttyS2) and the host's
    QueueServer answers over its Unix socket, bridged as QEMU's chardev would; the plan comes
    last. The host hands out longest-expected first and remembers what this guest took."""
    master, slave = pty.openpty()
    snippet = _init_selection(tmp_path, os.ttyname(slave), "a|5|a\nb|5|b -x\nc|5|c\nd|5|d\n")
    (tmp_path / "cmdline").write_text("console=ttyS0 kpatchkit.queue=1\n")
    tests = [GuestTest(n, n) for n in ("a", "b", "c", "d")]
    queue = dispatch.TestQueue(tests, {"c": 90.0, "a": 5.0, "b": 40.0, "d": 1.0})
    with dispatch.QueueServer(queue, 0) as server:
        chardev = server.qemu_args()[1]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(chardev.split("path=", 1)[1])

        def bridge() -> None:  # the guest's tty <-> the host's socket, as QEMU does
            while True:
                try:
                    data = os.read(master, 1024)
                except OSError:
                    return
                if not data:
                    return
                sock.sendall(data)
                if data.endswith(b"\n"):
                    os.write(master, sock.recv(1024))

        t = threading.Thread(target=bridge, daemon=True)
        t.start()
        out = subprocess.run([str(find_busybox()), "sh", "-c", snippet], capture_output=True,
                             text=True, timeout=30)
        sock.close()
    os.close(slave)
    os.close(master)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["TAP version 13", "1 c c", "2 b b -x", "3 a a", "4 d d",
                                       "1..4"]
    assert queue.taken == {0: [2, 1, 0, 3]} and queue.left() == []


# ------------------------------------------------------------------------- --tests auto

def test_auto_puts_what_the_patch_touches_first_with_why():
    tests = [*UPSTREAM, GuestTest("cow_anon_thp_off_test", "cow_anon_thp_off_test")]
    ran, sel = affected.order(tests, ["arch/x86/kvm/mmu/tdp_mmu.c"], ["cow_anon_thp_off_test"])
    first = [a["test"] for a in sel["affected"]]
    assert ran[:len(first)] == [t for t in tests if t.name in first]
    assert "demand_paging_test" in first and "cpuid_test" not in first
    assert "cow_anon_thp_off_test" in first
    assert {t.name for t in ran} == {t.name for t in tests}  # auto: the rest after them
    why = {a["test"]: a["why"] for a in sel["affected"]}
    assert why["demand_paging_test"][0].startswith("arch/x86/kvm/mmu/tdp_mmu.c: TDP MMU")
    assert why["cow_anon_thp_off_test"] == ["generated for the patch under review"]
    assert sel["ran"] == [t.name for t in ran]

    only, sel = affected.order(tests, ["arch/x86/kvm/svm/nested.c"], (), "affected")
    assert {t.name for t in only} >= {"svm_vmcall_test", "svm_int_ctl_test"}
    assert "demand_paging_test" not in {t.name for t in only}
    assert sel["rest"] and set(sel["rest"]).isdisjoint(sel["ran"])

    ran, sel = affected.order(tests, ["Documentation/virt/kvm/api.rst"])
    assert [t.name for t in ran] == [t.name for t in tests] and sel["affected"] == []


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_every_test_the_map_names_is_in_the_upstream_list(version):
    names = {t.name for t in upstream_tests(version)[0]}
    for entry in affected.load_map():
        assert entry["why"] and entry["paths"]
        assert set(entry["tests"]) <= names, set(entry["tests"]) - names


# ------------------------------------------------- run_suite with a fake guest (no QEMU)

class FakeGuests:
    """Stands in for kbuild/selftests/initramfs/QEMU; each guest follows data/init.sh's
    protocol for the lines ``kpatchkit.only`` picks, so collect and the merge are the real ones."""

    def __init__(self, tmp_path: Path, monkeypatch, fail: set[str] = frozenset(),
                 die_on: set[str] = frozenset()) -> None:
        from kpatchkit.records.kbuild import KernelImage

        self.boots: list[tuple[str, list[str]]] = []
        self.fail = set(fail)
        self.die_on = set(die_on)  # the guest dies (panics) while running one of these
        images = {}
        for commit in ("base0", "patch1", "patch2", "vmxonly"):
            img = tmp_path / "images" / commit / "bzImage"
            img.parent.mkdir(parents=True)
            # "vmxonly": a patch that changes no code the guest's config builds
            img.write_bytes(b"kernel " + (b"base0" if commit == "vmxonly" else commit.encode()))
            images[commit] = img

        def build_image(repo, commit, frags, jobs=None):
            return KernelImage(commit=commit, config_hash="cfg", path=images[commit],
                               build_seconds=0.0, cached=True)

        monkeypatch.setattr(suite.kbuild, "build_image", build_image)
        monkeypatch.setattr(prepare.selftests, "tree_programs", lambda repo, commit: {
            "t1", "t2", "t3", "t4", "t5"})
        bins = _binaries(tmp_path, [GuestTest(f"t{i}", f"t{i}") for i in range(1, 6)])
        monkeypatch.setattr(prepare.selftests, "build_selftests",
                            lambda repo, commit, programs, extras: bins)
        monkeypatch.setattr(prepare, "build_initramfs",
                            lambda tests, binaries: tmp_path / "initrd")
        self.lists: dict[str, list[str]] = {}
        monkeypatch.setattr(suite.qemu, "run_vm", self.run_vm)
        monkeypatch.setattr(suite.qemu, "qemu_command", lambda *a, **kw: [
            "qemu-fake", "-smp", str(kw.get("smp")), "-append", kw.get("append_extra", "")])

    def run_vm(self, kernel, initrd, workdir, *, accel, test_timeouts, smp=None,
               append_extra="", total_timeout=None, on_test=None, extra_args=(), **kw):
        names = list(test_timeouts)
        only = re.search(r"kpatchkit\.only=(\S+)", append_extra)
        if "kpatchkit.queue=1" in append_extra.split():
            picked = [names[i - 1] for i in _ask_queue(
                extra_args, lambda i: names[i - 1] in self.die_on)]
        else:
            picked = [names[int(i) - 1] for i in only.group(1).split(",")] if only else names
        self.boots.append((kernel.parent.name, picked))
        workdir.mkdir(parents=True, exist_ok=True)
        lines = ["KPATCHKIT-RESULTS-BEGIN", "TAP version 13", f"1..{len(picked)}"]
        for i, n in enumerate(picked, 1):
            bad = n in self.fail
            lines += [f"# kpatchkit-begin {n}", f"    output of {n} on {kernel.parent.name}",
                      f"# kpatchkit-stats {n} seconds={i}.00 exit={1 if bad else 0}",
                      f"{'not ok' if bad else 'ok'} {i} {n}"]
        dies = bool(picked) and picked[-1] in self.die_on
        if dies:  # no result line for the last test, and no end marker
            lines = lines[:-3]
        else:
            lines.append("KPATCHKIT-RESULTS-END")
        (workdir / "results.log").write_text("\n".join(lines) + "\n")
        (workdir / "console.log").write_text("[    0.5] Run /init as init process\n")
        return qemu.VmOutcome(console=workdir / "console.log", results=workdir / "results.log",
                              returncode=0, seconds=float(len(picked)), boot_seconds=0.5,
                              status="died" if dies else "ok")


def _ask_queue(qemu_args, dies=lambda line: False) -> list[int]:
    """The guest side of guest/dispatch.py's protocol over the real socket QEMU would open:
    'next' until 'done' (or until the guest dies running a line); the 1-based lines it got."""
    chardev = qemu_args[qemu_args.index("-chardev") + 1]
    path = dict(kv.split("=", 1) for kv in chardev.split(",")[1:])["path"]
    got = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        f = sock.makefile("rwb", buffering=0)
        while True:
            f.write(b"next\n")
            answer = f.readline().strip()
            if answer == b"done":
                return got
            got.append(int(answer))
            if dies(got[-1]):
                return got


def _suite(tmp_path, name, commits, **kw):
    tests = [GuestTest(f"t{i}", f"t{i}", timeout=60) for i in range(1, 6)]
    kernels = [KernelSpec(k, tmp_path, c) for k, c in zip(("base", "patched"), commits,
                                                          strict=False)]
    return suite.run_suite("t", kernels, tests, accel="tcg", work_dir=tmp_path / name, jobs=2,
                     progress=lambda m: None, **kw)


def test_second_series_reuses_base_and_shards_patched(cache, tmp_path, monkeypatch):
    fake = FakeGuests(tmp_path, monkeypatch)
    order = ["t1", "t2", "t3", "t4", "t5"]

    # A first review: base and patched side by side, one guest each (as before sharding).
    first = _suite(tmp_path, "r1", ["base0", "patch1"])
    assert sorted(k for k, _ in fake.boots) == ["base0", "patch1"]
    assert all(len(t) == 5 for _, t in fake.boots)
    assert [k.reused_from for k in first.kernels] == [None, None]

    # A second series on the same tree: base is the cache's; patched gets both cores.
    fake.boots.clear()
    second = _suite(tmp_path, "r2", ["base0", "patch2"])
    assert [k for k, _ in fake.boots] == ["patch2", "patch2"]
    assert sorted(n for _, t in fake.boots for n in t) == order
    base, patched = second.kernels
    assert base.reused_from["run"] == "r1" and base.reused_from["date"]
    assert base.result_key == first.kernels[0].result_key
    assert patched.reused_from is None and len(patched.guests) == 2
    assert [(r.kernel, r.test) for r in second.results] == \
        [("base", n) for n in order] + [("patched", n) for n in order]
    assert [r.output for r in second.results if r.kernel == "base"] == \
        [f"output of {n} on base0" for n in order]
    assert Path(base.console_log).is_relative_to(tmp_path / "r2")
    assert second.summary["new_failures"] == []

    # Without reuse every kernel boots; the results are the same.
    fake.boots.clear()
    third = _suite(tmp_path, "r3", ["base0", "patch2"], use_cache=False)
    assert sorted(k for k, _ in fake.boots) == ["base0", "patch2"]
    strip = lambda rep: [(r.kernel, r.test, r.result) for r in rep.results]  # noqa: E731
    assert strip(third) == strip(second) and third.summary == second.summary


def test_base_alone_runs_in_as_many_guests_as_cores(cache, tmp_path, monkeypatch):
    fake = FakeGuests(tmp_path, monkeypatch)
    rep = _suite(tmp_path, "r1", ["base0"])
    assert len(fake.boots) == 2 and len(rep.kernels[0].guests) == 2
    assert [r.test for r in rep.results] == ["t1", "t2", "t3", "t4", "t5"]


def test_a_guest_that_dies_keeps_only_its_test_the_other_runs_the_rest(cache, tmp_path,
                                                                         monkeypatch):
    fake = FakeGuests(tmp_path, monkeypatch, die_on={"t1"})
    rep = _suite(tmp_path, "r1", ["base0"])
    got = {r.test: r.result for r in rep.results}
    assert got == {"t1": "error", "t2": "pass", "t3": "pass", "t4": "pass", "t5": "pass"}
    assert "died during this test" in rep.results[0].output
    assert sorted(n for _, t in fake.boots for n in t) == ["t1", "t2", "t3", "t4", "t5"]
    assert rep.kernels[0].outcome == "died"


def test_tests_no_guest_asked_for_are_errors_not_lost(cache, tmp_path, monkeypatch):
    """Both guests die on their first test: the three never handed out are still reported."""
    FakeGuests(tmp_path, monkeypatch, die_on={"t1", "t2", "t3", "t4", "t5"})
    rep = _suite(tmp_path, "r1", ["base0"])
    assert [r.test for r in rep.results] == ["t1", "t2", "t3", "t4", "t5"]
    assert all(r.result == "error" for r in rep.results)
    assert sum("not run: every guest of this kernel ended" in r.output
               for r in rep.results) == 3


def test_a_patched_image_equal_to_base_boots_once_and_the_report_says_so(cache, tmp_path,
                                                                           monkeypatch):
    from kpatchkit.report.notes import run_notes

    fake = FakeGuests(tmp_path, monkeypatch)
    rep = _suite(tmp_path, "r1", ["base0", "vmxonly"])
    assert [k for k, _ in fake.boots] == ["base0", "base0"]  # one kernel, its two guests
    base, patched = rep.kernels
    assert patched.commit == "vmxonly" and patched.result_key == base.result_key
    assert patched.reused_from["run"] == "r1" and base.reused_from is None
    assert [(r.kernel, r.test, r.result) for r in rep.results] == \
        [(k, f"t{i}", "pass") for k in ("base", "patched") for i in range(1, 6)]
    assert any("the same kernel image as base" in n for n in run_notes(rep))
    # --no-reuse boots every kernel, identical or not.
    fake.boots.clear()
    _suite(tmp_path, "r2", ["base0", "vmxonly"], use_cache=False)
    assert sorted(k for k, _ in fake.boots) == ["base0", "vmxonly"]


def test_a_flaky_looking_base_is_run_again(cache, tmp_path, monkeypatch):
    fake = FakeGuests(tmp_path, monkeypatch, fail={"t3"})
    _suite(tmp_path, "r1", ["base0", "patch1"])
    fake.boots.clear()
    rep = _suite(tmp_path, "r2", ["base0", "patch2"])
    assert sorted({k for k, _ in fake.boots}) == ["base0", "patch2"]
    assert rep.kernels[0].reused_from is None
    # The failure on both kernels is pre-existing, as without the cache.
    assert rep.summary["preexisting"] == ["t3"]


@pytest.mark.tree
@pytest.mark.parametrize("mode", ["auto", "affected"])
def test_run_kernels_auto_orders_by_the_commits_real_files(mode, monkeypatch):
    """run_kernels(upstream='auto'): the files come from git (base..patched of the real tree)."""
    from runtest_git import commit_with_edit

    import kpatchkit.run
    from kpatchkit.records.results import RunReport
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree("deb61")
    patched = commit_with_edit(tree.path, tree.head, "arch/x86/kvm/svm/nested.c",
                               "#define CC KVM_NESTED_VMENTER_CONSISTENCY_CHECK",
                               "#define CC KVM_NESTED_VMENTER_CONSISTENCY_CHECK /* test */")
    seen = {}

    def fake_suite(tree_name, kernels, tests, **kw):
        seen["tests"] = [t.name for t in tests]
        return RunReport(tree=tree_name, accel="tcg")

    monkeypatch.setattr(kpatchkit.run, "run_suite", fake_suite)
    rep = kpatchkit.run.run_kernels(tree, base=tree.head, patched=patched, upstream=mode)
    assert rep.selection["files"] == ["arch/x86/kvm/svm/nested.c"]
    first = [a["test"] for a in rep.selection["affected"]]
    assert "svm_vmcall_test" in first and "demand_paging_test" not in first
    assert seen["tests"][:len(first)] == first == rep.selection["ran"][:len(first)]
    if mode == "auto":
        dropped = left_out("6.1", qemu.detect_accel())
        assert len(seen["tests"]) == len(UPSTREAM) - len(dropped)
        assert not set(dropped) & set(seen["tests"])
    else:
        assert seen["tests"] == first
