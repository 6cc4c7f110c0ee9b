"""Build what LAVA will boot, without booting it here: the run stage's kernels and initramfs.

The same kernels (fragments from ``kpatchkit.guest.prepare.kernel_fragments``, so a local run and
a LAVA job boot the same cached image), the same selftest binaries and the same initramfs (its
list in the run order; a LAVA job picks its group with ``kpatchkit.only=``) as a local run of the
same tests, all prepared by the guest service (:mod:`kpatchkit.guest`); then
:func:`kpatchkit.lava.jobs.write_jobs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kpatchkit.console import info
from kpatchkit.guest import shard
from kpatchkit.guest.initramfs import GuestTest, guest_config
from kpatchkit.guest.lists import plan_tests
from kpatchkit.guest.prepare import KernelSpec, kernel_fragments, prepare_guest
from kpatchkit.kernel import kbuild
from kpatchkit.kernel.version import of_tree
from kpatchkit.lava.jobs import LavaKernel, LavaTest, write_jobs
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.tree import TreeInfo

LAB_ACCEL = "tcg"  # the lab's machine, not this one: TCG unless asked for KVM


def build_matrix(tree: str, kernels: Sequence[KernelSpec], tests: list[GuestTest],
                 out_dir: Path, *, extra_sources: dict[str, Path] | None = None,
                 accel: str | None = None, debug: bool = True, kasan: bool = False,
                 guest_options: Sequence[str] = (),
                 known: dict[tuple[str, str], str] | None = None, jobs: int | None = None,
                 artifact_url: str | None = None, append_extra: str = "",
                 progress: Callable[[str], None] = info) -> dict[str, Any]:
    """Build every kernel and the initramfs for ``tests``; write the LAVA jobs into
    ``out_dir``; return the manifest."""
    accel = accel or LAB_ACCEL
    frags = kernel_fragments(accel, debug, kasan, guest_options)
    built = []
    for spec in kernels:
        progress(f"[lava] building the {spec.name} kernel ({spec.commit[:12]})")
        img = kbuild.build_image(spec.repo, spec.commit, frags, jobs=jobs)
        built.append(LavaKernel(name=spec.name, commit=img.commit, config_hash=img.config_hash,
                                image=Path(img.path), build_seconds=img.build_seconds,
                                build_cached=img.cached))
    extras = dict(extra_sources or {})
    tests, missing, _, initrd = prepare_guest(kernels[0], tests, extras, progress, "lava")
    absent = [t.name for t in missing]
    cfg = guest_config()
    known_here = {n: r for (n, a), r in (known or {}).items() if a == accel}
    known_by_test = {t.name: known_here.get(t.name) or known_here.get(t.program) for t in tests}
    append = " ".join(x for x in (cfg["qemu"]["append"], append_extra) if x)
    manifest = write_jobs(
        out_dir, tree=tree, kernels=built,
        tests=[LavaTest(t.name, t.program, list(t.args), int(t.timeout), t.name in extras)
               for t in tests],
        initramfs=initrd, accel=accel, append=append, memory=cfg["qemu"]["memory"], smp=1,
        artifact_url=artifact_url, known={k: v for k, v in known_by_test.items() if v},
        absent=absent, expected=shard.known_durations(tests),
        slack=int(cfg["timeouts"]["slack"]), boot_seconds=int(cfg["timeouts"]["boot"]))
    progress(f"[lava] {len(manifest['jobs'])} job(s) in {out_dir}: "
             + ", ".join(j["file"] for j in manifest["jobs"]))
    return manifest


def matrix_for_review(tree: TreeInfo, base: str, patched: str | None,
                      generated: list[GeneratedTest],
                      out_dir: Path, *, artifact_url: str | None = None,
                      jobs: int | None = None) -> dict[str, Any]:
    """The review's run stage as LAVA jobs: the tree's upstream list plus the generated tests
    on base and patched, as
    ``kpatchkit.run.run_kernels`` would boot them here."""
    repo = Path(tree.path)
    plan = plan_tests(of_tree(tree), LAB_ACCEL, generated)
    kernels = [KernelSpec("base", repo, base)]
    if patched:
        kernels.append(KernelSpec("patched", repo, patched))
    return build_matrix(tree.name, kernels, plan.tests, out_dir,
                        extra_sources=plan.extras, known=plan.known, guest_options=plan.options,
                        jobs=jobs, artifact_url=artifact_url)
