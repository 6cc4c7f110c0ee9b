"""From stage outputs to per-scenario outcomes and the review's verdict.

Nothing here is hard-coded about the reference patch: a scenario's expectations come from the
gen-tests data (its ``expectations`` object), the measured numbers from the run stage's results,
and whose claim those expectations are from ``data/expectations.toml``. For the reference series
(or a scenario the user gave ``--expect`` for) a scenario is a claim; for any other patch it is a
regression check: patched must not exceed base beyond the base's spread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from kpatchkit.errors import KpatchkitError
from kpatchkit.knowledge import ListOf, Opt, TableOf, load_toml
from kpatchkit.records.review import Bound, ReviewResult, ScenarioOutcome, Verdict
from kpatchkit.report.outcome import (  # re-exported: report and review read them from here
    LEGACY_RESULTS as LEGACY_RESULTS,
)
from kpatchkit.report.outcome import apply_outcome as apply_outcome
from kpatchkit.report.outcome import evidence_lines as evidence_lines
from kpatchkit.report.outcome import obsolete_text, stop_verdict
from kpatchkit.report.outcome import stops_after_apply as stops_after_apply
from kpatchkit.report.sanitize import number

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


DATA = Path(__file__).with_name("data") / "expectations.toml"
SCHEMA = {
    # the reference series: matched by message_id or subject, its claim shown with its source
    "reference": Opt({"name": str, "source": str, "message_ids": Opt(ListOf(str)),
                      "subjects": Opt(ListOf(str)), "claim": str}),
    "regression": Opt({"tolerance": float, "reason": str, "min_tolerance": Opt(float),
                       "scenario": Opt(TableOf({"tolerance": float, "reason": str}))}),
}


@cache
def expectation_data(path: Path = DATA) -> dict[str, Any]:
    """The reference series and the regression tolerance (``data/expectations.toml``)."""
    return load_toml(path, SCHEMA)


def _norm_subject(text: str) -> str:
    text = re.sub(r"^\s*(\[[^\]]*\]\s*)+", "", str(text or ""))
    return " ".join(text.split()).lower()


def parse_expect(items: list[str] | dict[str, Any] | None) -> dict[str, Bound]:
    """``--expect SCENARIO=VALUE`` (repeatable) as {scenario: Bound} for the patched kernel.

    VALUE is a number of faults per COW write (about it, within 10%), or "<=x", ">=x", "~x".
    Bad syntax is a KpatchkitError (exit 2); which scenarios exist is the caller's check.
    """
    pairs = list(items.items()) if isinstance(items, dict) else []
    for item in items if isinstance(items, list) else []:
        name, sep, value = str(item).partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", name.strip()):
            raise KpatchkitError(f"--expect {item!r}: give SCENARIO=VALUE, "
                                 "e.g. cow_anon_thp_off=1.0")
        pairs.append((name.strip(), value.strip()))
    out: dict[str, Bound] = {}
    for name, value in pairs:
        bound = parse_bound(value) if isinstance(value, str) else None
        if bound is None:
            raise KpatchkitError(f"--expect {name}={value}: VALUE must be faults per COW write, "
                                 "a number such as 1.0 or a bound such as '<=1.05'")
        out[name] = bound
    return out


@dataclass
class ClaimBasis:
    """Whose claim the scenarios are judged against in one review."""

    kind: str = "none"  # reference | expect | none
    reference: dict[str, Any] = field(default_factory=dict)  # data's [reference], when it applies
    matched: str = ""  # what identified the reference series
    expect: dict[str, Bound] = field(default_factory=dict)  # the user's, per scenario
    tolerance: float = 0.1
    reason: str = ""
    per_scenario: dict[str, dict[str, Any]] = field(default_factory=dict)

    def tolerance_for(self, scenario: str) -> tuple[float, str]:
        """The allowed rise over base for a scenario with one sample, and why."""
        own = self.per_scenario.get(scenario) or {}
        return (float(own.get("tolerance", self.tolerance)),
                " ".join(str(own.get("reason", self.reason)).split()))

    def to_json(self) -> dict[str, Any]:
        """What the review record keeps (``ReviewResult.claim_basis``)."""
        out: dict[str, Any] = {"kind": self.kind, "tolerance": self.tolerance,
                               "reason": " ".join(self.reason.split())}
        if self.reference:
            out.update(reference=self.reference.get("name", ""),
                       source=self.reference.get("source", ""), matched=self.matched,
                       claim=" ".join(str(self.reference.get("claim", "")).split()))
        if self.expect:
            out["expect"] = {k: b.describe() for k, b in self.expect.items()}
        return out


def reference_match(result: ReviewResult, data: dict[str, Any] | None = None) -> str:
    """What identifies the reviewed series as the reference series ('' if it is not)."""
    ref = (data or expectation_data()).get("reference") or {}
    ids = {str(m).strip("<>") for m in ref.get("message_ids") or []}
    subjects = {_norm_subject(s) for s in ref.get("subjects") or []}
    for p in result.series.patches:
        if p.message_id and p.message_id.strip("<>") in ids:
            return f"Message-ID <{p.message_id.strip('<>')}>"
        if subjects and _norm_subject(p.subject) in subjects:
            return f"subject \"{p.subject}\""
    return ""


def claim_basis(result: ReviewResult, data: dict[str, Any] | None = None) -> ClaimBasis:
    """Decide, from data and the user's --expect, whose claim this review judges."""
    data = data or expectation_data()
    reg = data.get("regression") or {}
    basis = ClaimBasis(tolerance=float(reg.get("tolerance", 0.1)),
                       reason=str(reg.get("reason", "")),
                       per_scenario=dict(reg.get("scenario") or {}),
                       expect=parse_expect(result.expect))
    basis.matched = reference_match(result, data)
    if basis.matched:
        basis.kind, basis.reference = "reference", dict(data.get("reference") or {})
    elif basis.expect:
        basis.kind = "expect"
    return basis


def _samples(results: list[dict[str, Any]], kernel: str, test: dict[str, Any],
             metric: str) -> list[float]:
    """Every figure the run measured for a scenario on one kernel (repeats, or a samples list)."""
    names = {str(test.get("name", "")), str(test.get("scenario", ""))}
    out: list[float] = []
    for r in results:
        name = str(r.get("test", ""))
        if r.get("kernel") != kernel or (name not in names
                                         and name.rsplit("/", 1)[-1] not in names):
            continue
        listed = (r.get("metrics") or {}).get(f"{metric}_samples") or r.get(f"{metric}_samples")
        if isinstance(listed, list):
            out += [float(v) for v in listed if isinstance(v, (int, float))]
        else:
            v = _metric(r, metric)
            out += [v] if v is not None else []
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
    return number(val)  # NaN, Infinity or text from a corrupt record: not measured


def _check_of(test: dict[str, Any], bounds: dict[str, Bound], basis: ClaimBasis | None
              ) -> tuple[str, dict[str, Bound], str]:
    """(check, bounds to judge by, claim column) for one scenario in this review."""
    name = str(test.get("name", ""))
    sid = str(test.get("scenario") or name)
    user = None
    if basis is not None:
        user = next((basis.expect[k] for k in (sid, name, name.removesuffix("_test"))
                     if k in basis.expect), None)
    if _is_control(test, bounds):
        return "control", bounds, "control (expected equal on both kernels)"
    if user is not None:
        return "claim", {"patched": user}, f"--expect: patched {user.describe()}"
    if not bounds:
        return "correctness", bounds, "correctness only"
    patched = bounds["patched"].describe() if bounds.get("patched") else "any"
    if basis is None:
        return "claim", bounds, f"scenario data: patched {patched}"
    if basis.kind == "reference":
        return "claim", bounds, f"reference series: patched {patched}"
    return "regression", {}, "no claim"


def judge_scenario(test: dict[str, Any], results: list[dict[str, Any]],
                   metric: str = METRIC, basis: ClaimBasis | None = None) -> ScenarioOutcome:
    """Judge one generated scenario from the two kernels' results and its expectations.

    ``basis`` says whose claim the review judges (see ``claim_basis``); without it the
    scenario data's bounds are applied as they are.
    """
    check, bounds, claim = _check_of(test, parse_expectations(test.get("expectations"), metric),
                                     basis)
    rb, rp = _result_for(results, "base", test), _result_for(results, "patched", test)
    out = ScenarioOutcome(
        scenario=str(test.get("scenario") or test.get("name")), test=str(test.get("name", "")),
        metric=metric, base=_metric(rb, metric), patched=_metric(rp, metric),
        expect_base=bounds.get("base"), expect_patched=bounds.get("patched"),
        base_result=(rb or {}).get("result", ""), patched_result=(rp or {}).get("result", ""),
        is_claim=check in ("claim", "regression"), check=check, claim=claim,
        claim_status="no-claim" if check == "regression" else "",
    )
    if check == "regression":
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
        why = (rp.get("reason") or rb.get("reason") or _skip_reason(rp) or _skip_reason(rb))
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


def _tolerance(basis: ClaimBasis | None, scenario: str, results: list[dict[str, Any]],
               test: dict[str, Any], metric: str) -> tuple[float, str]:
    """The rise over base a regression check allows: the base's measured spread when the run
    has several samples, else the data's tolerance for one sample (with its reason)."""
    basis = basis or ClaimBasis()
    samples = _samples(results, "base", test, metric)
    if len(samples) > 1:
        spread = round(max(samples) - min(samples), 4)
        floor = float((expectation_data().get("regression") or {}).get("min_tolerance", 0.0))
        why = f"the base kernel's spread over {len(samples)} samples"
        if spread < floor:
            return floor, why + f" ({spread:g}) raised to the floor {floor:g}"
        return spread, why
    tol, reason = basis.tolerance_for(scenario)
    return tol, "one sample per kernel: " + reason if reason else "one sample per kernel"


def _judge_regression(out: ScenarioOutcome, results: list[dict[str, Any]],
                      test: dict[str, Any], metric: str, seen: str) -> ScenarioOutcome:
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


def _skip_reason(result: dict[str, Any]) -> str:
    """The reason a TAP SKIP line gave, from the test's output tail."""
    for line in reversed(str(result.get("output") or "").splitlines()):
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


def judge_scenarios(tests: list[dict[str, Any]], results: list[dict[str, Any]],
                    basis: ClaimBasis | None = None) -> list[ScenarioOutcome]:
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


# Stored apply results from before the six outcomes: their names today.
def compute_verdict(result: ReviewResult) -> Verdict:
    """Decide the verdict and exit code from the stage outcomes and the judged scenarios."""
    failed = [s for s in result.stages if s.status == "failed"]
    applied = result.applied or {}
    if stops_after_apply(applied) and not failed:
        return stop_verdict(applied)
    v = Verdict()
    v.new_findings = len(result.findings("new"))
    v.claim = claim_status(result.scenarios)
    reasons: list[str] = []
    if applied.get("obsolete"):
        reasons.append(f"obsolete on this tree: {obsolete_text(applied)}")
    if applied and (applied.get("compile") or {}).get("ok") is False:
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
    if applied.get("obsolete"):
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
    result.claim_basis = basis.to_json()
    result.scenarios = judge_scenarios(result.tests, result.results(), basis)
    result.verdict = compute_verdict(result)
    return result
