"""kconfig fragments: parsing, hashing, and the check that every requested option stuck."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpatchkit.errors import InfraError, KpatchkitError
from kpatchkit.guest.prepare import kernel_fragments
from kpatchkit.kernel import kbuild, kconfig


def test_shipped_fragments_parse():
    names = kconfig.available_fragments()
    for want in ("kvm-base", "vendor-amd", "vendor-intel", "debug", "kasan", "selftests"):
        assert want in names
    debug = kconfig.load_fragment("debug").options
    assert debug["CONFIG_PROVE_LOCKING"] == "y" and debug["CONFIG_PROVE_RCU"] == "y"
    assert kconfig.load_fragment("selftests").options["CONFIG_ADVISE_SYSCALLS"] == "y"


def test_unknown_fragment_is_a_usage_error():
    with pytest.raises(KpatchkitError, match="unknown kconfig fragment 'nope'"):
        kconfig.load_fragment("nope")


def test_hash_depends_on_content_and_order():
    a, b = kconfig.load_fragments(["kvm-base", "debug"]), kconfig.load_fragments(["debug",
                                                                                 "kvm-base"])
    assert kconfig.fragments_hash(a) != kconfig.fragments_hash(b)
    assert kconfig.fragments_hash(a) == kconfig.fragments_hash(kconfig.load_fragments(
        ["kvm-base", "debug"]))


def test_scenario_options_already_shipped_keep_the_run_kernels_config(tmp_path, monkeypatch):
    """gen-tests' scenarios ask for KSM and THP; the run stage's fragments carry both, so the
    kernels of a run with the scenarios are the kernels of a run without (one build, not two),
    and an option nobody ships gets a fragment of its own, stable across calls."""
    from kpatchkit.gentests.render import load_scenarios

    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path))
    wanted = sorted({o for sc in load_scenarios().values() for o in sc["kconfig"]})
    assert "KSM" in wanted
    for debug in (True, False):
        plain = kernel_fragments("tcg", debug)
        assert kernel_fragments("tcg", debug, guest_options=wanted) == plain
    extra = kernel_fragments("tcg", True, guest_options=["KSM", "CONFIG_NUMA"])
    assert extra[:-1] == kernel_fragments("tcg", True)
    assert kconfig.load_fragment(extra[-1]).options == {"CONFIG_NUMA": "y"}
    assert kernel_fragments("tcg", True, guest_options=["NUMA"]) == extra
    hashes = {kconfig.fragments_hash(kconfig.load_fragments(f))
              for f in (extra, kernel_fragments("tcg", True))}
    assert len(hashes) == 2


def test_unmet_options_reports_value_and_unset():
    final = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n"
    bad = kconfig.unmet_options({"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_C": "y",
                                 "CONFIG_D": "n"}, final)
    assert bad == {"CONFIG_B": ("y", "n"), "CONFIG_C": ("y", "m")}


@pytest.mark.tree
@pytest.mark.build
def test_option_that_does_not_stick_is_an_error(tmp_path: Path):
    """KASAN needs SLUB; tinyconfig picks SLOB: merge + olddefconfig drops it -> InfraError."""
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree("deb61")
    frag = tmp_path / "needs-slub.config"
    frag.write_text("# CONFIG_SLUB is not set\nCONFIG_SLOB=y\nCONFIG_KASAN=y\n")
    with pytest.raises(InfraError) as err:
        kbuild.prepared_build(tree.path, tree.head, ["kvm-base", str(frag)])
    assert "CONFIG_KASAN=y (got n, fragment needs-slub)" in str(err.value)
    assert "CONFIG_KVM" not in str(err.value).replace("CONFIG_KASAN", "")
