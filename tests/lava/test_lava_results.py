"""LAVA's results (export or job log) back into the run stage's records, then into a review."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from lava_helpers import fake_artifacts, lava_run_log, results_export

from kpatchkit.errors import KpatchkitError
from kpatchkit.lava.jobs import LavaKernel, LavaTest, write_jobs
from kpatchkit.lava.results import case_id, read_lava_file, run_from_lava

TESTS = [LavaTest("cow_anon_thp_off", "cow_anon_thp_off", [], 120, generated=True),
         LavaTest("dirty_log_test:clear", "dirty_log_test", [], 400),
         LavaTest("cpuid_test", "cpuid_test", [], 300),
         LavaTest("smm_test", "smm_test", [], 300)]
OUTCOME = {"cow_anon_thp_off": "pass", "dirty_log_test:clear": "skip", "cpuid_test": "fail",
           "smm_test": "timeout"}


@pytest.fixture
def manifest(tmp_path):
    kernel, initrd = fake_artifacts(tmp_path)
    return write_jobs(tmp_path / "jobs", tree="deb61",
                      kernels=[LavaKernel("base", "a" * 40, "cfg", kernel)], tests=TESTS,
                      initramfs=initrd, accel="tcg", append="console=ttyS0", memory="2G",
                      known={"smm_test": "TCG lacks SMM"}, group_seconds=100000)


def _logs(tmp_path, manifest, **kw):
    """One lava-run log per job of the manifest."""
    paths = []
    for job in manifest["jobs"]:
        path = tmp_path / f"{job['suite']}.log"
        path.write_text(lava_run_log(job["suite"], {t: OUTCOME[t] for t in job["tests"]}, **kw))
        paths.append(path)
    return paths


def test_case_ids_are_lavas() -> None:
    assert case_id("dirty_log_test:clear") == "dirty_log_test_clear"


def test_a_job_log_gives_a_local_runs_records(tmp_path, manifest) -> None:
    run = run_from_lava(manifest, _logs(tmp_path, manifest))
    by = {r["test"]: r for r in run["results"]}
    assert {t: r["result"] for t, r in by.items()} == OUTCOME
    assert by["cow_anon_thp_off"]["faults_per_cow_write"] == 2.0
    assert by["cow_anon_thp_off"]["stats"] == {"pf_taken": 2048}
    assert by["cow_anon_thp_off"]["generated"] is True
    assert by["smm_test"]["known"] == "TCG lacks SMM"
    assert run["engine"] == "lava" and run["kernels"][0]["outcome"] == "ok"
    assert run["summary"]["new_failures"] == ["base:cpuid_test"]


def test_the_results_export_gives_the_same_pass_fail(tmp_path, manifest) -> None:
    logs = _logs(tmp_path, manifest)
    exports = []
    for i, log in enumerate(logs):
        exports.append(tmp_path / f"results-{i}.yaml")
        exports[-1].write_text(yaml.safe_dump(results_export(log.read_text(), str(i))))
    cases, console = read_lava_file(exports[0])
    assert console == [] and {c["suite"] for c in cases} == {"kpatchkit-base-g1", "lava"}
    from_export = {r["test"]: r["result"] for r in run_from_lava(manifest, exports)["results"]}
    from_log = {r["test"]: r["result"] for r in run_from_lava(manifest, logs)["results"]}
    fold = {"timeout": "fail"}  # LAVA's case says fail; the log says why
    assert from_export == {t: fold.get(r, r) for t, r in from_log.items()}


def test_a_job_without_results_is_an_error_not_a_pass(tmp_path, manifest) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump([{"suite": "lava", "name": "job", "result": "fail"}]))
    run = run_from_lava(manifest, [other])
    assert {r["result"] for r in run["results"]} == {"error"}
    assert run["kernels"][0]["outcome"] == "died"
    assert run["lava"]["missing"] == ["base-g1.yaml", "base-g2.yaml"]


def test_a_log_that_stops_early_is_a_hang(tmp_path, manifest) -> None:
    run = run_from_lava(manifest, _logs(tmp_path, manifest, end=False))
    assert run["kernels"][0]["outcome"] == "hang"


def test_not_lava_output_is_refused(tmp_path, manifest) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: a mapping\n")
    with pytest.raises(KpatchkitError, match="neither LAVA"):
        run_from_lava(manifest, [bad])


def test_report_from_lava_fills_the_review(tmp_path, manifest) -> None:
    """kpatchkit report RUN --from-lava: the verdict and results.json come from LAVA's run."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
    from report_samples import make_review

    from kpatchkit.cli import main
    from kpatchkit.report.judge import finalize
    from kpatchkit.report.write import write_reports

    review = finalize(make_review())
    review.run = None
    run_dir = tmp_path / "run"
    write_reports(review, run_dir)
    out = tmp_path / "out"
    argv = ["report", str(run_dir), "-o", str(out), "--lava-jobs", str(tmp_path / "jobs")]
    for log in _logs(tmp_path, manifest):
        argv += ["--from-lava", str(log)]
    code = main(argv)
    results = json.loads((out / "results.json").read_text())
    statuses = {t["misc"]["test"]: t["status"] for t in results["tests"] if "test" in t["misc"]}
    assert statuses["cpuid_test"] == "FAIL" and statuses["cow_anon_thp_off"] == "PASS"
    record = json.loads((out / "review.json").read_text())
    assert record["run"]["engine"] == "lava" and code == record["verdict"]["exit_code"]
    assert any(s["name"] == "run" and s["status"] == "ok" for s in record["stages"])
