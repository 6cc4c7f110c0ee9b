"""The L2 guest kernel of the boot scenario: the tree's tinyconfig + ``data/l2-guest.config``.

Built by the shared kbuild service (its own build directory and image cache, keyed by commit and
config hash), so it is built once per tree and machine. Any 6.x tree works: the L2 guest only
needs PIIX IDE, ext2, swiotlb (always on x86_64), ACPI for SMP and poweroff, and the EFI stub.
"""

from __future__ import annotations

from pathlib import Path

from kpatchkit.records.kbuild import KernelImage

FRAGMENT = Path(__file__).with_name("data") / "l2-guest.config"


def build_l2_kernel(repo: Path, commit: str = "HEAD") -> KernelImage:
    """Build (or reuse) the L2 guest bzImage from kpatchkit's repository of a tree."""
    from kpatchkit.kernel import kbuild

    return kbuild.build_image(repo, commit, [FRAGMENT])
