"""``kpatchkit report RUN_DIR --from-lava FILE...``: LAVA's results into a review record, so the
verdict, report files and KCIDB output are those a local run would give."""

from __future__ import annotations

from pathlib import Path

from kpatchkit.errors import UserError
from kpatchkit.lava.jobs import load_manifest
from kpatchkit.lava.results import run_from_lava
from kpatchkit.records.review import ReviewResult, ReviewRun, StageRun

PROVENANCE_KEY = "lava jobs"  # where review --lava-out records the jobs directory


def attach(result: ReviewResult, files: list[str], jobs_dir: str | None) -> ReviewResult:
    """Fill ``result.run`` from LAVA's results (exports or job logs) of the jobs in
    ``jobs_dir`` (default: the directory the review wrote them to)."""
    where = jobs_dir or result.provenance.get(PROVENANCE_KEY)
    if not where:
        raise UserError("--from-lava: which jobs? give --lava-jobs DIR (the --lava-out "
                        "directory holding manifest.json)")
    manifest = load_manifest(Path(where))
    result.run = ReviewRun.from_json(run_from_lava(manifest, [Path(f) for f in files]))
    stage = next((s for s in result.stages if s.name == "run"), None)
    if stage is None:
        stage = StageRun(name="run")
        result.stages.append(stage)
    stage.status, stage.error, stage.exit_code = "ok", "", 0
    result.provenance = {**result.provenance, "engine": "LAVA",
                         PROVENANCE_KEY: str(where),
                         "lava results": ", ".join(str(f) for f in files)}
    return result
