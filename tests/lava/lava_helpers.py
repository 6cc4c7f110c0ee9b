"""Helpers of the LAVA tests: Debian's lava-common validator, fake artifacts, LAVA-shaped logs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

# lava-common is a Debian package for the system's python3 (with its voluptuous): the jobs are
# checked by that interpreter, the way a LAVA server checks a submitted job.
SYSTEM_PYTHON = "/usr/bin/python3"
_VALIDATE = r"""
import json, sys, yaml
from lava_common.schemas import validate
from lava_common.schemas.device import validate as validate_device
out = {}
for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
    data = yaml.safe_load(open(path))
    try:
        if kind == "device":
            validate_device(data)
        else:
            validate(data, strict=True)
        out[path] = ""
    except Exception as exc:
        out[path] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def lava_common_missing() -> str:
    """Why lava-common's validator cannot run here ('' when it can)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} missing"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import lava_common.schemas"],
                           capture_output=True, text=True)
    if probe.returncode:
        return ("Debian's lava-common is not installed (apt-get install lava-common; "
                "scripts/debian-packages.txt lists it)")
    return ""


def lava_validate(paths: list[tuple[str, Path]]) -> dict[str, str]:
    """{path: '' or the validator's error} for ('job'|'device', path) pairs."""
    why = lava_common_missing()
    if why:
        pytest.fail(why)
    argv = [SYSTEM_PYTHON, "-c", _VALIDATE]
    for kind, path in paths:
        argv += [kind, str(path)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def lava_run_missing() -> str:
    """Why lava-run (Debian's lava-dispatcher) cannot run a job here ('' when it can)."""
    if not shutil.which("lava-run"):
        return ("lava-run not found: Debian's lava-dispatcher is not installed "
                "(bash scripts/bootstrap.sh installs it from scripts/debian-packages.txt)")
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 not found (Debian's qemu-system-x86)"
    return ""


def fake_artifacts(tmp: Path) -> tuple[Path, Path]:
    kernel, initrd = tmp / "bzImage", tmp / "initramfs.cpio.gz"
    kernel.write_bytes(b"not a kernel\n")
    initrd.write_bytes(b"not an initramfs\n")
    return kernel, initrd


def tap_console(results: dict[str, str], *, end: bool = True) -> list[str]:
    """The console lines a kpatchkit guest prints (see kpatchkit/guest/data/init.sh)."""
    lines = ["[    0.000000] Linux version 6.1.0", "KPATCHKIT-RESULTS-BEGIN", "TAP version 13",
             f"1..{len(results)}"]
    for i, (name, res) in enumerate(results.items(), 1):
        lines += [f"# kpatchkit-begin {name}", "    # kpatchkit-metric faults_per_cow_write=2.0",
                  f"# kpatchkit-stats {name} seconds=1.25 exit={0 if res != 'fail' else 1}"
                  " pf_taken=2048"]
        lines.append({"pass": f"ok {i} {name}", "skip": f"ok {i} {name} # SKIP exit 4",
                      "fail": f"not ok {i} {name} # exit=1",
                      "timeout": f"not ok {i} {name} # TIMEOUT after 5s"}[res])
    if end:
        lines += ["# kpatchkit-dmesg-begin", "# kpatchkit-dmesg-end", "KPATCHKIT-RESULTS-END"]
    return lines


def lava_run_log(suite: str, results: dict[str, str], *, end: bool = True) -> str:
    """lava-run's stdout for a job: target lines, then the monitor's test cases."""
    lava = {"pass": "pass", "skip": "skip", "fail": "fail", "timeout": "fail"}
    out = [{"dt": "2026-01-01T00:00:00", "lvl": "target", "msg": m}
           for m in tap_console(results, end=end)]
    out += [{"dt": "2026-01-01T00:00:01", "lvl": "results",
             "msg": {"case": name.lower().replace(":", "_"), "definition": suite,
                     "extra": {"test_case_id": name}, "level": "3.1", "result": lava[res]}}
            for name, res in results.items()]
    out.append({"dt": "2026-01-01T00:00:02", "lvl": "results",
                "msg": {"case": "job", "definition": "lava", "result": "pass"}})
    return "\n".join(json.dumps(x) for x in out) + "\n"


def results_export(log_text: str, job_id: str = "17") -> list[dict]:
    """LAVA's results export (lavacli results JOB --yaml) of the test cases in a job log."""
    rows = []
    for line in log_text.splitlines():
        e = json.loads(line)
        if e["lvl"] == "results":
            m = e["msg"]
            rows.append({"id": str(len(rows) + 1), "job": job_id, "suite": m["definition"],
                         "name": m["case"], "result": m["result"], "measurement": None,
                         "unit": "", "level": m.get("level", ""), "logged": e["dt"],
                         "metadata": m, "url": f"/results/{job_id}/{m['definition']}"})
    return rows
