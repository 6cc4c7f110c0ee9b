"""The run matrix as LAVA jobs: rendered from the templates, accepted by Debian's lava-common."""

from __future__ import annotations

import jinja2
import pytest
import yaml
from lava_helpers import fake_artifacts, lava_validate

from kpatchkit.lava import jobs
from kpatchkit.lava.jobs import LavaKernel, LavaTest, load_manifest, local_device, write_jobs

TESTS = [LavaTest("cow_anon_thp_off", "cow_anon_thp_off", [], 120, generated=True),
         LavaTest("set_memory_region_test", "set_memory_region_test", [], 600),
         LavaTest("dirty_log_test:clear", "dirty_log_test", ["-M", "clear-log"], 400),
         LavaTest("cpuid_test", "cpuid_test", [], 300)]


@pytest.fixture
def matrix(tmp_path):
    kernel, initrd = fake_artifacts(tmp_path)
    kernels = [LavaKernel("base", "a" * 40, "cfg0123456789", kernel),
               LavaKernel("patched", "b" * 40, "cfg0123456789", kernel)]
    out = tmp_path / "jobs"
    manifest = write_jobs(out, tree="deb61", kernels=kernels, tests=TESTS, initramfs=initrd,
                          accel="tcg", append="console=ttyS0 panic=-1", memory="2G",
                          artifact_url="https://lab.example.org/kpatchkit/run1",
                          known={"cpuid_test": "TCG"}, group_seconds=700)
    return out, manifest


def test_one_job_per_kernel_and_group(matrix) -> None:
    out, manifest = matrix
    names = [j["file"] for j in manifest["jobs"]]
    assert names == ["base-g1.yaml", "base-g2.yaml", "base-g3.yaml",
                     "patched-g1.yaml", "patched-g2.yaml", "patched-g3.yaml"]
    groups = {j["name"]: j["tests"] for j in manifest["jobs"] if j["kernel"] == "base"}
    assert groups["g1"] == ["cow_anon_thp_off"]  # generated tests on their own
    assert sorted(sum(groups.values(), [])) == sorted(t.name for t in TESTS)
    assert load_manifest(out) == manifest


def test_jobs_carry_artifacts_qemu_options_timeouts_and_monitor(matrix) -> None:
    out, manifest = matrix
    job = yaml.safe_load((out / "base-g2.yaml").read_text())
    images = job["actions"][0]["deploy"]["images"]
    assert images["kernel"]["url"].startswith("https://lab.example.org/kpatchkit/run1/artifacts/")
    assert images["kernel"]["sha256sum"] == manifest["kernels"][0]["sha256"]
    assert "-append \"console=ttyS0 panic=-1 kpatchkit.only=" in images["kernel"]["image_arg"]
    assert images["initrd"]["image_arg"] == "-initrd {initrd}"
    assert job["context"]["cpu"] == "max" and "-accel tcg" in job["context"]["extra_options"]
    assert job["actions"][1]["boot"]["method"] == "qemu"
    monitor = job["actions"][2]["test"]["monitors"][0]
    assert monitor["name"] == "kpatchkit-base-g2"
    assert set(monitor["fixupdict"].values()) == {"pass", "fail", "skip"}
    tests = [t for t in TESTS if t.name in manifest["jobs"][1]["tests"]]
    assert job["actions"][2]["test"]["timeout"]["seconds"] >= sum(t.timeout for t in tests)
    assert job["timeouts"]["job"]["minutes"] * 60 > job["actions"][2]["test"]["timeout"][
        "seconds"]


def test_kvm_jobs_ask_for_the_host_cpu(tmp_path) -> None:
    kernel, initrd = fake_artifacts(tmp_path)
    write_jobs(tmp_path / "j", tree="t", kernels=[LavaKernel("base", "a" * 40, "c", kernel)],
               tests=TESTS[:1], initramfs=initrd, accel="kvm", append="x", memory="1G")
    job = yaml.safe_load((tmp_path / "j" / "base-g1.yaml").read_text())
    assert job["context"]["cpu"] == "host" and job["context"]["memory"] == 1024
    assert job["actions"][0]["deploy"]["images"]["kernel"]["url"].startswith("file://")


def test_monitor_pattern_reads_the_guest_tap() -> None:
    import re

    cfg = jobs.config()["monitor"]
    pattern = re.compile(cfg["pattern"], re.S)
    text = ("KPATCHKIT-RESULTS-BEGIN\n    ok 1 inner_subtest\nok 1 a\n"
            "ok 2 b:clear # SKIP exit 4 (KSFT_SKIP)\r\nnot ok 3 c # exit=1\n"
            "not ok 4 d # TIMEOUT after 3s\n")
    got = [(m["test_case_id"], cfg["fixupdict"][m["result"]]) for m in pattern.finditer(text)]
    assert got == [("a", "pass"), ("b:clear", "skip"), ("c", "fail"), ("d", "fail")]


def test_templates_are_strict(tmp_path) -> None:
    env = jobs.environment()
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("job.yaml.j2").render(version="x")


def test_lava_common_accepts_every_job_and_the_device(matrix, tmp_path) -> None:
    out, manifest = matrix
    device = local_device(manifest, "base-g1.yaml", tmp_path / "device.yaml")
    paths = [("job", out / j["file"]) for j in manifest["jobs"]] + [("device", device)]
    errors = lava_validate(paths)
    assert errors and not any(errors.values()), errors


def test_lava_common_rejects_a_broken_job(matrix, tmp_path) -> None:
    out, _ = matrix
    job = yaml.safe_load((out / "base-g1.yaml").read_text())
    del job["timeouts"]["job"]
    job["actions"][2]["test"]["monitors"][0]["fixupdict"][""] = "passed"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(job))
    assert lava_validate([("job", bad)])[str(bad)]
