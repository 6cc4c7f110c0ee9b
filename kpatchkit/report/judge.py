"""From stage outputs to per-scenario outcomes and the review's verdict.

Nothing here is hard-coded about the reference patch: a scenario's expectations come from the
gen-tests data (its ``expectations`` object), the measured numbers from the run stage's results.
"""

from __future__ import annotations

import re
from typing import Any

from kpatchkit.records.review import Bound, ReviewResult, ScenarioOutcome, Verdict

METRIC = "faults_per_cow_write"
BAD_RESULTS = ("fail", "error", "timeout")
# Names the expectation data may use for the two kernels.
_KERNEL_ALIASES = {
    "base": "base", "unpatched": "base", "without": "base", "before": "base", "baseline": "base",
    "patched": "patched", "with": "patched", "after": "patched", "head": "patched",
}
_DEFAULT_TOL = 0.1  # relative tolerance for a bare "about X"


def parse_bound(spec: Any) -> Bound | None:
    """Read one expected value: a number (about), "<= x", "~x", {"min","max"}, {"approx","tol"}."""
    if spec is None:
        return None
    if isinstance(spec, bool):
        return None
    if isinstance(spec, (int, float)):
        lo, hi = spec * (1 - _DEFAULT_TOL), spec * (1 + _DEFAULT_TOL)
        return Bound(min=round(lo, 4), max=round(hi, 4))
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*(<=|>=|<|>|~|≈|=|==)?\s*([0-9.]+)\s*", spec)
        if not m:
            return None
        op, val = m.group(1) or "~", float(m.group(2))
        if op in ("<=", "<"):
            return Bound(max=val)
        if op in (">=", ">"):
            return Bound(min=val)
        return parse_bound(val)
    if isinstance(spec, dict):
        lo = spec.get("min", spec.get("ge", spec.get("gte")))
        hi = spec.get("max", spec.get("le", spec.get("lte")))
        approx = spec.get("approx", spec.get("about", spec.get("value")))
        if approx is not None:
            tol = spec.get("tol", spec.get("tolerance"))
            if tol is None:
                tol = abs(float(approx)) * float(spec.get("rel_tol", _DEFAULT_TOL))
            lo = float(approx) - float(tol) if lo is None else lo
            hi = float(approx) + float(tol) if hi is None else hi
        if lo is None and hi is None:
            return None
        return Bound(min=None if lo is None else float(lo), max=None if hi is None else float(hi))
    return None


def parse_expectations(exp: Any, metric: str = METRIC) -> dict[str, Bound]:
    """Return {"base": Bound, "patched": Bound} for ``metric`` from a scenario's expectations.

    Accepted shapes: ``{kernel: {metric: spec}}``, ``{metric: {kernel: spec}}``,
    ``{"base_" + metric: spec}`` and a list of ``{"kernel", "metric", ...bound}`` entries.
    """
    out: dict[str, Bound] = {}
    if isinstance(exp, list):
        for item in exp:
            if isinstance(item, dict) and item.get("metric", metric) == metric:
                kernel = _KERNEL_ALIASES.get(str(item.get("kernel", "")).lower())
                bound = parse_bound(item)
                if kernel and bound:
                    out[kernel] = bound
        return out
    if not isinstance(exp, dict):
        return out
    for key, val in exp.items():
        k = str(key).lower()
        if k in _KERNEL_ALIASES and isinstance(val, dict) and metric in val:
            bound = parse_bound(val[metric])
            if bound:
                out[_KERNEL_ALIASES[k]] = bound
        elif k == metric and isinstance(val, dict):
            for kk, spec in val.items():
                kernel = _KERNEL_ALIASES.get(str(kk).lower())
                bound = parse_bound(spec)
                if kernel and bound:
                    out[kernel] = bound
        else:
            for alias, kernel in _KERNEL_ALIASES.items():
                if k in (f"{alias}_{metric}", f"{metric}_{alias}"):
                    bound = parse_bound(val)
                    if bound:
                        out[kernel] = bound
    return out


def _is_control(test: dict[str, Any], bounds: dict[str, Bound]) -> bool:
    exp = test.get("expectations")
    if isinstance(exp, dict) and (exp.get("control") or exp.get("kind") == "control"):
        return True
    if test.get("control") or test.get("kind") == "control":
        return True
    b, p = bounds.get("base"), bounds.get("patched")
    return b is not None and p is not None and b == p


def _result_for(results: list[dict[str, Any]], kernel: str, test: dict[str, Any]) -> dict | None:
    names = {str(test.get("name", "")), str(test.get("scenario", ""))}
    for r in results:
        if r.get("kernel") != kernel:
            continue
        name = str(r.get("test", ""))
        if name in names or name.rsplit("/", 1)[-1] in names:
            return r
    return None


def _metric(result: dict | None, metric: str) -> float | None:
    if not result:
        return None
    val = result.get(metric)
    if val is None:
        val = (result.get("metrics") or {}).get(metric)
    try:
        return None if val is None else float(val)
    except (TypeError, ValueError):
        return None


def judge_scenario(test: dict[str, Any], results: list[dict[str, Any]],
                   metric: str = METRIC) -> ScenarioOutcome:
    """Judge one generated scenario from the two kernels' results and its expectations."""
    bounds = parse_expectations(test.get("expectations"), metric)
    rb, rp = _result_for(results, "base", test), _result_for(results, "patched", test)
    out = ScenarioOutcome(
        scenario=str(test.get("scenario") or test.get("name")), test=str(test.get("name", "")),
        metric=metric, base=_metric(rb, metric), patched=_metric(rp, metric),
        expect_base=bounds.get("base"), expect_patched=bounds.get("patched"),
        base_result=(rb or {}).get("result", ""), patched_result=(rp or {}).get("result", ""),
        is_claim=not _is_control(test, bounds),
    )
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
        why = (rp.get("reason") or rb.get("reason") or _skip_reason(rp) or _skip_reason(rb))
        out.reason = "skipped" + (f": {why}" if why else "") + " (no figure to judge)"
        return out
    if not bounds:
        # A correctness scenario: the TAP results alone decide, and both kernels passed.
        out.outcome, out.is_claim = "passed", False
        out.reason = "correctness only (no fault expectation); passed on both kernels"
        return out
    if out.base is None or out.patched is None:
        out.outcome, out.reason = "no-data", f"{metric} missing from the results"
        return out
    ok_b = out.expect_base.contains(out.base) if out.expect_base else True
    ok_p = out.expect_patched.contains(out.patched) if out.expect_patched else True
    seen = f"base {out.base:.2f}, patched {out.patched:.2f}"
    if not out.is_claim:
        out.outcome = "control-ok" if ok_b and ok_p else "control-changed"
        out.reason = f"{seen}; expected {_describe(out)}"
        return out
    if ok_b and ok_p:
        out.outcome, out.reason = "reproduced", f"{seen}; expected {_describe(out)}"
    else:
        out.outcome = "not-reproduced"
        side = [k for k, ok in (("base", ok_b), ("patched", ok_p)) if not ok]
        out.reason = f"{seen}; expected {_describe(out)} ({' and '.join(side)} outside)"
    return out


def _skip_reason(result: dict[str, Any]) -> str:
    """The reason a TAP SKIP line gave, from the test's output tail."""
    for line in reversed(str(result.get("output") or "").splitlines()):
        m = re.search(r"(?:# SKIP|SKIP:?)\s*(.+)", line)
        if m:
            return m.group(1).strip()
    return ""


def _describe(o: ScenarioOutcome) -> str:
    b = o.expect_base.describe() if o.expect_base else "any"
    p = o.expect_patched.describe() if o.expect_patched else "any"
    return f"base {b}, patched {p}"


def judge_scenarios(tests: list[dict[str, Any]], results: list[dict[str, Any]]
                    ) -> list[ScenarioOutcome]:
    """Judge every generated scenario."""
    return [judge_scenario(t, results) for t in tests]


def claim_status(scenarios: list[ScenarioOutcome]) -> str:
    """reproduced | partly | not-reproduced | unknown over the claim (non-control) scenarios."""
    claims = [s for s in scenarios if s.is_claim and s.outcome in ("reproduced", "not-reproduced")]
    if not claims:
        return "unknown"
    good = sum(s.outcome == "reproduced" for s in claims)
    if good == len(claims):
        return "reproduced"
    return "partly" if good else "not-reproduced"


def _splat_key(s: Any) -> str:
    if isinstance(s, dict):
        return "|".join(str(s.get(k, "")) for k in ("kind", "type", "function", "title"))
    return str(s)


INFRA_OUTCOMES = ("no-boot", "died", "qemu-error")  # the VM, not the kernel under test, failed


def kernel_runs(result: ReviewResult) -> dict[str, dict[str, Any]]:
    """The run stage's kernels by name (base/patched)."""
    return {str(k.get("name")): k for k in (result.run or {}).get("kernels") or []}


def infra_problems(result: ReviewResult) -> list[str]:
    """Why the run cannot judge the patch: a VM that did not boot, or a broken base kernel."""
    out = []
    for name, k in kernel_runs(result).items():
        outcome = k.get("outcome", "ok")
        if outcome in INFRA_OUTCOMES or (name == "base" and outcome != "ok"):
            out.append(f"{name} kernel: {outcome}{': ' + k['detail'] if k.get('detail') else ''}")
    return out


def introduced_failures(result: ReviewResult) -> list[str]:
    """Tests that fail, splats that appear, or a kernel that dies on patched but not on base."""
    base = {r.get("test"): r for r in result.results("base")}
    out = []
    kernels = kernel_runs(result)
    kp, kb = kernels.get("patched", {}), kernels.get("base", {})
    if kp.get("outcome", "ok") not in ("ok", *INFRA_OUTCOMES) and kb.get("outcome", "ok") == "ok":
        out.append(f"patched kernel: {kp.get('outcome')}: {kp.get('detail', '')}".rstrip(": "))
    for r in result.results("patched"):
        b = base.get(r.get("test"))
        if r.get("result") in BAD_RESULTS and not r.get("known") and (
                b is None or b.get("result") not in BAD_RESULTS):
            out.append(f"{r.get('test')}: {r.get('result')} on patched, "
                       f"{(b or {}).get('result', 'not run')} on base")
    # Splats: every splat the kernel printed (attributed to a test or not), else per test.
    def splats(kernel: str) -> list[Any]:
        k = kernels.get(kernel, {})
        if "splats" in k:
            return list(k.get("splats") or [])
        return [s for r in result.results(kernel) for s in r.get("splats") or []]

    base_keys = {_splat_key(s) for s in splats("base")}
    for s in splats("patched"):
        if _splat_key(s) not in base_keys:
            title = (s.get("title") or s.get("kind")) if isinstance(s, dict) else s
            where = f" in {s.get('function')}()" if isinstance(s, dict) and s.get("function") \
                else ""
            out.append(f"new splat on patched{where}: {title}")
    return out


def compute_verdict(result: ReviewResult) -> Verdict:
    """Decide the verdict and exit code from the stage outcomes and the judged scenarios."""
    v = Verdict()
    failed = [s for s in result.stages if s.status == "failed"]
    applied = result.applied or {}
    v.new_findings = len(result.findings("new"))
    v.claim = claim_status(result.scenarios)
    reasons: list[str] = []
    if applied.get("result") == "obsolete" or applied.get("obsolete"):
        obs = applied.get("obsolete")
        if isinstance(obs, dict):
            what = f"{obs.get('function')}() is gone"
            what += f" (removed by {obs['removed_by']})" if obs.get("removed_by") else ""
        else:
            what = obs or "the patched code is gone"
        reasons.append(f"obsolete on this tree: {what}")
    if applied and (applied.get("compile") or {}).get("ok") is False:
        reasons.append("the ported series does not compile")
    if v.new_findings:
        reasons.append(f"{v.new_findings} new analysis finding(s)")
    introduced = introduced_failures(result)
    broken = [s for s in result.scenarios if s.outcome == "failed"
              and s.base_result not in BAD_RESULTS]
    changed = [s for s in result.scenarios if s.outcome == "control-changed"]
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
        if applied.get("result") == "obsolete":
            v.status, v.exit_code = "obsolete", 1
        v.reasons = [f"{s.name}: {s.error}" for s in failed] + reasons
        v.headline = {
            "bad-input": f"Bad input: the review stopped at {worst.name}",
            "infra": f"Infrastructure failure at {worst.name}: no verdict on the patch",
            "failures": "The patch breaks the build or the tests",
            "obsolete": "The patch does not apply to this tree: the code it changes is gone",
        }[v.status]
        return v
    if applied.get("result") == "obsolete" or applied.get("obsolete"):
        v.status, v.exit_code = "obsolete", 1
        v.headline = "Obsolete on this tree: the code the patch changes is gone"
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
        skipped = [s.name for s in result.stages if s.status == "skipped"]
        if skipped:
            v.headline += f" (not run: {', '.join(skipped)})"
    v.reasons = reasons
    return v


def finalize(result: ReviewResult) -> ReviewResult:
    """Fill in the scenario outcomes and the verdict (idempotent)."""
    result.scenarios = judge_scenarios(result.tests, result.results())
    result.verdict = compute_verdict(result)
    return result
