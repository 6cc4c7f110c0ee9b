"""Render the run matrix (kernels x test groups) as LAVA job definitions for the ``qemu`` device.

One job per kernel and test group: deploy the kernel and the initramfs to tmpfs (downloaded from
``--artifact-url``, checked by sha256), boot them with kpatchkit's QEMU options (TCG ``-cpu max``
or KVM ``-cpu host``), and watch the console with a LAVA test monitor that turns each TAP line of
the guest's init into a LAVA test case (pass/fail/skip). The group's tests are chosen on the
kernel command line (``kpatchkit.only=``, as the run stage's guests do), so every job of a
kernel deploys the same two artifacts.

``manifest.json`` beside the jobs is kpatchkit's own record of the matrix (kernels, commits,
tests, groups, known failures): ``kpatchkit report --from-lava`` reads LAVA's results against it.
Templates are Jinja2 with ``StrictUndefined``: a missing value is an error, never an empty field.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from kpatchkit import __version__
from kpatchkit.cache import file_digest
from kpatchkit.errors import KpatchkitError
from kpatchkit.knowledge import ListOf, OneOf, Regex, TableOf, load_toml

HERE = Path(__file__).parent
MANIFEST = "manifest.json"
ARTIFACTS = "artifacts"
DATA = HERE / "lava.toml"
SCHEMA = {
    "device_type": str, "visibility": OneOf("public", "personal"),
    "priority": (OneOf("high", "medium", "low"), int),
    "group_seconds": int,
    "timeouts": {"deploy": int, "boot": int, "job_slack": int, "test_slack_seconds": int},
    # LAVA's test monitor: start/end lines, the TAP line pattern, result group -> pass/fail/skip
    "monitor": {"start": str, "end": str, "pattern": Regex("test_case_id", "result"),
                "fixupdict": TableOf(OneOf("pass", "fail", "skip", "unknown"))},
    "qemu": {"serial": ListOf(str), "common": ListOf(str)},
}


def config() -> dict[str, Any]:
    """lava.toml: device type, timeouts, the monitor pattern, the QEMU console options."""
    return load_toml(DATA, SCHEMA)


def _yaml_scalar(value: Any) -> str:
    """A YAML scalar for any string (JSON's double-quoted form is valid YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the job and device templates."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)  # YAML, not HTML: values go through |yaml
    env.filters["yaml"] = _yaml_scalar
    env.filters["shell_quote"] = lambda s: '"' + str(s).replace('"', '\\"') + '"'
    return env


@dataclass
class LavaKernel:
    """A built kernel to put in the matrix."""

    name: str  # base / patched
    commit: str
    config_hash: str
    image: Path
    build_seconds: float = 0.0
    build_cached: bool = False


@dataclass
class LavaTest:
    """One line of the guest's test list (in list order)."""

    name: str
    program: str
    args: list[str] = field(default_factory=list)
    timeout: int = 180
    generated: bool = False


def groups(tests: list[LavaTest], expected: dict[str, float] | None = None,
           group_seconds: float | None = None) -> list[list[int]]:
    """Indices of ``tests`` per group, in list order: generated tests first on their own,
    then the rest cut so each group's expected time (last known duration, else the timeout)
    stays under ``group_seconds``."""
    limit = group_seconds or float(config()["group_seconds"])
    expected = expected or {}
    out: list[list[int]] = []
    for kind in (True, False):
        idx = [i for i, t in enumerate(tests) if t.generated is kind]
        if not idx:
            continue
        total = sum(expected.get(tests[i].name, tests[i].timeout) for i in idx)
        n = max(1, math.ceil(total / limit))
        cur: list[int] = []
        acc, share = 0.0, total / n
        for i in idx:
            cost = expected.get(tests[i].name, tests[i].timeout)
            if cur and acc + cost > share * 1.25:
                out.append(cur)
                cur, acc = [], 0.0
            cur.append(i)
            acc += cost
        out.append(cur)
    return out


def only_param(indices: list[int], total: int) -> str:
    """The guest init's ``kpatchkit.only=`` word (1-based list lines) for a group."""
    if list(indices) == list(range(total)):
        return ""
    return "kpatchkit.only=" + ",".join(str(i + 1) for i in indices)


def qemu_settings(accel: str, append: str, memory: str, smp: int) -> dict[str, Any]:
    """What the jobs ask of the lab's qemu device: CPU model, memory, the extra options."""
    cfg = config()["qemu"]
    mem = memory.upper()
    memory_mb = int(mem[:-1]) * 1024 if mem.endswith("G") else int(mem.rstrip("M"))
    options = ([f"-accel {accel}", f"-smp {smp}"] + list(cfg["common"]) + list(cfg["serial"]))
    return {"accel": accel, "cpu": "max" if accel == "tcg" else "host", "memory_mb": memory_mb,
            "options": options, "append": append}


def _place(src: Path, dest: Path) -> None:
    """Hard-link (else copy) an artifact into the jobs directory."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.stat().st_size == src.stat().st_size:
        return
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dest)


def _url(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel


def write_jobs(out_dir: Path, *, tree: str, kernels: list[LavaKernel], tests: list[LavaTest],
               initramfs: Path, accel: str, append: str, memory: str, smp: int = 1,
               artifact_url: str | None = None, known: dict[str, str] | None = None,
               absent: list[str] | None = None, expected: dict[str, float] | None = None,
               group_seconds: float | None = None, slack: int = 60,
               boot_seconds: int = 180) -> dict[str, Any]:
    """Write ``out_dir/<kernel>-<group>.yaml`` for every kernel x group, the artifacts under
    ``out_dir/artifacts/`` and ``manifest.json``; return the manifest."""
    if not kernels or not tests:
        raise KpatchkitError("nothing to put in LAVA jobs: no kernel or no test")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Without --artifact-url the jobs name the files where they are (lava-run on this machine).
    base = artifact_url or out_dir.resolve().as_uri()
    cfg = config()
    t = cfg["timeouts"]
    init_rel = f"{ARTIFACTS}/initramfs-{file_digest(initramfs)[:16]}.cpio.gz"
    _place(initramfs, out_dir / init_rel)
    init = {"file": init_rel, "url": _url(base, init_rel),
            "sha256": file_digest(out_dir / init_rel)}
    qemu = qemu_settings(accel, append, memory, smp)
    env = environment()
    template = env.get_template("job.yaml.j2")
    parts = groups(tests, expected, group_seconds)
    kernel_rows, job_rows = [], []
    for k in kernels:
        rel = f"{ARTIFACTS}/bzImage-{k.name}-{k.commit[:12]}-{k.config_hash[:8]}"
        _place(Path(k.image), out_dir / rel)
        digest = file_digest(out_dir / rel)
        kernel = {"name": k.name, "commit": k.commit, "config_hash": k.config_hash,
                  "image": str(k.image), "file": rel, "url": _url(base, rel), "sha256": digest,
                  "build_seconds": k.build_seconds, "build_cached": k.build_cached}
        kernel_rows.append(kernel)
        for g, idx in enumerate(parts):
            name = f"g{g + 1}"
            chosen = [tests[i] for i in idx]
            test_seconds = boot_seconds + sum(x.timeout for x in chosen) + \
                int(t["test_slack_seconds"])
            group = {"name": name, "file": f"{k.name}-{name}.yaml",
                     "suite": f"kpatchkit-{k.name}-{name}", "indices": idx,
                     "tests": [x.name for x in chosen]}
            job_qemu = dict(qemu)
            job_qemu["append"] = " ".join(x for x in (append, only_param(idx, len(tests))) if x)
            timeouts = {
                "deploy_minutes": int(t["deploy"]), "boot_minutes": int(t["boot"]),
                "test_seconds": test_seconds,
                # the monitor waits this long for each next TAP line: the longest test + slack
                "connection_seconds": max(x.timeout for x in chosen) + slack + boot_seconds,
            }
            timeouts["job_minutes"] = (timeouts["deploy_minutes"] + timeouts["boot_minutes"]
                                       + math.ceil(test_seconds / 60) + int(t["job_slack"]))
            text = template.render(
                version=__version__, tree=tree, kernel=kernel, group=group, qemu=job_qemu,
                initramfs=init, timeouts=timeouts, monitor=cfg["monitor"],
                device_type=cfg["device_type"], visibility=cfg["visibility"],
                priority=cfg["priority"], artifact_url=base)
            (out_dir / group["file"]).write_text(text)
            job_rows.append({**group, "kernel": k.name, "append": job_qemu["append"]})
    manifest = {
        "kpatchkit_lava": 1, "version": __version__, "tree": tree, "accel": accel,
        "artifact_url": base, "initramfs": init, "kernels": kernel_rows,
        "tests": [{"name": x.name, "program": x.program, "args": list(x.args),
                   "timeout": x.timeout, "generated": x.generated} for x in tests],
        "known": dict(known or {}), "absent": list(absent or []), "jobs": job_rows,
        "qemu": qemu, "monitor": cfg["monitor"],
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_manifest(path: Path) -> dict[str, Any]:
    """A jobs directory's manifest.json (``path``: the directory or the file)."""
    path = Path(path)
    file = path / MANIFEST if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise KpatchkitError(f"{file}: not a kpatchkit LAVA manifest ({exc})") from exc
    if not isinstance(data, dict) or data.get("kpatchkit_lava") != 1:
        raise KpatchkitError(f"{file}: not a kpatchkit LAVA manifest")
    return data


def local_device(manifest: dict[str, Any], job_file: str, dest: Path,
                 qemu_binary: str = "qemu-system-x86_64") -> Path:
    """A device dictionary for ``lava-run`` on this machine, for one job of ``manifest``: the
    qemu device a lab would render from the job's context (cpu, memory, extra_options)."""
    job = next((j for j in manifest["jobs"] if j["file"] == job_file), None)
    if job is None:
        raise KpatchkitError(f"{job_file}: not a job of this manifest")
    q = manifest["qemu"]
    text = environment().get_template("device-qemu.yaml.j2").render(
        qemu_binary=shutil.which(qemu_binary) or qemu_binary, memory_mb=q["memory_mb"],
        cpu=q["cpu"], options=q["options"])
    dest.write_text(text)
    return dest
