"""Check ids are the members of one enum: every member is described in CHECKS, no module spells
an id as a string literal, and what leaves kpatchkit (records, JSON, SARIF) holds plain strings.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from kpatchkit.analyze.engine import _finding
from kpatchkit.analyze.lockstate import RawFinding
from kpatchkit.records.checks import CHECKS, CheckId
from kpatchkit.sarif import to_sarif

PKG = Path(__file__).resolve().parents[2] / "kpatchkit"
HOME = PKG / "records" / "checks.py"


def test_every_check_id_is_described_once() -> None:
    assert list(CHECKS) == list(CheckId)
    assert all(key is c.id for key, c in CHECKS.items())


def _literal_ids(path: Path, root: Path = PKG) -> list[str]:
    """``file:line: 'id'`` for every string constant of ``path`` that is a check id."""
    ids = {c.value for c in CheckId}
    return [f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and node.value in ids]


def test_no_check_id_is_spelt_outside_the_enum() -> None:
    hits = [hit for path in sorted(PKG.rglob("*.py")) if path != HOME
            for hit in _literal_ids(path)]
    assert not hits, "use kpatchkit.records.checks.CheckId:\n" + "\n".join(hits)


def test_the_scan_sees_a_literal(tmp_path: Path) -> None:
    """The scan above is not vacuous: a literal id is found, the enum member is not."""
    mod = tmp_path / "probe.py"
    mod.write_text('A = "lock-imbalance"\nB = CheckId.DOUBLE_LOCK\nC = "no lock-imbalance"\n')
    assert _literal_ids(mod, tmp_path) == ["probe.py:1: 'lock-imbalance'"]


def test_ids_leave_as_plain_strings() -> None:
    finding = _finding(RawFinding(CheckId.SLEEP_IN_RCU, "f", 3, "m", []), "a.c")
    assert type(finding.check) is str
    data = finding.to_json()
    assert type(data["check"]) is str and data["check"] == "sleep-in-rcu"
    assert json.dumps({CheckId.LOCK_IMBALANCE: CheckId.DOUBLE_LOCK}) == \
        '{"lock-imbalance": "double-lock"}'
    assert f"{CheckId.RCU_LEAK}" == "rcu-leak" and str(CheckId.RCU_LEAK) == "rcu-leak"
    rules = to_sarif([finding])["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.value for c in CheckId]
    assert all(type(r["id"]) is str for r in rules)
