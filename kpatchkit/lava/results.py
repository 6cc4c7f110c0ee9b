"""LAVA's results of kpatchkit's jobs back into the run stage's records (``RunReport`` JSON).

Inputs, any mix, matched to the manifest's jobs by their monitor suite
(``kpatchkit-<kernel>-<group>``):

- LAVA's results export of a job (``lavacli results JOB --yaml``, or the web UI's YAML export;
  a list of test cases ``{suite, name, result, metadata}``);
- a job's log: LAVA's ``output.yaml`` (``lavacli jobs logs JOB --raw``) or ``lava-run``'s stdout
  (one ``{dt, lvl, msg}`` object per line). Its ``results`` entries are the same test cases; its
  ``target`` lines are the guest's console, which the local run's own parser
  (:func:`kpatchkit.guest.collect.collect`) reads into exactly the records a local run makes:
  per-test seconds, KVM counters, metrics (faults per COW write), splats, panics.

Without a log a test's result is LAVA's pass/fail/skip (TAP ``# TIMEOUT`` counts as fail), and
there are no counters or metrics: the scenarios' claims need the logs.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kpatchkit.errors import KpatchkitError
from kpatchkit.guest.collect import collect
from kpatchkit.guest.compare import compare_kernels
from kpatchkit.guest.initramfs import GuestTest
from kpatchkit.guest.qemu import VmOutcome
from kpatchkit.records.results import KernelRun, RunReport, TestResult

_LAVA_RESULT = {"pass": "pass", "fail": "fail", "skip": "skip", "unknown": "error"}
_CASE = re.compile(r"\W+")


def case_id(name: str) -> str:
    """LAVA's test case name for a TAP test name (the monitor lowercases, ``\\W+`` -> ``_``)."""
    return _CASE.sub("_", name.strip().lower())


def _suite_key(suite: str) -> str:
    """A suite name without the ``<n>_`` prefix LAVA gives test definitions."""
    return re.sub(r"^\d+_", "", str(suite)).lower()


def read_lava_file(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(test cases as {suite, name, result, test_case_id, metadata}, console lines) of a results
    export or a job log."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise KpatchkitError(f"{path}: cannot read ({exc.strerror})") from exc
    entries: list[Any] | None = None
    stripped = text.lstrip()
    if stripped.startswith("{"):  # lava-run's stdout: one JSON object per line
        entries = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
    else:
        try:
            entries = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise KpatchkitError(f"{path}: not YAML ({exc})") from exc
    if not isinstance(entries, list):
        raise KpatchkitError(f"{path}: neither LAVA's results export nor a LAVA job log")
    cases, console = [], []
    for e in entries:
        if not isinstance(e, dict):
            continue
        if "lvl" in e:  # a log line
            msg = e.get("msg")
            if e["lvl"] == "results" and isinstance(msg, dict):
                extra = msg.get("extra") if isinstance(msg.get("extra"), dict) else {}
                cases.append({"suite": str(msg.get("definition", "")),
                              "name": str(msg.get("case", "")),
                              "result": str(msg.get("result", "")),
                              "test_case_id": str(extra.get("test_case_id") or ""),
                              "metadata": msg})
            elif e["lvl"] in ("target", "feedback") and isinstance(msg, str):
                console.append(msg)
        elif "suite" in e and "name" in e:  # a results export entry
            meta = e.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
            cases.append({"suite": str(e["suite"]), "name": str(e["name"]),
                          "result": str(e.get("result", "")),
                          "test_case_id": str(extra.get("test_case_id") or ""),
                          "metadata": meta})
    if not cases and not console:
        raise KpatchkitError(f"{path}: no LAVA test case or log line in it")
    return cases, console


def _collect(job: dict[str, Any], tests: list[Any], console: list[str],
             known: dict[str, str]) -> tuple[list[Any], list[Any], str, bool]:
    """The local run's parser over a job's console: results, splats, panic, finished."""
    text = "\n".join(console) + "\n"
    # The log has both serial ports on one console: the results channel's dmesg copy is left
    # out of the kernel log, so a splat is not counted twice.
    kernel_log = re.sub(r"# kpatchkit-dmesg-begin.*?# kpatchkit-dmesg-end", "", text,
                        flags=re.S)
    finished = "KPATCHKIT-RESULTS-END" in text
    with tempfile.TemporaryDirectory(prefix="kpatchkit-lava-") as tmp:
        con, res = Path(tmp) / "console.log", Path(tmp) / "results.log"
        con.write_text(kernel_log)
        res.write_text(text)
        vm = VmOutcome(console=con, results=res, returncode=0, seconds=0.0, boot_seconds=None,
                       status="ok" if finished else "timeout")
        results, splats, panic = collect(job["kernel"], tests, vm, known)
    return results, splats, panic, finished


def run_from_lava(manifest: dict[str, Any], files: list[Path]) -> dict[str, Any]:
    """The run stage's JSON (kernels, results, summary) from LAVA's results of the manifest's
    jobs; a job with no results in ``files`` is an error (its tests are reported ``error``)."""
    cases: dict[str, list[dict[str, Any]]] = {}
    consoles: dict[str, list[str]] = {}
    for f in files:
        file_cases, console = read_lava_file(Path(f))
        suites = {_suite_key(c["suite"]) for c in file_cases} - {"lava"}
        for c in file_cases:
            cases.setdefault(_suite_key(c["suite"]), []).append(c)
        if console:
            if len(suites) != 1:
                raise KpatchkitError(f"{f}: a job log must hold one kpatchkit job's results "
                                     f"(found suites: {', '.join(sorted(suites)) or 'none'})")
            consoles[suites.pop()] = console
    known = manifest.get("known") or {}
    by_name = {t["name"]: t for t in manifest["tests"]}
    report = RunReport(tree=manifest["tree"], accel=manifest["accel"])
    missing_jobs = []
    for k in manifest["kernels"]:
        results: list[TestResult] = []
        splats: list[Any] = []
        panics, outcomes = [], []
        for job in [j for j in manifest["jobs"] if j["kernel"] == k["name"]]:
            suite = job["suite"].lower()
            tests = [GuestTest(name=n, program=by_name[n]["program"],
                               args=list(by_name[n]["args"]), timeout=int(by_name[n]["timeout"]))
                     for n in job["tests"]]
            mine = cases.get(suite, [])
            if not mine and suite not in consoles:
                missing_jobs.append(job["file"])
                outcomes.append("died")
                results += [TestResult(kernel=k["name"], test=t.name, result="error",
                                       args=list(t.args), timeout=t.timeout,
                                       output="kpatchkit: no LAVA results for job "
                                              f"{job['file']}") for t in tests]
                continue
            lava = {}
            for c in mine:
                name = c["test_case_id"] or c["name"]
                lava[case_id(name)] = _LAVA_RESULT.get(c["result"], "error")
            if suite in consoles:
                got, job_splats, panic, finished = _collect(job, tests, consoles[suite], known)
                for r in got:
                    said = lava.get(case_id(r.test))
                    folded = "fail" if r.result == "timeout" else r.result
                    if said and said != folded:
                        r.output += (f"\nkpatchkit: LAVA recorded {said}, the log says "
                                     f"{r.result}")
                results += got
                splats += job_splats
                if panic:
                    panics.append(panic)
                outcomes.append("panic" if panic else "ok" if finished else "hang")
                continue
            for t in tests:
                res = lava.get(case_id(t.name))
                r = TestResult(kernel=k["name"], test=t.name, result=res or "error",
                               args=list(t.args), timeout=t.timeout,
                               output="" if res else "kpatchkit: LAVA recorded no result")
                if r.result in ("fail", "error") and t.name in known:
                    r.known = known[t.name]
                results.append(r)
            outcomes.append("ok" if all(case_id(t.name) in lava for t in tests) else "died")
        outcome = next((o for o in ("panic", "hang", "died") if o in outcomes), "ok")
        report.kernels.append(KernelRun(
            name=k["name"], commit=k["commit"], config_hash=k["config_hash"],
            build_seconds=float(k.get("build_seconds") or 0),
            build_cached=bool(k.get("build_cached")), image=k.get("image", ""),
            accel=manifest["accel"], outcome=outcome, splats=splats,
            detail="; ".join(panics) or (f"no LAVA results for {', '.join(missing_jobs)}"
                                         if outcome == "died" else "")))
        order = {n: i for i, n in enumerate(by_name)}
        results.sort(key=lambda r: order.get(r.test, len(order)))
        report.results += results
        report.results += [TestResult(kernel=k["name"], test=n, result="skip",
                                      output="kpatchkit: not in this tree's selftests")
                           for n in manifest.get("absent") or []]
    compare_kernels(report, {t["name"] for t in manifest["tests"] if t.get("generated")})
    data = report.to_json()
    data["engine"] = "lava"
    data["lava"] = {"jobs": [j["file"] for j in manifest["jobs"]], "missing": missing_jobs,
                    "files": [str(f) for f in files]}
    return data
