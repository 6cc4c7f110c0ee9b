"""The reference series reviewed with --lava-out: lava-common accepts every job, and one job (the
base kernel's generated-test group, ~25 s of TCG) runs under LAVA's own dispatcher, lava-run,
against a local qemu device dictionary. Its results, read back with 'kpatchkit report
--from-lava', give the same pass/fail per test as a local 'kpatchkit run' of the same tests."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from lava_helpers import lava_run_missing, lava_validate

from kpatchkit.cli import main
from kpatchkit.lava.jobs import load_manifest, local_device

pytestmark = [pytest.mark.lava, pytest.mark.tree, pytest.mark.build, pytest.mark.vm,
              pytest.mark.timeout(3600)]
LORE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "lore"


def _json(argv: list[str]) -> tuple[int, dict]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(argv)
    return code, json.loads(buf.getvalue() or "{}")



@pytest.fixture(scope="module")
def lava_review(deb61, tmp_path_factory) -> tuple[Path, Path, int]:
    root = tmp_path_factory.mktemp("lava-review")
    run_dir, jobs = root / "run", root / "jobs"
    code, _ = _json(["review", str(LORE / "series.mbox"), "--tree", deb61, "-o", str(run_dir),
                     "--lava-out", str(jobs), "--json"])
    return run_dir, jobs, code


def test_review_writes_jobs_lava_common_accepts(lava_review, tmp_path) -> None:
    run_dir, jobs, code = lava_review
    manifest = load_manifest(jobs)
    assert {j["kernel"] for j in manifest["jobs"]} == {"base", "patched"}
    device = local_device(manifest, manifest["jobs"][0]["file"], tmp_path / "device.yaml")
    errors = lava_validate([("job", jobs / j["file"]) for j in manifest["jobs"]]
                           + [("device", device)])
    assert not any(errors.values()), errors
    record = json.loads((run_dir / "review.json").read_text())
    assert record["provenance"]["lava jobs"] == str(jobs.resolve())
    assert [s["status"] for s in record["stages"] if s["name"] == "run"] == ["skipped"]
    for art in [*manifest["kernels"], manifest["initramfs"]]:
        assert (jobs / art["file"]).is_file()


def test_one_job_under_lava_run_matches_a_local_run(lava_review, deb61, tmp_path) -> None:
    why = lava_run_missing()
    if why:
        pytest.skip(why)
    run_dir, jobs, _ = lava_review
    manifest = load_manifest(jobs)
    job = next(j for j in manifest["jobs"] if j["kernel"] == "base" and j["name"] == "g1")
    device = local_device(manifest, job["file"], tmp_path / "device.yaml")
    log = tmp_path / "lava-run.log"
    with open(log, "w") as fh:
        proc = subprocess.run(["lava-run", "--job-id", "1", "--output-dir", str(tmp_path / "o"),
                               "--device", str(device), str(jobs / job["file"])],
                              stdout=fh, stderr=subprocess.STDOUT, timeout=1800)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert '"case": "job", "definition": "lava", "result": "pass"' in log.read_text()

    out = tmp_path / "report"
    _json(["report", str(run_dir), "-o", str(out), "--from-lava", str(log), "--json"])
    lava_run = json.loads((out / "review.json").read_text())["run"]
    assert lava_run["engine"] == "lava"
    from_lava = {r["test"]: r for r in lava_run["results"]
                 if r["kernel"] == "base" and r["test"] in job["tests"]}
    assert set(from_lava) == set(job["tests"])

    # The same tests on the same (cached) base kernel, booted here by the run stage.
    code, local = _json(["run", "--tree", deb61, "--tests", ",".join(job["tests"]), "--debug",
                         "--no-reuse", "--json"])
    local_results = {r["test"]: r for r in local["results"] if r["kernel"] == "base"}
    assert {t: r["result"] for t, r in from_lava.items()} == \
        {t: local_results[t]["result"] for t in from_lava}
    assert [k["commit"] for k in local["kernels"]] == [
        k["commit"] for k in manifest["kernels"] if k["name"] == "base"]
    for t, r in from_lava.items():  # the metrics come back too, not only pass/fail
        assert (r.get("faults_per_cow_write") is None) == \
            (local_results[t].get("faults_per_cow_write") is None), t
    results = json.loads((out / "results.json").read_text())
    assert {t["status"] for t in results["tests"]
            if t["misc"].get("kernel") == "base" and t["misc"].get("test") in from_lava} \
        == {"PASS"}
