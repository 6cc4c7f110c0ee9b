"""DESIGN.md's layers as a test: cli -> review -> stages -> services -> records.

A stage package's modules import their own package, the services (records, kernel, trees, guest,
cache, console, errors, atomic, sarif, prune) and nothing of another stage. Composition is
review's job; the thin ``command.py`` modules may compose too (a command is a small review).
The few edges still crossing are listed below with why and where they should go: a new one
fails here until it is moved down or listed with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "kpatchkit"
STAGES = {"fetch", "apply", "analyze", "gentests", "run", "report", "claims", "lava"}
# module (relative to kpatchkit/) -> {stage package it may import: why}
KNOWN: dict[str, dict[str, str]] = {}


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "kpatchkit":
                out |= {f"kpatchkit.{a.name}" for a in node.names}
            elif node.module.startswith("kpatchkit."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("kpatchkit.")}
    return out


def test_stages_import_only_services_records_and_themselves() -> None:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        own = rel.split("/")[0]
        if own not in STAGES or path.name == "command.py" or path.name.endswith("_command.py"):
            continue
        for mod in sorted(_imports(path)):
            target = mod.split(".")[1]
            if target == "review":
                bad.append(f"{rel} imports {mod}: only commands compose through review")
            elif target in STAGES and target != own and target not in KNOWN.get(rel, {}):
                bad.append(f"{rel} imports {mod}: another stage's module (move the shared "
                           "piece to records/ or a service, or compose in review)")
    assert not bad, "\n".join(bad)


def test_the_known_crossings_still_exist() -> None:
    """An edge that was moved down must leave the list too (the list is not a blank cheque)."""
    for rel, allowed in KNOWN.items():
        targets = {m.split(".")[1] for m in _imports(PKG / rel)}
        assert set(allowed) <= targets, f"{rel} no longer imports {set(allowed) - targets}"


def test_services_and_records_import_no_stage() -> None:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.split("/")[0] not in ("records", "kernel", "trees", "guest") and "/" in rel:
            continue
        if rel in ("cli.py", "__main__.py"):
            continue
        for mod in _imports(path):
            if mod.split(".")[1] in STAGES | {"review"}:
                bad.append(f"{rel} imports {mod}")
    assert not bad, "\n".join(bad)


def test_no_dynamic_imports() -> None:
    hits = [p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")
            if "importlib.import_module" in p.read_text() or "__import__(" in p.read_text()]
    assert not hits, hits


def test_no_importlib() -> None:
    """Modules are imported by name and data files read by path (``Path(__file__)``, through
    kpatchkit/knowledge.py), so ``importlib`` has no use in the package: not even mentioned."""
    hits = [p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")
            if "importlib" in p.read_text()]
    assert not hits, hits


def test_no_module_imports_another_modules_private_names() -> None:
    """``from kpatchkit.x import _name`` reaches into another module's insides: a piece two
    modules share is public in the module that owns it (dunders like ``__version__`` are)."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kpatchkit"):
                bad += [f"{path.relative_to(PKG).as_posix()}:{node.lineno} imports {a.name} "
                        f"from {node.module}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "\n".join(bad)
