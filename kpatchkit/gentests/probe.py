"""Probe a tree's KVM selftest library for what the templates may use.

The library changes between releases (6.1 has stats-fd readers but no ``vcpu_get_stat()``,
numbered ``GUEST_ASSERT_N`` macros and explicit ``ucall_init()``; 6.12 has printf-style guest
asserts and automatic ucall set-up; 6.14 adds ``vcpu_get_stat()``), so the tests are rendered
for what *this* tree offers. The patterns are data (``probe.toml``); this module only reads the
tree's text at run time.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from kpatchkit.errors import KpatchkitError
from kpatchkit.kernel.selftests import arch_dirs
from kpatchkit.knowledge import ListOf, Opt, Regex, Table, Where, load_toml
from kpatchkit.records.gentests import SelftestLib

SELFTEST_DIR = Path("tools/testing/selftests/kvm")
_DATA = Path(__file__).with_name("probe.toml")
_FEATURE = Where({"files": ListOf(str, min=1), "patterns": ListOf(Regex(), min=1),
                  "root": Opt(bool), "required": Opt(bool), "why": Opt(str)},
                 lambda f: ("why", "required when required = true")
                 if f.get("required") and "why" not in f else None)
SCHEMA = {
    "stats": {"file": str, "pattern": Regex(), "needed": ListOf(str)},
    # the features probe_tree() reads by name, and any others (recorded in SelftestLib.features)
    "feature": Table({name: _FEATURE for name in ("vcpu_get_stat", "stats_fd_readers",
                                                  "guest_assert_printf", "ucall_auto_init")},
                     rest=_FEATURE),
}


@cache
def _rules() -> dict[str, Any]:
    return load_toml(_DATA, SCHEMA)


def _tree_version(root: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` from the top Makefile."""
    text = (root / "Makefile").read_text(errors="replace")[:2000]
    parts = [re.search(rf"^{k}\s*=\s*(\S*)", text, re.M) for k in
             ("VERSION", "PATCHLEVEL", "SUBLEVEL")]
    nums = [m.group(1) for m in parts if m and m.group(1)]
    return ".".join(nums)


def _find(root: Path, base: Path, globs: list[str], pattern: str) -> str | None:
    """Return "relative/file:line" of the first match of ``pattern`` in ``globs``, or None."""
    rx = re.compile(pattern, re.M)
    for g in globs:
        for path in sorted(base.glob(g)):
            text = path.read_text(errors="replace")
            m = rx.search(text)
            if m:
                line = text.count("\n", 0, m.start()) + 1
                return f"{path.relative_to(root)}:{line}"
    return None


def probe_tree(root: Path) -> SelftestLib:
    """Read ``root``'s selftest library and KVM sources; raise if the templates cannot work."""
    root = Path(root)
    kvm = root / SELFTEST_DIR
    if not (kvm / "include").is_dir():
        raise KpatchkitError(f"{root} has no {SELFTEST_DIR}/include: gen-tests needs a kernel "
                             "tree with the KVM selftests (Linux 5.x or later)")
    rules = _rules()
    # the names the x86 directory has had: the kernel service's, which builds what we render
    arch_dir = next((d for d in arch_dirs() if (kvm / "lib" / d).is_dir()), None)
    if arch_dir is None:
        raise KpatchkitError(f"{kvm}/lib has no x86 directory ({arch_dirs()}); "
                             "gen-tests renders x86 tests only")

    features: dict[str, bool] = {}
    evidence: dict[str, str] = {}
    missing: list[str] = []
    for name, rule in rules["feature"].items():
        base = root if rule.get("root") else kvm
        globs = [g.replace("{arch}", arch_dir) for g in rule["files"]]
        where = [_find(root, base, globs, p) for p in rule["patterns"]]
        features[name] = all(where)
        if all(where):
            evidence[name] = where[0] or ""
        elif rule.get("required"):
            missing.append(f"{name} ({rule['why']})")
    if missing:
        raise KpatchkitError(f"the selftest library of {root} lacks what the templates need: "
                             + "; ".join(missing) + ". Use a tree from Linux 6.1 or later")

    st = rules["stats"]
    src = root / st["file"]
    stats = re.findall(st["pattern"], src.read_text(errors="replace")) if src.exists() else []
    absent = [s for s in st["needed"] if s not in stats]
    if absent:
        raise KpatchkitError(f"{src} declares no vCPU statistic {', '.join(absent)}; the tests "
                             "print these per phase: use a tree from Linux 6.1 or later")

    if features["vcpu_get_stat"]:
        stats_api = "vcpu_get_stat"
    elif features["stats_fd_readers"]:
        stats_api = "stats_fd"
    else:
        stats_api = "raw"
    return SelftestLib(
        tree_version=_tree_version(root),
        arch_dir=arch_dir,
        stats_api=stats_api,
        guest_assert="printf" if features["guest_assert_printf"] else "nargs",
        ucall_init="auto" if features["ucall_auto_init"] else "explicit",
        vcpu_stats=stats,
        features=features,
        evidence=evidence,
    )
