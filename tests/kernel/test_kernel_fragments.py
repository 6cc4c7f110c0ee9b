"""The kernels' kconfig fragments: one TCG vendor rule (guest.toml), one default build."""

from __future__ import annotations

from kpatchkit.guest import qemu
from kpatchkit.guest.initramfs import guest_config
from kpatchkit.guest.prepare import kernel_fragments
from kpatchkit.kernel import kbuild, kconfig


def test_the_tcg_vendor_is_data_and_names_a_shipped_fragment() -> None:
    vendor = guest_config()["qemu"]["tcg_vendor"]
    assert qemu.vendor_fragment("tcg") == f"vendor-{vendor}"
    assert [f.name for f in kconfig.load_fragments([f"vendor-{vendor}"])] == [f"vendor-{vendor}"]


def test_the_default_build_is_the_tcg_debug_guests() -> None:
    """analyze and compile share the run's build dir only while these agree."""
    assert list(kbuild.DEFAULT_FRAGMENTS) == kernel_fragments("tcg", debug=True)
