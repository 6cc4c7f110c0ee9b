"""A patch that compiles to nothing in the guest's config gives its base's image, byte for byte.

The run results cache keys a kernel's results on its image bytes (run/reuse.py), so this is what
lets a VMX-only patch under the AMD TCG config take its base kernel's results instead of booting:
the build identity (user, host, timestamp and the ``#N`` build count) is fixed in kernel/kbuild.py.
"""

from __future__ import annotations

import pytest
from runtest_git import commit_with_edit

from kpatchkit.kernel import kbuild
from kpatchkit.run import reuse
from kpatchkit.trees.registry import resolve_tree

pytestmark = [pytest.mark.tree, pytest.mark.build, pytest.mark.timeout(1800)]


def test_a_vmx_only_patch_builds_the_base_image_under_tcg(deb61) -> None:
    tree = resolve_tree(deb61)
    # vmx.c is not built with vendor-amd (CONFIG_KVM_INTEL is off): the patched commit differs
    # from base only in code the guest kernel does not contain.
    patched = commit_with_edit(tree.path, tree.head, "arch/x86/kvm/vmx/vmx.c",
                               "static bool __read_mostly nested = 1;",
                               "static bool __read_mostly nested = 0;")
    base_img = kbuild.build_image(tree.path, tree.head)
    patched_img = kbuild.build_image(tree.path, patched)
    assert patched_img.commit != base_img.commit
    assert patched_img.path.read_bytes() == base_img.path.read_bytes()
    assert reuse.file_digest(patched_img.path) == reuse.file_digest(base_img.path)
    # Built twice in the same build directory, the same commit gives the same bytes again.
    again = kbuild.build_image(tree.path, patched)
    assert again.cached and again.path == patched_img.path
