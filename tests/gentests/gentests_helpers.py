"""Shared helpers for the gen-tests tests: golden library probes and the real Debian trees."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from release import series

from kpatchkit.records.gentests import SelftestLib

GOLDEN = Path(__file__).resolve().parent / "golden"
# Debian's linux-source packages the goldens were rendered for: tree name -> series (any
# point release of it: the goldens say 6.1.x / 6.12.x, see tests/release.py).
TREES = {"deb61": "6.1", "deb612": "6.12"}
REGEN = bool(os.environ.get("KPATCHKIT_REGEN"))


def golden_lib(name: str) -> SelftestLib:
    """The probe result of Debian's linux-source-<name>, as stored beside the goldens.

    Release independent (see :func:`release_independent`): its ``tree_version`` is the series
    (``6.12.x``) and its evidence names files, not lines, so the goldens rendered from it hold
    on every point release Debian ships.
    """
    return SelftestLib.from_json(json.loads((GOLDEN / name / "library.json").read_text()))


def release_independent(lib: SelftestLib) -> SelftestLib:
    """``lib`` as the goldens store it: the version as its series (``6.12.118`` -> ``6.12.x``),
    each feature's evidence as the file it was found in (its line moves between releases;
    test_gentests_tree.py checks the line itself against the feature's pattern)."""
    data = lib.to_json()
    data["tree_version"] = series(lib.tree_version)
    data["evidence"] = {k: v.rsplit(":", 1)[0] for k, v in lib.evidence.items()}
    return SelftestLib.from_json(data)


def copy_probe_inputs(src: Path, dst: Path) -> Path:
    """Copy what ``probe_tree`` reads of the tree at ``src`` (the top Makefile, the selftest
    library, kselftest.h and arch/x86/kvm/x86.c) into ``dst``; return ``dst``."""
    from kpatchkit.gentests.probe import SELFTEST_DIR

    for rel in (SELFTEST_DIR / "include", SELFTEST_DIR / "lib"):
        shutil.copytree(src / rel, dst / rel)
    for rel in ("Makefile", "arch/x86/kvm/x86.c", "tools/testing/selftests/kselftest.h"):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, dst / rel)
    return dst


def real_tree(name: str):
    """TreeInfo of kernel_src/<name>, added from /usr/src once (cached) if missing."""
    from kernel_trees import debian_tree

    return debian_tree(name)


def broken_variants() -> list[dict]:
    """The deliberately broken ports of the series (tests/gentests/broken_variants.toml)."""
    import tomllib

    path = Path(__file__).resolve().parent / "broken_variants.toml"
    return tomllib.loads(path.read_text())["variant"]


def commit_variant(repo: Path, parent: str, variant: dict) -> str:
    """Commit ``variant``'s edits on top of ``parent`` in kpatchkit's own tree repo.

    Plumbing only (a private index, hash-object, commit-tree): no branch, worktree or
    checkout of the repository changes; the commit is reachable by its id alone.
    """
    import re
    import subprocess
    import tempfile

    def git(*args: str, env: dict | None = None, data: str | None = None) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], input=data, text=True,
                              capture_output=True, check=True,
                              env={**os.environ, **(env or {})}).stdout

    text = git("show", f"{parent}:{variant['file']}")
    for edit in variant["edits"]:
        text, n = re.subn(edit["pattern"], edit["replace"], text)
        assert n == 1, f"{variant['name']}: {edit['pattern']!r} matched {n} times"
    blob = git("hash-object", "-w", "--stdin", data=text).strip()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git("read-tree", parent, env=env)
        git("update-index", "--cacheinfo", f"100644,{blob},{variant['file']}", env=env)
        tree = git("write-tree", env=env).strip()
    ident = {"GIT_AUTHOR_NAME": "kpatchkit tests", "GIT_AUTHOR_EMAIL": "tests@kpatchkit",
             "GIT_COMMITTER_NAME": "kpatchkit tests", "GIT_COMMITTER_EMAIL": "tests@kpatchkit",
             "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
             "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}
    return git("commit-tree", tree, "-p", parent, "-m", f"BROKEN: {variant['name']}",
               env=ident).strip()


def boot_scenarios(tree, tests: list, fragments: list, work: Path, *, repo: Path | None = None,
                   commit: str | None = None, smp: int = 2) -> dict:
    """Build ``commit`` (default: the tree's head) with ``fragments``, boot it with ``tests``.

    Returns {test name: result}.

    The run stage's pieces (kbuild image, selftest build, initramfs, QEMU, collection), for a
    kernel config the run stage does not make itself (e.g. with gentests.config for KSM).
    """
    from kpatchkit.guest import collect, qemu
    from kpatchkit.guest.initramfs import GuestTest, build_initramfs
    from kpatchkit.kernel import kbuild, selftests

    repo = Path(repo or tree.path)
    commit = commit or tree.head
    image = kbuild.build_image(repo, commit, fragments)
    binaries = selftests.build_selftests(repo, commit, [],
                                         {t.name: Path(t.c_path) for t in tests})
    guest = [GuestTest(name=t.name, program=t.name, args=t.args, timeout=t.timeout)
             for t in tests]
    initrd = build_initramfs(guest, binaries)
    vm = qemu.run_vm(image.path, initrd, work, accel=qemu.detect_accel(),
                     test_timeouts={t.name: t.timeout for t in tests}, smp=smp)
    results, splats, panic = collect.collect("base", guest, vm)
    assert vm.status == "ok" and not panic and not splats, (vm.status, panic, splats)
    return {r.test: r for r in results}
