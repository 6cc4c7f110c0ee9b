"""Render the COW-write scenarios (``kselftests/scenarios.toml``) into C selftests for a tree."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

import kpatchkit
from kpatchkit.errors import KpatchkitError
from kpatchkit.gentests.probe import probe_tree
from kpatchkit.knowledge import ListOf, OneOf, Opt, Table, TableOf, Where, load_toml
from kpatchkit.records.gentests import GeneratedTest, SelftestLib
from kpatchkit.records.tree import TreeInfo

# Keys of a scenario table that describe it; everything else is a template variable.
_META = {"template", "title", "description", "phases", "metric_phase", "kconfig", "expect",
         "timeout", "args", "vcpus"}
MANIFEST = "gentests.json"
FRAGMENT = "gentests.config"
HEADER = "cow_util.h"  # the helpers every test includes, rendered once per output directory

_BOUND = {"min": Opt(float), "max": Opt(float)}
# [scenario.ID.expect]: the kind, and per metric a bound per kernel (kpatchkit.records.gentests).
_EXPECT = Table({"kind": OneOf("claim", "control", "correctness"), "basis": str,
                 "control": Opt(bool)}, rest={"base": Opt(_BOUND), "patched": Opt(_BOUND)})
_FIELDS = {"template": str, "title": str, "description": str, "phases": ListOf(str, min=1),
           "metric_phase": Opt(str), "kconfig": Opt(ListOf(str)), "expect": Opt(_EXPECT),
           "timeout": Opt(int), "pages": Opt(int), "args": Opt(ListOf(str)), "vcpus": Opt(int)}
_VAR = (bool, int, float, str)  # any other key: a template variable
_SCENARIO = Where(Table(_FIELDS, rest=_VAR), lambda sc: (
    ("metric_phase", f"{sc['metric_phase']!r} is not one of its phases")
    if sc.get("metric_phase", sc["phases"][0]) not in sc["phases"] else None))


def _defaults_given(data: dict) -> tuple[str, str] | None:
    """pages and timeout: in each scenario or in [defaults] (render_root() reads both)."""
    for sid, sc in data.get("scenario", {}).items():
        for key in ("pages", "timeout"):
            if key not in sc and key not in data.get("defaults", {}):
                return f"scenario.{sid}.{key}", "required key is missing (and not in [defaults])"
    return None


_DEFAULTS = Table({k: v if isinstance(v, Opt) else Opt(v) for k, v in _FIELDS.items()}, rest=_VAR)
SCHEMA = Where({"defaults": Opt(_DEFAULTS), "scenario": Opt(TableOf(_SCENARIO))}, _defaults_given)


def kselftests_dir() -> Path:
    """The ``kselftests/`` folder at the top of the checkout (templates + scenarios)."""
    return Path(kpatchkit.__file__).resolve().parents[1] / "kselftests"


@cache
def load_scenarios(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Scenario id -> its table with ``[defaults]`` filled in, in file order."""
    path = path or kselftests_dir() / "scenarios.toml"
    data = load_toml(path, SCHEMA)
    defaults = data.get("defaults", {})
    out: dict[str, dict[str, Any]] = {}
    for sid, table in data.get("scenario", {}).items():
        merged = {**defaults, **table}
        merged["kconfig"] = sorted(set(defaults.get("kconfig", [])) | set(table.get("kconfig", [])))
        out[sid] = merged
    return out


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(kselftests_dir() / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # C, not HTML
    )
    env.filters["split_lines"] = lambda s: s.split("\n")
    return env


def binary_name(scenario_id: str) -> str:
    """The binary (and TAP) name of a scenario's test."""
    return f"{scenario_id}_test"


def select_scenarios(scenarios: list[str] | None) -> list[str]:
    """The scenario ids to render (all when ``scenarios`` is empty); unknown ones are an error."""
    known = load_scenarios()
    if not scenarios:
        return list(known)
    unknown = [s for s in scenarios if s not in known]
    if unknown:
        raise KpatchkitError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)}")
    return list(dict.fromkeys(scenarios))


def render_one(lib: SelftestLib, scenario_id: str) -> str:
    """The C source of one scenario for the library ``lib`` describes."""
    sc = load_scenarios()[scenario_id]
    variables = {k: v for k, v in sc.items() if k not in _META and k != "defaults"}
    try:
        return _env().get_template(sc["template"]).render(
            lib=lib,
            name=binary_name(scenario_id),
            scenario_id=scenario_id,
            template=sc["template"],
            title=sc["title"],
            description=" ".join(sc["description"].split()),
            metric_phase=sc.get("metric_phase"),
            vcpus=int(sc.get("vcpus", 1)),
            **variables,
        )
    except jinja2.TemplateError as exc:  # a defect in the data or templates, not user input
        raise KpatchkitError(f"scenario {scenario_id}: template {sc['template']}: {exc}") from exc


def render_header(lib: SelftestLib) -> str:
    """The shared helper header (``cow_util.h``) for the library ``lib`` describes."""
    try:
        return _env().get_template(f"{HEADER}.j2").render(lib=lib)
    except jinja2.TemplateError as exc:
        raise KpatchkitError(f"template {HEADER}.j2: {exc}") from exc


def expectations(scenario_id: str) -> dict[str, Any]:
    """The judgement data of a scenario (see ``kpatchkit.records.gentests``)."""
    exp = dict(load_scenarios()[scenario_id].get("expect", {"kind": "correctness"}))
    exp.setdefault("control", exp.get("kind") == "control")
    return exp


def render_root(root: Path, out_dir: Path, scenarios: list[str] | None = None,
                lib: SelftestLib | None = None) -> list[GeneratedTest]:
    """Render the scenarios for the kernel source tree at ``root`` into ``out_dir``."""
    lib = lib or probe_tree(root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = out_dir / HEADER
    header.write_text(render_header(lib))
    tests = []
    for sid in select_scenarios(scenarios):
        sc = load_scenarios()[sid]
        name = binary_name(sid)
        c_path = out_dir / f"{name}.c"
        c_path.write_text(render_one(lib, sid))
        tests.append(GeneratedTest(
            name=name, c_path=c_path, scenario=sid, expectations=expectations(sid),
            title=sc["title"], phases=list(sc["phases"]), metric_phase=sc.get("metric_phase"),
            pages=int(sc["pages"]), vcpus=int(sc.get("vcpus", 1)),
            timeout=int(sc["timeout"]), kconfig=list(sc["kconfig"]),
            args=list(sc.get("args", [])), tree_version=lib.tree_version,
            headers=[header],
        ))
    manifest = {"library": lib.to_json(), "tests": [t.to_json() for t in tests],
                "kconfig_fragment": FRAGMENT, "header": HEADER}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / FRAGMENT).write_text(kconfig_fragment(tests))
    return tests


def kconfig_fragment(tests: list[GeneratedTest]) -> str:
    """A .config fragment with every guest option the tests ask for (e.g. KSM for cow_ksm).

    ``kpatchkit.kernel.kbuild`` takes it as a fragment path; without it a test whose option is
    missing skips (KSM) rather than fails.
    """
    lines = ["# Guest kernel options of the gen-tests scenarios (kselftests/scenarios.toml)"]
    for opt in sorted({o for t in tests for o in t.kconfig}):
        users = sorted(t.scenario for t in tests if opt in t.kconfig)
        why = "all scenarios" if len(users) == len(tests) > 1 else ", ".join(users)
        lines.append(f"# {why}")
        lines.append(f"CONFIG_{opt}=y")
    return "\n".join(lines) + "\n"


def render_scenarios(tree: TreeInfo, out_dir: Path,
                     scenarios: list[str] | None = None) -> list[GeneratedTest]:
    """Render the scenarios (all by default) as selftests for ``tree``'s selftest library.

    Writes ``out_dir/<scenario>_test.c``, the ``cow_util.h`` they include, and
    ``out_dir/gentests.json`` (the library probe and the tests); returns one
    ``GeneratedTest`` per scenario, in scenario-file order.
    """
    return render_root(Path(tree.path), out_dir, scenarios)
