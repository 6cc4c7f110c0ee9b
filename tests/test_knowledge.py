"""Every knowledge file loads through ``kpatchkit.knowledge.load_toml`` against its schema.

For each file: the shipped one loads, and broken copies (a wrong type, an unknown key, a missing
required key, a bad enum value or regex) raise ``KnowledgeError`` naming the file and the key.
The copies are the parsed file, mutated, written back with the small TOML writer below. Fast:
no kernel tree.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kpatchkit.errors import EXIT_INFRA, InternalError
from kpatchkit.gentests.render import kselftests_dir
from kpatchkit.knowledge import KnowledgeError, ListOf, OneOf, Opt, Regex, Where, load_toml

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "kpatchkit"

# file (relative to the checkout) -> (module, loader, path constant or None, loader's arguments)
LOADERS: dict[str, tuple[str, str, str | None, tuple]] = {
    "kpatchkit/apply/data/drift.toml": ("kpatchkit.apply.drift", "load_rules", "DATA", ()),
    "kpatchkit/apply/data/obsolete.toml": ("kpatchkit.apply.obsolete", "_known", "DATA", ()),
    "kpatchkit/apply/data/places.toml": ("kpatchkit.apply.symbols", "places", "DATA", ()),
    "kpatchkit/fetch/data/subject.toml": ("kpatchkit.fetch.subject", "_grammar", "DATA", ()),
    "kpatchkit/fetch/data/limits.toml": ("kpatchkit.fetch.limits", "_table", "DATA", ()),
    "kpatchkit/fetch/data/upstream.toml": ("kpatchkit.fetch.upstream", "_rules", "DATA", ()),
    "kpatchkit/fetch/data/archives.toml": ("kpatchkit.fetch.webarchive", "shapes", "DATA", ()),
    "kpatchkit/gentests/probe.toml": ("kpatchkit.gentests.probe", "_rules", "_DATA", ()),
    "kselftests/scenarios.toml": ("kpatchkit.gentests.render", "load_scenarios", None, ()),
    "kpatchkit/report/data/expectations.toml": ("kpatchkit.report.judge", "expectation_data",
                                                "DATA", ()),
    "kpatchkit/claims/data/claims.toml": ("kpatchkit.claims.claims", "load_claims", "CLAIMS", ()),
    "kpatchkit/kernel/data/selftests.toml": ("kpatchkit.kernel.selftests", "_quirks", "DATA",
                                             ("6.1.192",)),
    "kpatchkit/lava/lava.toml": ("kpatchkit.lava.jobs", "config", "DATA", ()),
    "kpatchkit/guest/data/splats.toml": ("kpatchkit.guest.splats", "_rules", "DATA", ()),
    # a directory constant: the copy goes in a directory of its own under the shipped name
    "kpatchkit/guest/data/guest.toml": ("kpatchkit.guest.initramfs", "guest_config", "DATA",
                                        ()),
    "kpatchkit/run/data/affected.toml": ("kpatchkit.run.affected", "load_map", "DATA", ()),
    "kpatchkit/guest/data/upstream-6.1.toml": ("kpatchkit.guest.lists", "upstream_tests", "DATA",
                                               ("6.1.192",)),
    "kpatchkit/guest/data/upstream-6.12.toml": ("kpatchkit.guest.lists", "upstream_tests", "DATA",
                                                ("6.12.117",)),
    # the analyzer's seven files: one loader per file, data_file(name), in DATA (a directory)
    **{f"kpatchkit/analyze/data/{name}": ("kpatchkit.analyze.knowledge", "data_file", "DATA",
                                          (name,))
       for name in ("primitives.toml", "iterators.toml", "contracts.toml", "stubs.toml",
                    "rcu.toml", "guards.toml", "orders.toml")},
}


@dataclass(frozen=True)
class Mut:
    """A change to the parsed file: set ``at`` to ``value`` (``DEL``: delete it); the error must
    name ``key`` (default: ``at`` spelled as a key path) and say ``says``."""

    at: tuple
    value: Any
    says: str
    key: str | None = None

    def keypath(self) -> str:
        if self.key is not None:
            return self.key
        out = ""
        for part in self.at:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
                out += f".{name}" if out else name
        return out

    def apply(self, data: dict) -> dict:
        data = copy.deepcopy(data)
        node = data
        for part in self.at[:-1]:
            node = node[part]
        if self.value is DEL:
            del node[self.at[-1]]
        else:
            node[self.at[-1]] = self.value
        return data


DEL = object()
TYPE, UNKNOWN, MISSING, ENUM = "expected", "unknown key", "required key is missing", "is not one of"
REGEX = "not a valid regular expression"

MUTATIONS: dict[str, list[Mut]] = {
    "kpatchkit/apply/data/drift.toml": [
        Mut(("rule", 1, "when", 0, "probe"), "struct-lack-member", ENUM),
        Mut(("rule", 0, "id"), 3, TYPE),
        Mut(("rule", 0, "sorce"), "x", UNKNOWN),
        Mut(("rule", 0, "source"), DEL, MISSING),
        Mut(("rule", 0, "old"), "(", REGEX),
        Mut(("rule", 1, "when", 1, "params"), DEL, MISSING),
        Mut(("rule", 0, "when", 0, "function"), "f", UNKNOWN),
    ],
    "kpatchkit/apply/data/places.toml": [
        Mut(("functions", "specs"), "arch/x86/kvm", TYPE),
        Mut(("symbols", "dirs"), ["include"], UNKNOWN),
        Mut(("functions", "why"), DEL, MISSING),
    ],
    "kpatchkit/apply/data/obsolete.toml": [
        Mut(("removed", 0, "removed_in"), 6.10, TYPE),
        Mut(("removed", 0, "note"), "x", UNKNOWN),
        Mut(("removed", 1, "evidence"), DEL, MISSING),
    ],
    "kpatchkit/fetch/data/subject.toml": [
        Mut(("version_regex",), 5, TYPE),
        Mut(("flags",), ["RFC"], UNKNOWN),
        Mut(("patch_words",), DEL, MISSING),
        Mut(("counter_regex",), r"^(\d+/(\d+)$", REGEX),
    ],
    "kpatchkit/fetch/data/limits.toml": [
        Mut(("mails", "max"), "20000", TYPE),
        Mut(("mails", "maximum"), 1, UNKNOWN),
        Mut(("series_parts", "why"), DEL, MISSING),
        Mut(("request_deadline", "kind"), "infra", ENUM),
    ],
    "kpatchkit/fetch/data/upstream.toml": [
        Mut(("spelling", 0, "regex"), r"^commit (?P<id>{sha})$", "lacks group(s) sha"),
        Mut(("failed_notice", "marker"), DEL, MISSING),
        Mut(("failed_notice", "subject"), "x", UNKNOWN),
        Mut(("sha",), 7, TYPE),
    ],
    "kpatchkit/fetch/data/archives.toml": [
        Mut(("headers", "subject"), "subj", ENUM),
        Mut(("deobfuscate", 2, "only_without_at"), "yes", TYPE),
        Mut(("shape", 0, "nois"), [], UNKNOWN),
        Mut(("hidden_domain",), DEL, MISSING),
        Mut(("shape", 1, "noise", 0), "[", REGEX),
        Mut(("timezones", "EST"), "-5", "no UTC offset"),
    ],
    "kpatchkit/gentests/probe.toml": [
        Mut(("arch",), {"dirs": ["x86"]}, UNKNOWN),  # the kernel service's selftests.toml
        Mut(("stats", "patern"), "x", UNKNOWN),
        Mut(("feature", "vm_shape", "files"), DEL, MISSING),
        Mut(("feature", "virt_map", "why"), DEL, "required when required = true"),
        Mut(("feature", "vcpu_get_stat"), DEL, MISSING),
        Mut(("feature", "dirty_log", "patterns", 0), "(", REGEX),
    ],
    "kselftests/scenarios.toml": [
        Mut(("defaults", "pages"), "1024", TYPE),
        Mut(("scenario", "cow_fork", "template"), DEL, MISSING),  # other keys are variables
        Mut(("scenario", "cow_anon_thp_off", "thp"), [1], "expected bool"),
        Mut(("scenario", "cow_fork", "title"), DEL, MISSING),
        Mut(("scenario", "cow_ksm", "expect", "kind"), "claims", ENUM),
        Mut(("scenario", "cow_ksm", "expect", "faults_per_cow_write", "base", "min"), "1.8",
            TYPE),
        Mut(("scenario", "cow_ksm", "expect", "faults_per_cow_write", "bse"), {}, UNKNOWN),
        Mut(("scenario", "cow_ksm", "metric_phase"), "wrte", "not one of its phases"),
        Mut(("defaults", "pages"), DEL, MISSING, key="scenario.cow_anon_thp_off.pages"),
    ],
    "kpatchkit/report/data/expectations.toml": [
        Mut(("regression", "tolerance"), "0.1", TYPE),
        Mut(("reference", "url"), "https://lore.kernel.org/", UNKNOWN),
        Mut(("reference", "source"), DEL, MISSING),
        Mut(("regression", "scenario", "cow_two_vcpus", "reason"), DEL, MISSING),
    ],
    "kpatchkit/claims/data/claims.toml": [
        Mut(("claim", 0, "vcpus"), "8", TYPE),
        Mut(("claim", 0, "vcpus"), 8.5, TYPE),
        Mut(("verdict", "share"), 0.5, UNKNOWN),
        Mut(("claim", 2, "statement"), DEL, MISSING),
    ],
    "kpatchkit/kernel/data/selftests.toml": [
        Mut(("arch", "dirs"), "x86", TYPE),
        Mut(("arch", "dirs"), [], "needs at least 1"),
        Mut(("arch", "makefiles"), DEL, MISSING),
        Mut(("arch", "dir"), ["x86"], UNKNOWN),
        Mut(("arch",), DEL, MISSING),
        Mut(("quirk", 0, "versions"), "6.1.", TYPE),
        Mut(("quirk", 0, "cflags"), [], UNKNOWN),
        Mut(("quirk", 0, "why"), DEL, MISSING),
    ],
    "kpatchkit/lava/lava.toml": [
        Mut(("visibility",), "everyone", ENUM),
        Mut(("timeouts", "deploy"), "10", TYPE),
        Mut(("monitor", "stop"), "x", UNKNOWN),
        Mut(("qemu", "common"), DEL, MISSING),
        Mut(("monitor", "pattern"), "(?P<test_case_id>x)", "lacks group(s) result"),
        Mut(("monitor", "fixupdict", " # SKIP"), "skipped", ENUM),
    ],
    "kpatchkit/guest/data/splats.toml": [
        Mut(("splat", 3, "kind"), ["lockdep"], TYPE),
        Mut(("splat", 0, "regex"), "x", UNKNOWN),
        Mut(("trace", "prefer"), DEL, MISSING),
        Mut(("not_splats", "lines", 1), "lockdep: (", REGEX),
    ],
    "kpatchkit/guest/data/guest.toml": [
        Mut(("qemu", "smp"), "1", TYPE),
        Mut(("qemu", "tcg_vendor"), "AuthenticAMD", ENUM),
        Mut(("qemu", "tcg_vendor"), DEL, MISSING),
        Mut(("timeouts", "test"), 1, UNKNOWN),
        Mut(("qemu", "binary"), DEL, MISSING),
    ],
    "kpatchkit/run/data/affected.toml": [
        Mut(("file", 0, "paths"), "arch/x86/kvm/mmu/tdp_mmu.c", TYPE),
        Mut(("file", 1, "test"), [], UNKNOWN),
        Mut(("file", 2, "why"), DEL, MISSING),
    ],
    "kpatchkit/guest/data/upstream-6.1.toml": [
        Mut(("test", 0, "timeout"), "600", TYPE),
        Mut(("test", 1, "arg"), [], UNKNOWN),
        Mut(("known", 0, "reason"), DEL, MISSING),
        Mut(("known", 0, "accel"), "TCG", ENUM),
    ],
    "kpatchkit/guest/data/upstream-6.12.toml": [
        Mut(("defaults", "timeout"), 300.0, TYPE),
        Mut(("test", 0, "name"), DEL, MISSING),
        Mut(("known", 1, "accl"), "tcg", UNKNOWN),
    ],
    "kpatchkit/analyze/data/primitives.toml": [
        Mut(("prim", "read_lock", "mode"), "shared", ENUM),
        Mut(("prim", "msleep", "op"), "sleeps", ENUM),
        Mut(("prim", "cond_resched_rwlock_read", "mode"), "spin", ENUM),  # need_mmu(mode)
        Mut(("prim", "lockdep_assert_held", "requires"), "shared", ENUM),
        Mut(("prim", "spin_lock_irq", "irq"), "yes", TYPE),
        Mut(("prim", "kmalloc", "sleeps_if_gfp_arg"), "1", TYPE),
        Mut(("prim", "rcu_read_lock", "mode"), "read", UNKNOWN),  # the op chooses the fields
        Mut(("prim", "write_lock", "mode"), DEL, MISSING),
        Mut(("prim", "write_lock", "source"), DEL, MISSING),
        Mut(("prim", "write_lock", "source"), " ", "cites its kernel source"),
        Mut(("prim", "lockdep_assert_held", "requires"), DEL, "requires or requires_by_arg"),
        Mut(("prim", "kmalloc", "sleeps_if_gfp_arg"), -1, "0 or more"),
        Mut(("prim", "kvm_lockdep_assert_mmu_lock_held", "lock"), "kvm->mmu_lock", ENUM),
        Mut(("mmu_lock", "match"), "mmu_lock($", REGEX),
        Mut(("gfp", "sleeps"), "GFP_KERNEL", TYPE),
        Mut(("gfp", "source"), DEL, MISSING),
        Mut(("predicates", "names", 0), 3, TYPE),
        Mut(("predicate",), {}, UNKNOWN),
    ],
    "kpatchkit/analyze/data/iterators.toml": [
        Mut(("iterator", "for_each_tdp_mmu_root", "mmu_lock"), "shared", ENUM),
        Mut(("iterator", "for_each_tdp_pte", "rcu"), "true", TYPE),
        Mut(("iterator", "for_each_tdp_pte", "yeild_safe"), True, UNKNOWN),
        Mut(("iterator", "list_for_each_entry_rcu", "source"), DEL, MISSING),
        Mut(("iterator", "for_each_tdp_mmu_root", "mmu_lock_by_arg"), 2, "not both"),
    ],
    "kpatchkit/analyze/data/contracts.toml": [
        Mut(("entry", "kvm_tdp_mmu_map", "mmu_lock"), "shared", ENUM),
        Mut(("entry", "mmu_try_to_unsync_pages", "mmu_lock"), "read|wrte", ENUM),
        Mut(("entry", "kvm_tdp_mmu_zap_sp", "rcu"), "1", TYPE),
        Mut(("entry", "kvm_tdp_mmu_zap_sp", "lock"), "mmu_lock", UNKNOWN),
        Mut(("entry", "kvm_tdp_mmu_map", "source"), DEL, MISSING),
        Mut(("entry", "kvm_tdp_mmu_try_split_huge_pages", "mmu_lock_by_arg"), -5, "0 or more"),
    ],
    "kpatchkit/analyze/data/stubs.toml": [  # every key optional (the stubs read them by .get)
        Mut(("typedefs",), "u8", TYPE),
        Mut(("defines", "PAGE_SIZE"), 4096, TYPE),
        Mut(("iterator",), [], UNKNOWN),
        Mut(("macros", "__aligned x"), "", "not a macro name"),
    ],
    "kpatchkit/analyze/data/rcu.toml": [
        Mut(("headers",), "arch/x86/kvm/mmu/tdp_iter.h", TYPE),
        Mut(("accessor", "rcu_dereference", "takes_rcu_args"), 0, TYPE),
        Mut(("accessor", "rcu_dereference", "sorce"), "x", UNKNOWN),
        Mut(("accessor", "rcu_access_pointer", "source"), DEL, MISSING),
        Mut(("source",), DEL, MISSING),
    ],
    "kpatchkit/analyze/data/guards.toml": [
        Mut(("guard", "sp-unsync", "mmu"), "read", ENUM),
        Mut(("guard", "sp-unsync", "stores", 0), "->unsync($", REGEX),
        Mut(("guard", "tdp-mmu-roots", "lock"), "[", REGEX),
        Mut(("guard", "tdp-mmu-roots", "args"), "(", REGEX),
        Mut(("guard", "tdp-mmu-roots", "files"), "arch/x86/kvm/mmu/tdp_mmu.c", TYPE),
        Mut(("guard", "tdp-mmu-pages", "lock_name"), "x", UNKNOWN),
        Mut(("guard", "nx-huge-page-list", "what"), DEL, MISSING),
        Mut(("guard", "tdp-mmu-roots", "args"), DEL, "calls need an args regex"),
        Mut(("guard", "sp-unsync", "stores"), DEL, "needs stores, calls or helpers"),
    ],
    "kpatchkit/analyze/data/orders.toml": [
        Mut(("order", "unfreeze-after-flush", "strict"), "true", TYPE),
        Mut(("order", "tlb-flush-before-rcu-drop", "function"), ["f"], UNKNOWN),
        Mut(("order", "unfreeze-after-flush", "then"), DEL, MISSING),
        Mut(("order", "unfreeze-after-flush", "functions"), DEL, "give functions or files"),
        Mut(("order", "host-walk-with-irqs-off", "first"), [], "needs at least 1"),
    ],
}


def dumps(data: dict) -> str:
    """TOML for parsed TOML data: one ``key = value`` line per top-level key, inline tables."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)
    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in data.items())


def _loader(rel: str, monkeypatch: pytest.MonkeyPatch, path: Path) -> Callable[[], Any]:
    """The module's own loader, pointed at ``path`` (its path parameter or its constant)."""
    module, name, const, args = LOADERS[rel]
    mod = importlib.import_module(module)
    fn = getattr(mod, name)
    if const:  # a directory constant (guest's data/) gets the copy's directory
        shipped = Path(str(getattr(mod, const)))
        monkeypatch.setattr(mod, const, path.parent if shipped.is_dir() else path)
    clear = getattr(fn, "cache_clear", lambda: None)
    clear()
    if "path" in inspect.signature(fn).parameters:
        return lambda: fn(*args, path=path)
    return lambda: fn(*args)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Any:
    """No loader keeps a copy's data (or the shipped data cached before a test) after it."""
    def clear() -> None:
        for module, name, _, _ in LOADERS.values():
            getattr(getattr(importlib.import_module(module), name), "cache_clear", lambda: None)()
    clear()
    yield
    clear()


def test_every_data_file_is_in_the_table() -> None:
    files = {p.relative_to(REPO).as_posix() for p in PKG.rglob("*.toml")}
    files.add("kselftests/scenarios.toml")
    assert files == set(LOADERS) == set(MUTATIONS)


def test_only_the_loader_parses_toml() -> None:
    """No module of kpatchkit calls tomllib itself."""
    callers = {p.relative_to(REPO).as_posix() for p in PKG.rglob("*.py")
               if "tomllib" in p.read_text()}
    assert callers == {"kpatchkit/knowledge.py"}


@pytest.mark.parametrize("rel", sorted(LOADERS))
def test_the_shipped_file_loads(rel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = REPO / rel
    assert _loader(rel, monkeypatch, path)() is not None
    module, name, const, _ = LOADERS[rel]
    if const:  # the constant is the shipped file (or its directory)
        shipped = Path(str(getattr(importlib.import_module(module), const))).resolve()
        assert shipped == (path.parent if shipped.is_dir() else path)
    else:
        assert kselftests_dir() / "scenarios.toml" == path


@pytest.mark.parametrize("rel,mut", [(rel, m) for rel, ms in sorted(MUTATIONS.items())
                                     for m in ms],
                         ids=lambda x: x if isinstance(x, str) else x.keypath())
def test_a_broken_copy_names_the_file_and_key(rel: str, mut: Mut, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    data = tomllib.loads((REPO / rel).read_text())
    assert tomllib.loads(dumps(data)) == data  # the writer round-trips the shipped file
    broken = tmp_path / Path(rel).name
    broken.write_text(dumps(mut.apply(data)))
    with pytest.raises(KnowledgeError) as err:
        _loader(rel, monkeypatch, broken)()
    assert str(err.value).startswith(f"{broken}: {mut.keypath()}: "), str(err.value)
    assert mut.says in str(err.value)
    assert err.value.payload == {"file": str(broken), "key": mut.keypath()}


@pytest.mark.parametrize("rel", sorted(LOADERS))
def test_a_file_that_is_not_toml_names_the_line(rel: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / Path(rel).name
    broken.write_text("# fine\nkey = = 1\nother = 2\n")
    with pytest.raises(KnowledgeError, match=rf"^{re.escape(str(broken))}: line 2: not TOML: "):
        _loader(rel, monkeypatch, broken)()
    broken.write_text("a = 1\nkey = 'unterminated\n")  # tomllib: "at end of document"
    with pytest.raises(KnowledgeError, match=rf"^{re.escape(str(broken))}: line 2: not TOML: "):
        _loader(rel, monkeypatch, broken)()


def test_the_message_of_the_issue(tmp_path: Path) -> None:
    """A mistyped drift probe, as issue 17 spells the message, with the shipped file's name."""
    from kpatchkit.apply import drift

    text = drift.DATA.read_text().replace('probe = "struct-has-member"',
                                          'probe = "struct-lack-member"', 1)
    with pytest.raises(KnowledgeError) as err:
        load_toml(_Edited(drift.DATA, text), drift.SCHEMA)
    assert str(err.value) == (
        "kpatchkit/apply/data/drift.toml: rule[0].when[1].probe: 'struct-lack-member' is not one "
        "of struct-lacks-member, struct-has-member, function-absent, function-params")
    assert isinstance(err.value, InternalError) and err.value.exit_code == EXIT_INFRA


@dataclass
class _Edited:
    """A file as the loader sees it: the shipped file's name, edited text."""

    path: Path
    text: str

    def read_text(self) -> str:
        return self.text

    def __str__(self) -> str:
        return str(self.path)


def test_schema_language() -> None:
    """The pieces the loaders use, on small cases."""
    from kpatchkit.knowledge import _Bad, _check

    def bad(value: Any, schema: Any) -> str:
        with pytest.raises(_Bad) as err:
            _check(value, schema, "")
        return f"{err.value.path}: {err.value.message}"

    _check({"a": 1}, {"a": int, "b": Opt(str)}, "")
    assert bad({"a": True}, {"a": int}) == "a: expected int, got bool True"
    _check({"a": 1}, {"a": float}, "")  # an integer is a fine float
    assert bad({"x": [1, "2"]}, {"x": ListOf(int)}) == "x[1]: expected int, got str '2'"
    assert bad({"x": []}, {"x": ListOf(int, min=1)}) == "x: needs at least 1 item(s), has 0"
    assert bad({"x": 2}, {"x": (OneOf("a"), str)}).startswith("x: 2 is not one of a or expected")
    assert bad({"x": "a"}, {"x": Regex("g")}) == "x: regular expression lacks group(s) g"
    assert bad({"x": 1}, Where({"x": int}, lambda d: ("x", "odd") if d["x"] % 2 else None)) \
        == "x: odd"
    assert bad({"a b": 1}, {}).startswith('"a b": unknown key')
