"""junit.xml: the review as JUnit test suites a CI server can show (Jenkins/Surefire dialect).

Suites: ``apply`` (apply/port and compile), ``analysis`` (one failing case per new finding),
``selftests.<kernel>`` (one case per test run on that kernel), ``scenarios`` (each generated
scenario judged against its expectations). Validated against schemas/junit-10.xsd in the tests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from kpatchkit.records.review import ReviewResult
from kpatchkit.report.judge import apply_outcome, evidence_lines
from kpatchkit.report.sanitize import xml_text

_BAD = {"fail": "failure", "error": "error", "timeout": "error"}


def _t(seconds: Any) -> str:
    try:
        return f"{max(float(seconds), 0.0):.3f}"
    except (TypeError, ValueError):
        return "0.000"


class _Suite:
    def __init__(self, parent: ET.Element, name: str) -> None:
        self.el = ET.SubElement(parent, "testsuite", name=name)
        self.tests = self.failures = self.errors = self.skipped = 0
        self.time = 0.0

    def case(self, name: str, classname: str, seconds: Any = 0, *, failure: str | None = None,
             error: str | None = None, skipped: str | None = None, out: str = "") -> None:
        c = ET.SubElement(self.el, "testcase", name=name, classname=classname, time=_t(seconds))
        self.tests += 1
        self.time += float(_t(seconds))
        if failure is not None:
            self.failures += 1
            ET.SubElement(c, "failure", message=failure[:500], type="failure").text = failure
        elif error is not None:
            self.errors += 1
            ET.SubElement(c, "error", message=error[:500], type="error").text = error
        elif skipped is not None:
            self.skipped += 1
            ET.SubElement(c, "skipped", message=skipped[:500])
        if out:
            ET.SubElement(c, "system-out").text = out

    def close(self) -> None:
        for key in ("tests", "failures", "errors", "skipped"):
            self.el.set(key, str(getattr(self, key)))
        self.el.set("time", f"{self.time:.3f}")


def _clean(el: ET.Element) -> None:
    """Drop characters XML 1.0 forbids from every text and attribute (a test's output or a
    mail's subject can hold any byte; an invalid junit.xml loses the whole run in CI)."""
    for node in el.iter():
        node.attrib = {k: xml_text(v) for k, v in node.attrib.items()}
        if node.text is not None:
            node.text = xml_text(node.text)
        if node.tail is not None:
            node.tail = xml_text(node.tail)


def render_junit(result: ReviewResult) -> str:
    """Return the JUnit XML document for a review."""
    root = ET.Element("testsuites", name=f"kpatchkit review {result.run_id}")
    suites: list[_Suite] = []

    s = _Suite(root, "apply")
    suites.append(s)
    applied = result.applied
    stage = next((st for st in result.stages if st.name == "apply"), None)
    if applied is None:
        s.case("apply", "kpatchkit.apply", error=stage.error if stage and stage.error else None,
               skipped=None if stage and stage.error else "apply did not run")
    else:
        res = apply_outcome(applied) or "?"
        fail = err = None
        evidence = "\n".join(evidence_lines(applied))
        if res in ("not-applicable", "conflict"):
            fail = f"apply result: {res}: {result.verdict.headline}".strip(": ")
        elif res == "needs-prereq":  # exit 2: the input is incomplete, not the patch wrong
            err = f"apply result: {res}: {result.verdict.headline}".strip(": ")
        s.case("apply", "kpatchkit.apply", stage.seconds if stage else 0,
               failure=fail, error=err,
               out=f"result: {res}" + (f"\nevidence:\n{evidence}" if evidence else ""))
        comp = applied.compile
        if comp is not None and comp.ok is None:
            s.case("compile", "kpatchkit.apply",
                   skipped=f"compile {comp.status or 'not run'} {comp.note}")
        elif comp is not None:
            errors = "\n".join(f"{e.file}:{e.line}: {e.message}" for e in comp.errors) \
                or "compile failed"
            s.case("compile", "kpatchkit.apply", comp.seconds or 0,
                   failure=None if comp.ok else errors)

    s = _Suite(root, "analysis")
    suites.append(s)
    if result.analysis is None:
        s.case("new-findings", "kpatchkit.analyze", skipped="analysis did not run")
    else:
        new = result.findings("new")
        s.case("new-findings", "kpatchkit.analyze",
               failure=f"{len(new)} new finding(s)" if new else None)
        for f in new:
            trace = "\n".join(f"line {t.line}: {t.state}" for t in f.trace)
            s.case(f"{f.check} in {f.function}()", "kpatchkit.analyze.new",
                   failure=f"{f.file}:{f.line}: {f.message}", out=trace)

    for kernel in sorted({r.kernel for r in result.results()}):
        s = _Suite(root, f"selftests.{kernel}")
        suites.append(s)
        for r in result.results(kernel):
            name, cls = r.test, f"kpatchkit.run.{kernel}"
            out = "\n".join(x.title for x in r.splats)
            if r.result in _BAD and r.known:
                # A known limit of the test host (e.g. TCG), not the patch's fault.
                s.case(name, cls, r.seconds, skipped=f"known: {r.known} ({r.result})", out=out)
            elif r.result in _BAD:
                s.case(name, cls, r.seconds, **{_BAD[r.result]: f"{name} {r.result} on {kernel}"},
                       out=out)
            elif r.result == "skip":
                s.case(name, cls, r.seconds, skipped="skipped")
            elif r.splats:
                s.case(name, cls, r.seconds, failure=f"{len(r.splats)} kernel splat(s)", out=out)
            else:
                s.case(name, cls, r.seconds)

    if result.scenarios:
        s = _Suite(root, "scenarios")
        suites.append(s)
        for sc in result.scenarios:
            kw: dict[str, str] = {}
            if sc.outcome in ("failed", "control-changed", "not-reproduced", "regressed"):
                kw["failure"] = sc.reason or sc.outcome
            elif sc.outcome in ("no-data", "skipped"):
                kw["skipped"] = sc.reason or "no data"
            out = f"[{sc.claim}] {sc.reason}" if sc.claim else sc.reason
            s.case(sc.scenario, "kpatchkit.scenarios", out=out, **kw)

    for s in suites:
        s.close()
    _clean(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
