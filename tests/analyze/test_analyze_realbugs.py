"""The real-bug corpus (data/real_bugs.toml) on Debian's 6.1.192: every bug found with the right
check in the right function at its line, every correct refactor silent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from analyze_helpers import corpus, deb61_repo

from kpatchkit.analyze import analyze_file
from kpatchkit.analyze.api import source_of
from kpatchkit.analyze.checks import CHECKS

pytestmark = pytest.mark.tree
BUGS, REFACTORS = corpus()


@pytest.fixture(scope="module")
def repo() -> Path:
    return deb61_repo()


def test_corpus_shape() -> None:
    assert len(BUGS) >= 10 and len(REFACTORS) >= 5
    assert {b.check for b in BUGS} <= set(CHECKS)
    upstream = [b for b in BUGS if b.origin == "upstream"]
    assert len(upstream) >= 10 and all(b.subject.startswith("KVM: x86") for b in upstream)
    # Issue 14: at least 10 real upstream fixes, each id checked against public history.
    verified = [b for b in upstream if b.id_verified]
    assert len(verified) >= 10, [b.name for b in upstream if not b.id_verified]
    for b in verified:
        assert re.fullmatch(r"[0-9a-f]{12}", b.commit) and b.verified_by, b.name
        assert b.commit in b.verified_by, b.name  # the full id quoted where it was found
    # The new finding kinds each have a real or comment-stated bug.
    assert {"rcu-address-space", "unguarded-write", "order-violation"} <= {b.check for b in BUGS}


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_real_bug_is_found(repo: Path, bug) -> None:
    text, line = bug.apply(source_of(repo, bug.file, "HEAD"))
    res = analyze_file(repo, bug.file, "HEAD", overlay={bug.file: text})
    got = {(f.check, f.function, f.line) for f in res.findings}
    assert (bug.check, bug.function, line) in got, f"{bug.name}: {sorted(got)}"
    hit = next(f for f in res.findings if (f.check, f.line) == (bug.check, line))
    if bug.check in ("rcu-address-space", "unguarded-write", "order-violation"):
        # The evidence: the annotation, contract or rule, with its source.
        ev = [s for s in hit.trace if s.state == "evidence"]
        assert ev and (".h:" in ev[0].note or ".c:" in ev[0].note), hit.trace
    assert {f.function for f in res.findings} == {bug.function}, sorted(got)


@pytest.mark.parametrize("ref", REFACTORS, ids=[r.name for r in REFACTORS])
def test_correct_refactor_is_silent(repo: Path, ref) -> None:
    text, _ = ref.apply(source_of(repo, ref.file, "HEAD"))
    res = analyze_file(repo, ref.file, "HEAD", overlay={ref.file: text})
    assert res.findings == [], [(f.check, f.function, f.line, f.message) for f in res.findings]


def test_sarif_carries_the_evidence_of_the_new_kinds(repo: Path) -> None:
    import json

    import jsonschema

    from kpatchkit.sarif import to_sarif

    schema = json.loads((Path(__file__).resolve().parents[2] / "kpatchkit" / "report" / "schemas"
                         / "sarif-schema-2.1.0.json").read_text())
    found = []
    for kind in ("rcu-address-space", "unguarded-write", "order-violation"):
        bug = next(b for b in BUGS if b.check == kind)
        text, _ = bug.apply(source_of(repo, bug.file, "HEAD"))
        found += analyze_file(repo, bug.file, "HEAD", overlay={bug.file: text}).findings
    log = to_sarif(found)
    jsonschema.validate(log, schema)
    rules = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"rcu-address-space", "unguarded-write", "order-violation"} <= rules
    for res in log["runs"][0]["results"]:
        assert res["properties"]["evidence"], res
        assert all(s["location"]["message"]["text"] != "evidence"
                   for s in res.get("codeFlows", [{}])[0].get("threadFlows", [{}])[0]
                   .get("locations", []))


@pytest.mark.parametrize("name", ["direct-pf-shadow-zap-under-read-lock",
                                  "nx-recovery-zaps-with-a-yielding-helper",
                                  "atomic-set-as-id-from-plain-root-pt",
                                  "shadow-zap-after-stale-check"])
def test_per_function_results_are_reused_and_change_nothing(repo: Path, name, monkeypatch) -> None:
    """Findings-only runs reuse the unchanged functions' results (by shape, lines relative):
    after the base, an edit re-analyses a few functions, and finds exactly what a fresh run
    finds (lines and messages included)."""
    from kpatchkit.analyze import engine
    from kpatchkit.analyze.dataflow import FunctionAnalysis

    entry = next(e for e in BUGS + REFACTORS if e.name == name)
    text, _ = entry.apply(source_of(repo, entry.file, "HEAD"))
    engine.memo_restore(None)
    fresh = analyze_file(repo, entry.file, "HEAD", overlay={entry.file: text}, contexts=False)
    engine.memo_restore(None)
    base = analyze_file(repo, entry.file, "HEAD", contexts=False)
    runs = []
    real_run = FunctionAnalysis.run
    monkeypatch.setattr(FunctionAnalysis, "run", lambda self: runs.append(self) or real_run(self))
    got = analyze_file(repo, entry.file, "HEAD", overlay={entry.file: text}, contexts=False)
    engine.memo_restore(None)
    assert [(f.check, f.function, f.line, f.message) for f in got.findings] == \
        [(f.check, f.function, f.line, f.message) for f in fresh.findings]
    assert len(runs) < len(base.functions) // 2, (len(runs), len(base.functions))
