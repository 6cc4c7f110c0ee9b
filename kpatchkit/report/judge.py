"""From stage outputs to per-scenario outcomes and the review's verdict.

Nothing here is hard-coded about the reference patch: a scenario's expectations come from the
gen-tests data (its ``expectations`` object, read in ``bounds``), the measured numbers from the
run stage's results, and whose claim those expectations are from ``data/expectations.toml``
(``basis``). For the reference series (or a scenario the user gave ``--expect`` for) a scenario
is a claim; for any other patch it is a regression check: patched must not exceed base beyond
the base's spread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.results import KernelRun, Splat, TestResult
from kpatchkit.records.review import Bound, ReviewResult, ScenarioOutcome, Verdict
from kpatchkit.report.basis import (  # re-exported: the knowledge loader table names them here
    DATA as DATA,
)
from kpatchkit.report.basis import SCHEMA as SCHEMA
from kpatchkit.report.basis import JudgingBasis, claim_basis
from kpatchkit.report.basis import expectation_data as expectation_data
from kpatchkit.report.bounds import METRIC, parse_expectations, scenario_kind
from kpatchkit.report.bounds import parse_bound as parse_bound
from kpatchkit.report.bounds import parse_expect as parse_expect
from kpatchkit.report.outcome import (  # re-exported: report and review read them from here
    LEGACY_RESULTS as LEGACY_RESULTS,
)
from kpatchkit.report.outcome import apply_outcome as apply_outcome
from kpatchkit.report.outcome import evidence_lines as evidence_lines
from kpatchkit.report.outcome import obsolete_text, stop_verdict
from kpatchkit.report.outcome import stops_after_apply as stops_after_apply
from kpatchkit.report.sanitize import number

BAD_RESULTS = ("fail", "error", "timeout")


@dataclass
class Expected:
    """The bounds a scenario is judged by on each kernel (None: any value)."""

    base: Bound | None = None
    patched: Bound | None = None


def _runs_of(result: TestResult, test: GeneratedTest) -> bool:
    """True if ``result`` is a run of the generated ``test`` (by name or scenario id, with or
    without a directory)."""
    names = {test.name, test.scenario}
    return result.test in names or result.test.rsplit("/", 1)[-1] in names


def _samples(results: list[TestResult], kernel: str, test: GeneratedTest,
             metric: str) -> list[float]:
    """Every figure the run measured for a scenario on one kernel (one per repeat)."""
    out: list[float] = []
    for r in results:
        if r.kernel == kernel and _runs_of(r, test):
            v = _metric(r, metric)
            out += [v] if v is not None else []
    return out


def _is_control(test: GeneratedTest, bounds: Expected) -> bool:
    if scenario_kind(test.expectations).is_control:
        return True
    return bounds.base is not None and bounds.base == bounds.patched


def _result_for(results: list[TestResult], kernel: str, test: GeneratedTest
                ) -> TestResult | None:
    return next((r for r in results if r.kernel == kernel and _runs_of(r, test)), None)


def _metric(result: TestResult | None, metric: str) -> float | None:
    if result is None:
        return None
    val = result.faults_per_cow_write if metric == METRIC else None
    if val is None:
        val = result.metrics.get(metric)
    return number(val)  # NaN, Infinity or text from a corrupt record: not measured


def _check_of(test: GeneratedTest, bounds: Expected, basis: JudgingBasis | None
              ) -> tuple[str, Expected, str]:
    """(check, bounds to judge by, claim column) for one scenario in this review."""
    name = test.name
    sid = test.scenario or name
    user = None
    if basis is not None:
        user = next((basis.expect[k] for k in (sid, name, name.removesuffix("_test"))
                     if k in basis.expect), None)
    if _is_control(test, bounds):
        return "control", bounds, "control (expected equal on both kernels)"
    if user is not None:
        return "claim", Expected(patched=user), f"--expect: patched {user.describe()}"
    if bounds.base is None and bounds.patched is None:
        return "correctness", bounds, "correctness only"
    patched = bounds.patched.describe() if bounds.patched else "any"
    if basis is None:
        return "claim", bounds, f"scenario data: patched {patched}"
    if basis.kind == "reference":
        return "claim", bounds, f"reference series: patched {patched}"
    return "regression", Expected(), "no claim"


def judge_scenario(test: GeneratedTest, results: list[TestResult],
                   metric: str = METRIC, basis: JudgingBasis | None = None) -> ScenarioOutcome:
    """Judge one generated scenario from the two kernels' results and its expectations.

    ``basis`` says whose claim the review judges (see ``claim_basis``); without it the
    scenario data's bounds are applied as they are.
    """
    check, bounds, claim = _check_of(test, Expected(**parse_expectations(test.expectations,
                                                                         metric)), basis)
    rb, rp = _result_for(results, "base", test), _result_for(results, "patched", test)
    out = ScenarioOutcome(
        scenario=test.scenario or test.name, test=test.name,
        metric=metric, base=_metric(rb, metric), patched=_metric(rp, metric),
        expect_base=bounds.base, expect_patched=bounds.patched,
        base_result=rb.result if rb else "", patched_result=rp.result if rp else "",
        is_claim=check in ("claim", "regression"), check=check, claim=claim,
        claim_status="no-claim" if check == "regression" else "",
    )
    if check == "regression" and basis is not None:  # (a regression check has a basis)
        out.tolerance, out.tolerance_basis = _tolerance(basis, out.scenario, results, test,
                                                        metric)
        if out.base is not None:
            out.expect_patched = Bound(max=round(out.base + out.tolerance, 4))
    if rp is None or rb is None:
        out.outcome, out.reason = "no-data", "the test has no result on " + (
            "either kernel" if rp is None and rb is None else ("base" if rb is None else "patched"))
        return out
    if out.patched_result in BAD_RESULTS:
        out.outcome = "failed"
        out.reason = f"the test {out.patched_result}s on the patched kernel"
        if out.base_result in BAD_RESULTS:
            out.reason += f" and {out.base_result}s on base too (pre-existing)"
        return out
    if out.base_result in BAD_RESULTS:
        out.outcome, out.reason = "no-data", f"the test {out.base_result}s on the base kernel"
        return out
    if "skip" in (out.base_result, out.patched_result):
        out.outcome = "skipped"
        why = _skip_reason(rp) or _skip_reason(rb)
        out.reason = "skipped" + (f": {why}" if why else "") + " (no figure to judge)"
        return out
    if check == "correctness":
        # A correctness scenario: the TAP results alone decide, and both kernels passed.
        out.outcome, out.is_claim = "passed", False
        out.reason = "correctness only (no fault expectation); passed on both kernels"
        return out
    if out.base is None or out.patched is None:
        out.outcome, out.reason = "no-data", f"{metric} missing from the results"
        return out
    seen = f"base {out.base:.2f}, patched {out.patched:.2f}"
    if check == "regression":
        return _judge_regression(out, results, test, metric, seen)
    ok_b = out.expect_base.contains(out.base) if out.expect_base else True
    ok_p = out.expect_patched.contains(out.patched) if out.expect_patched else True
    if check == "control":
        out.outcome = "control-ok" if ok_b and ok_p else "control-changed"
        out.reason = f"{seen}; expected {_describe(out)}"
        return out
    if ok_b and ok_p:
        out.outcome, out.reason = "reproduced", f"{seen}; expected {_describe(out)}"
    else:
        out.outcome = "not-reproduced"
        side = [k for k, ok in (("base", ok_b), ("patched", ok_p)) if not ok]
        out.reason = f"{seen}; expected {_describe(out)} ({' and '.join(side)} outside)"
    out.claim_status = out.outcome
    return out


def _tolerance(basis: JudgingBasis, scenario: str, results: list[TestResult],
               test: GeneratedTest, metric: str) -> tuple[float, str]:
    """The rise over base a regression check allows: the base's measured spread when the run
    has several samples, else the data's tolerance for one sample (with its reason)."""
    samples = _samples(results, "base", test, metric)
    if len(samples) > 1:
        spread = round(max(samples) - min(samples), 4)
        floor = float(basis.regression.min_tolerance)
        why = f"the base kernel's spread over {len(samples)} samples"
        if spread < floor:
            return floor, why + f" ({spread:g}) raised to the floor {floor:g}"
        return spread, why
    tol, reason = basis.tolerance_for(scenario)
    return tol, "one sample per kernel: " + reason if reason else "one sample per kernel"


def _judge_regression(out: ScenarioOutcome, results: list[TestResult],
                      test: GeneratedTest, metric: str, seen: str) -> ScenarioOutcome:
    """Regression check: patched must not exceed base by more than the tolerance."""
    base_s = _samples(results, "base", test, metric) or [out.base or 0.0]
    patched_s = _samples(results, "patched", test, metric) or [out.patched or 0.0]
    base, patched = sum(base_s) / len(base_s), sum(patched_s) / len(patched_s)
    if len(base_s) > 1 or len(patched_s) > 1:
        seen = f"base {base:.2f}, patched {patched:.2f} (means)"
    tol = out.tolerance or 0.0
    limit = base + tol
    if patched <= limit + 1e-9:
        out.outcome = "passed"
        out.reason = f"{seen}; not worse than base (patched <= base + {tol:g})"
    else:
        out.outcome = "regressed"
        out.reason = (f"{seen}; worse than base: patched exceeds base by "
                      f"{patched - base:.2f}, more than the {tol:g} allowed")
    return out


def _skip_reason(result: TestResult) -> str:
    """The reason a TAP SKIP line gave, from the test's output tail."""
    for line in reversed(result.output.splitlines()):
        m = re.search(r"(?:# SKIP|SKIP:?)\s*(.+)", line)
        if m:
            return m.group(1).strip()
    return ""


def _describe(o: ScenarioOutcome) -> str:
    if o.check == "regression":
        return f"patched <= base + {o.tolerance:g}"
    b = o.expect_base.describe() if o.expect_base else "any"
    p = o.expect_patched.describe() if o.expect_patched else "any"
    return f"base {b}, patched {p}"


def judge_scenarios(tests: list[GeneratedTest], results: list[TestResult],
                    basis: JudgingBasis | None = None) -> list[ScenarioOutcome]:
    """Judge every generated scenario."""
    return [judge_scenario(t, results, basis=basis) for t in tests]


def claim_status(scenarios: list[ScenarioOutcome]) -> str:
    """reproduced | partly | not-reproduced | no-claim | unknown over the claim scenarios.

    ``no-claim``: no scenario carries a claim for this patch, they are regression checks.
    """
    claims = [s for s in scenarios if s.is_claim and s.outcome in ("reproduced", "not-reproduced")]
    if not claims:
        if any(s.check == "regression" for s in scenarios) and not any(
                s.check == "claim" for s in scenarios):
            return "no-claim"
        return "unknown"
    good = sum(s.outcome == "reproduced" for s in claims)
    if good == len(claims):
        return "reproduced"
    return "partly" if good else "not-reproduced"


def _splat_key(s: Splat) -> tuple[str, str, str]:
    return s.kind, s.function or "", s.title


INFRA_OUTCOMES = ("no-boot", "died", "qemu-error")  # the VM, not the kernel under test, failed


def kernel_runs(result: ReviewResult) -> dict[str, KernelRun]:
    """The run stage's kernels by name (base/patched)."""
    return {k.name: k for k in (result.run.kernels if result.run is not None else [])}


def infra_problems(result: ReviewResult) -> list[str]:
    """Why the run cannot judge the patch: a VM that did not boot, or a broken base kernel."""
    out = []
    for name, k in kernel_runs(result).items():
        if k.outcome in INFRA_OUTCOMES or (name == "base" and k.outcome != "ok"):
            out.append(f"{name} kernel: {k.outcome}{': ' + k.detail if k.detail else ''}")
    return out


def splats(result: ReviewResult, kernel: str) -> list[Splat]:
    """Every splat a kernel printed: the kernel's own list (attributed to a test or not) when
    the run has that kernel, else what its results carry."""
    k = kernel_runs(result).get(kernel)
    if k is not None:
        return list(k.splats)
    return [s for r in result.results(kernel) for s in r.splats]


def introduced_failures(result: ReviewResult) -> list[str]:
    """Tests that fail, splats that appear, or a kernel that dies on patched but not on base."""
    base = {r.test: r for r in result.results("base")}
    out = []
    kernels = kernel_runs(result)
    kp, kb = kernels.get("patched"), kernels.get("base")
    if kp is not None and kp.outcome not in ("ok", *INFRA_OUTCOMES) and (
            kb is None or kb.outcome == "ok"):
        out.append(f"patched kernel: {kp.outcome}: {kp.detail}".rstrip(": "))
    for r in result.results("patched"):
        b = base.get(r.test)
        if r.result in BAD_RESULTS and not r.known and (b is None or b.result not in BAD_RESULTS):
            out.append(f"{r.test}: {r.result} on patched, {b.result if b else 'not run'} on base")
    base_keys = {_splat_key(s) for s in splats(result, "base")}
    for s in splats(result, "patched"):
        if _splat_key(s) not in base_keys:
            where = f" in {s.function}()" if s.function else ""
            out.append(f"new splat on patched{where}: {s.title or s.kind}")
    return out


def compute_verdict(result: ReviewResult) -> Verdict:
    """Decide the verdict and exit code from the stage outcomes and the judged scenarios."""
    failed = [s for s in result.stages if s.status == "failed"]
    applied = result.applied
    if applied is not None and stops_after_apply(applied) and not failed:
        return stop_verdict(applied)
    v = Verdict()
    v.new_findings = len(result.findings("new"))
    v.claim = claim_status(result.scenarios)
    reasons: list[str] = []
    if applied is not None and applied.obsolete is not None:
        reasons.append(f"obsolete on this tree: {obsolete_text(applied.obsolete)}")
    if applied is not None and applied.compile is not None and applied.compile.ok is False:
        reasons.append("the ported series does not compile")
    if v.new_findings:
        reasons.append(f"{v.new_findings} new analysis finding(s)")
    introduced = introduced_failures(result)
    broken = [s for s in result.scenarios if s.outcome == "failed"
              and s.base_result not in BAD_RESULTS]
    changed = [s for s in result.scenarios if s.outcome in ("control-changed", "regressed")]
    regress = [s for s in result.scenarios if s.outcome == "not-reproduced" and s.expect_patched
               and s.patched is not None and not s.expect_patched.contains(s.patched)]
    introduced += [f"{s.scenario}: {s.reason}" for s in broken + changed + regress
                   if not any(x.startswith(s.test + ":") for x in introduced)]
    v.introduced_failures = len(introduced)
    reasons += introduced
    infra = infra_problems(result)
    if infra and not failed:
        v.status, v.exit_code = "infra", 3
        v.headline = "Infrastructure failure: a kernel could not be judged"
        v.reasons = infra + reasons
        return v
    if failed:
        worst = max(failed, key=lambda s: s.exit_code)
        v.exit_code = worst.exit_code if worst.exit_code in (1, 2, 3) else 3
        v.status = {1: "failures", 2: "bad-input", 3: "infra"}[v.exit_code]
        v.reasons = [f"{s.name}: {s.error}" for s in failed] + reasons
        v.headline = {
            "bad-input": f"Bad input: the review stopped at {worst.name}",
            "infra": f"Infrastructure failure at {worst.name}: no verdict on the patch",
            "failures": "The patch breaks the build or the tests",
        }[v.status]
        return v
    if applied is not None and applied.obsolete is not None:
        v.status, v.exit_code = "not-applicable", 1
        v.headline = "Not applicable to this tree: the code it changes is gone"
    elif v.new_findings or introduced or reasons:
        v.status = "findings" if v.new_findings and not introduced else "failures"
        v.exit_code = 1
        parts = [f"{v.new_findings} new finding(s)"] if v.new_findings else []
        parts += [f"{len(introduced)} failure(s)"] if introduced else []
        parts += [r for r in reasons if r.startswith("the ported")]
        v.headline = "The patch introduces " + ", ".join(parts) if parts else reasons[0]
    else:
        v.status, v.exit_code = "clean", 0
        v.headline = "Clean: no new findings, no failures introduced"
        if v.claim == "reproduced":
            v.headline += ", claim reproduced"
        elif v.claim in ("partly", "not-reproduced"):
            v.headline += f", claim {v.claim.replace('-', ' ')}"
        elif v.claim == "no-claim":
            checks = [s for s in result.scenarios if s.check == "regression"
                      and s.outcome == "passed"]
            v.headline += (f", no COW claim: {len(checks)} regression check(s) passed"
                           if checks else ", no COW claim")
        skipped = [s.name for s in result.stages if s.status == "skipped"]
        if skipped:
            v.headline += f" (not run: {', '.join(skipped)})"
    v.reasons = reasons
    return v


def finalize(result: ReviewResult) -> ReviewResult:
    """Fill in the scenario outcomes and the verdict (idempotent)."""
    basis = claim_basis(result)
    result.claim_basis = basis.record()
    result.scenarios = judge_scenarios(result.tests, result.results(), basis)
    result.verdict = compute_verdict(result)
    return result
