"""The review pipeline: fetch -> apply/port -> analyze -> gen-tests -> run -> report.

Each stage's result is stored under a hash of its inputs (see ``store``), so a second review of
the same series on the same tree reuses every stage, and an interrupted one resumes at the stage
that did not finish. A stage that fails stops the stages that need it; the report is written
anyway, with the verdict saying why (bad input, infrastructure, or the patch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from kpatchkit import __version__, atomic
from kpatchkit.cache import content_hash
from kpatchkit.console import info
from kpatchkit.errors import EXIT_INFRA, KpatchkitError, save_traceback
from kpatchkit.kernel import kbuild
from kpatchkit.records.applied import Applied
from kpatchkit.records.claims import ClaimVerdict
from kpatchkit.records.findings import Finding
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.review import (
    PatchInfo,
    ReviewAnalysis,
    ReviewResult,
    ReviewRun,
    SeriesInfo,
    StageRun,
)
from kpatchkit.records.series import Series, patchset_hash
from kpatchkit.report.judge import apply_outcome, stops_after_apply
from kpatchkit.review import stages
from kpatchkit.review.store import StageStore

STAGES = ("fetch", "apply", "analyze", "gen-tests", "run", "report")
_PKG = Path(__file__).resolve().parents[1]
RUN_KNOWLEDGE = (_PKG / "run" / "data", _PKG / "guest" / "data", _PKG / "kernel" / "data")
ARCHIVE = "https://lore.kernel.org/r/"
# Bumped when a stage's output shape changes, so stored results of the old shape are not reused.
STORE_VERSION = "1"
TESTS_PATCH = "cow-tests.patch"  # beside the rendered tests in <run dir>/selftests/

T = TypeVar("T")


@dataclass
class ReviewOptions:
    """What ``kpatchkit review`` was asked to do."""

    source: str
    tree: str
    out_dir: Path
    msgid: str | None = None
    prereqs: list[str] = field(default_factory=list)
    scenarios: list[str] | None = None
    jobs: int = 2
    skip: set[str] = field(default_factory=set)  # stages not to run ("analyze", "run", ...)
    use_cache: bool = True
    expect: dict[str, str] = field(default_factory=dict)  # --expect SCENARIO=VALUE, as given
    lava_out: Path | None = None  # --lava-out: write LAVA jobs there instead of booting here
    artifact_url: str | None = None  # --artifact-url: where those jobs' artifacts are served
    tests: str = "all"  # --tests: all upstream tests, or "auto"/"affected" by the patch's files


class Ticker:
    """Progress on stderr: a line when a stage starts and ends, and a heartbeat while it runs."""

    def __init__(self, total: int, every: float = 60.0) -> None:
        self.total, self.every = total, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, index: int, name: str) -> float:
        info(f"[{index}/{self.total}] {name} ...")
        self._stop.clear()
        t0 = time.monotonic()

        def beat() -> None:
            while not self._stop.wait(self.every):
                info(f"[{index}/{self.total}] {name}: still running, "
                     f"{time.monotonic() - t0:.0f} s")

        self._thread = threading.Thread(target=beat, daemon=True)
        self._thread.start()
        return t0

    def end(self, index: int, stage: StageRun) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        extra = f": {stage.error}" if stage.error else ""
        info(f"[{index}/{self.total}] {stage.name}: {stage.status} in {stage.seconds:.1f} s{extra}")


def _file_digest(source: str) -> str:
    path = Path(source)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode() + p.read_bytes())
        return h.hexdigest()
    return source  # a URL or Message-ID: the text is the key


def run_knowledge_key() -> str:
    """What decides the run stage besides the commits and the tests: the data that builds the
    kernels (config fragments, selftests layout), the guest (init, QEMU options, test lists),
    the run's own data, and how an image is built (kbuild.IMAGE_RECIPE). A change to any of them
    must not reuse a stored run (the results cache below keys on image bytes; this store does
    not see images)."""
    return content_hash(*(_tree_digest(d) for d in RUN_KNOWLEDGE), kbuild.IMAGE_RECIPE)


def _tree_digest(path: Path) -> str:
    """Hash of the data and templates a stage renders from (so edits invalidate results)."""
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()[:16]


def series_info(series: Series) -> SeriesInfo:
    """Summarise fetch's Series record for the report."""
    patches = []
    for p in series.patches:
        mid = p.message_id.strip("<>")
        patches.append(PatchInfo(
            index=p.index or 1, total=p.total or 1, subject=p.subject, author=p.author,
            email=p.email, date=p.date, message_id=mid,
            link=ARCHIVE + quote(mid, safe="@.-_+") if mid else "",
            insertions=p.insertions, deletions=p.deletions, files=[f.path for f in p.files]))
    cover = series.cover
    title = cover.subject if cover is not None and cover.subject else (
        patches[-1].subject if patches else "")
    return SeriesInfo(title=title, source=series.source, version=series.version or 1,
                      total=series.total or len(patches), patches=patches,
                      cover_message_id=cover.message_id.strip("<>") if cover is not None else "",
                      missing=list(series.missing), warnings=list(series.warnings),
                      patchset_hash=patchset_hash([p.diff for p in series.patches]))


def excerpts(repo: Path, applied: Applied, findings: list[Finding],
             context: int = 3) -> dict[str, list[list[Any]]]:
    """Source lines around each finding, from the commit the finding was seen in."""
    from kpatchkit.kernel.git import show_file

    out: dict[str, list[list[Any]]] = {}
    texts: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        if not f.file:
            continue
        rev = applied.base_commit if f.status == "fixed" else applied.patched_commit
        if not rev:
            continue
        if (rev, f.file) not in texts:
            try:
                texts[(rev, f.file)] = (show_file(repo, rev, f.file) or "").splitlines()
            except KpatchkitError:
                texts[(rev, f.file)] = []
        lines = texts[(rev, f.file)]
        lo, hi = max(f.line - context, 1), min(f.line + context, len(lines))
        out[f"{f.file}:{f.line}"] = [[n, lines[n - 1]] for n in range(lo, hi + 1)]
    return out


def _apply_complete(applied: Applied) -> bool:
    """An apply result is final once its compile check ran (or nothing could be compiled)."""
    if applied.result not in ("applied", "ported"):
        return True  # an outcome the review stops at (already-applied, conflict, ...)
    return applied.compile is not None and applied.compile.ok is not None


def _run_complete(run: ReviewRun) -> bool:
    """Keep a run only when every kernel booted and finished: a hang, panic or dead VM is
    worth another try (it may be the loaded machine's timeout, not the patch)."""
    return all(k.outcome == "ok" for k in run.kernels)


def _localise(tests: list[GeneratedTest], out: Path) -> list[GeneratedTest] | None:
    """Make a stored gen-tests result point into this run's ``out`` directory.

    A result reused from another run directory names that directory's files: copy them here so
    the run directory is complete on its own. None if a source is missing.
    """

    from kpatchkit.kernel.selftests import local_headers

    out.mkdir(parents=True, exist_ok=True)
    local = []
    for t in tests:
        src = Path(t.c_path)
        if not src.exists() or not all(Path(h).exists() for h in t.headers):
            return None  # a same-named file here may be an older render: never trust it
        headers = local_headers(src)
        for path in [src, *headers]:
            if path.resolve() != (out / path.name).resolve():
                atomic.write_bytes(out / path.name, path.read_bytes())
        local.append(dataclasses.replace(t, c_path=out / src.name,
                                         headers=[out / h.name for h in headers]))
    return local


def _tests_json(tests: list[GeneratedTest]) -> list[dict[str, Any]]:
    return [t.to_json() for t in tests]


def _tests_from(data: list[dict[str, Any]]) -> list[GeneratedTest]:
    return [GeneratedTest.from_json(t) for t in data]


class Review:
    """One review run: execute (or reuse) each stage, then judge and write the report."""

    def __init__(self, opts: ReviewOptions) -> None:
        self.opts = opts
        self.store = StageStore(opts.out_dir, use_cache=opts.use_cache)
        now = datetime.now(UTC).replace(microsecond=0)
        self.result = ReviewResult(
            run_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
            created=now.isoformat().replace("+00:00", "Z"), tool_version=__version__,
            expect=dict(opts.expect))
        self.ticker = Ticker(len(STAGES))
        self.series: Series | None = None
        self.tree = None
        self.patch_diffs: list[str] = []

    # -- one stage -----------------------------------------------------------------------------

    def _stage(self, name: str, key_parts: list[str], fn: Callable[[], T],
               dump: Callable[[T], Any], load: Callable[[Any], T],
               complete: Callable[[T], bool] = lambda record: True) -> T | None:
        """Run stage ``name`` or reuse its stored result; ``complete`` says whether a result
        may be stored and reused (a partial one, e.g. apply with its compile still pending, is
        recomputed next time: the stage's own caches make that cheap).

        The store keeps JSON (``dump``); the review reads the record ``load`` makes of it, the
        same whether the stage ran now or was reused.
        """
        index = STAGES.index(name) + 1
        stage = StageRun(name=name)
        self.result.stages.append(stage)
        if name in self.opts.skip:
            stage.status = "skipped"
            info(f"[{index}/{len(STAGES)}] {name}: skipped (--skip)")
            return None
        stage.key = content_hash(STORE_VERSION, name, *key_parts)
        t0 = self.ticker.start(index, name)
        record: T | None = None
        try:
            record = self._stored(name, stage.key, load, complete)
            if record is not None:
                stage.status = "cached"
            else:
                data = dump(fn())
                record = load(data)
                if complete(record):
                    self.store.put(name, stage.key, {"value": data})
                stage.status = "ok"
        except KpatchkitError as exc:
            stage.status, stage.error, stage.exit_code = "failed", exc.message, exc.exit_code
            record = None
        except Exception as exc:  # noqa: BLE001 - a stage's bug: exit 3, traceback in a log
            stage.status, stage.exit_code = "failed", EXIT_INFRA
            stage.error = f"internal error: {type(exc).__name__}: {exc} ({save_traceback()})"
            record = None
        stage.seconds = round(time.monotonic() - t0, 2)
        self.ticker.end(index, stage)
        return record

    def _stored(self, name: str, key: str, load: Callable[[Any], T],
                complete: Callable[[T], bool]) -> T | None:
        """The stored result of a stage as its record, if there is a complete one. One that
        no longer reads as the record (stored by another kpatchkit) is said and recomputed."""
        cached = self.store.get(name, key)
        if cached is None:
            return None
        try:
            record = load(cached.get("value"))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            info(f"{name}: the stored result does not read ({type(exc).__name__}: {exc}); "
                 "running the stage again")
            return None
        return record if complete(record) else None

    def _failed(self) -> bool:
        return any(s.status == "failed" for s in self.result.stages)

    # -- the pipeline --------------------------------------------------------------------------

    def run(self) -> ReviewResult:
        """Run every stage in order and write the report files; return the result."""
        o, r = self.opts, self.result
        self.series = self._stage("fetch", [_file_digest(o.source), o.msgid or ""],
                                  lambda: stages.fetch(o.source, o.msgid),
                                  Series.to_json, Series.from_json)
        if self.series:
            r.series = series_info(self.series)
            self.patch_diffs = [p.diff for p in self.series.patches]
            try:  # results.json links these when a mail has no archive copy
                stages.write_mails(self.series, o.out_dir)
            except (KpatchkitError, OSError, ValueError) as exc:
                info(f"fetch: the mails were not written to the run directory ({exc})")
        try:
            self.tree = stages.resolve_tree(o.tree)
            r.tree = self.tree
        except KpatchkitError as exc:
            r.stages.append(StageRun("apply", "failed", 0.0, "", f"--tree: {exc.message}",
                                     exc.exit_code))
        if self.series is not None and self.tree is not None:
            self._apply()
        applied = r.applied
        # already-applied, needs-prereq, not-applicable and conflict stop here: the report
        # says which, with apply's evidence; only a series that landed is analysed and run.
        if applied is not None and stops_after_apply(applied):
            info(f"apply: {apply_outcome(applied)}: the review stops after apply")
        elif applied is not None and applied.patched_commit and not self._failed() and not (
                applied.compile is not None and applied.compile.ok is False):
            self._analyze(applied)
            self._gen_tests()
            if not self._failed():
                self._run(applied)
        self._report()
        return r

    def _apply(self) -> None:
        o, tree, series = self.opts, self.tree, self.series
        prereq_keys = [_file_digest(p) for p in o.prereqs]
        series_key = content_hash(*self.patch_diffs, *(p.subject for p in series.patches))
        import kpatchkit.apply as pkg

        # The apply stage's code is part of the key: a stored result from an older apply (its
        # outcomes were renamed and refined) is never taken for today's answer.
        code_key = _tree_digest(Path(pkg.__file__).parent)
        self.result.applied = self._stage(
            "apply", [series_key, tree.head, str(tree.path), *prereq_keys, code_key],
            lambda: stages.apply(series, tree, o.prereqs), Applied.to_json, Applied.from_json,
            complete=_apply_complete)

    def _analyze(self, a: Applied) -> None:
        import kpatchkit.analyze as pkg

        data_key = _tree_digest(Path(pkg.__file__).parent)
        self.result.analysis = self._stage(
            "analyze", [str(self.tree.path), a.base_commit, a.patched_commit, data_key,
                        "files:" + ",".join(stages.ANALYZED_DIRS)],
            lambda: stages.analyze(self.tree, a), ReviewAnalysis.to_json,
            ReviewAnalysis.from_json)
        if self.result.analysis:
            self.result.excerpts = excerpts(Path(self.tree.path), a, self.result.findings())

    def _gen_tests(self) -> None:
        o = self.opts
        out = o.out_dir / "selftests"
        repo = Path(__file__).resolve().parents[2]
        import kpatchkit.gentests as pkg

        key = [self.tree.head, ",".join(o.scenarios or []), _tree_digest(repo / "kselftests"),
               _tree_digest(Path(pkg.__file__).parent)]
        tests = self._stage("gen-tests", key, lambda: stages.gen_tests(self.tree, out, o.scenarios),
                            _tests_json, _tests_from)
        if tests:
            tests = _localise(tests, out)
            if tests is None:  # the stored sources are gone: render them again
                tests = stages.gen_tests(self.tree, out, o.scenarios)
        self.result.tests = tests or []
        if tests:
            # The same tests as a patch to the tree, for whoever sends them upstream; the
            # review does not depend on it, so a tree it cannot be made for only loses it.
            try:
                patch = stages.tests_patch(self.tree, tests, out / TESTS_PATCH)
                self.result.tests_patch = str(patch.relative_to(o.out_dir))
            except (KpatchkitError, ValueError, OSError) as exc:
                info(f"[4/6] gen-tests: no upstream patch of the tests ({exc})")

    def _run(self, a: Applied) -> None:
        o = self.opts
        # The tests' sources by content, not path: another run directory holds the same files.
        tests_key = content_hash(*(f"{t.name}:{_file_digest(str(t.c_path))}:"
                                   f"{[_file_digest(str(h)) for h in t.headers]}:"
                                   f"{t.args}:{t.timeout}:{t.kconfig}"
                                   for t in self.result.tests))
        if o.lava_out:  # the VMs run on a LAVA lab: 'kpatchkit report --from-lava' fills run
            self._lava_jobs(a, tests_key)
            return
        self.result.run = self._stage(
            "run", [str(self.tree.path), a.base_commit, a.patched_commit, tests_key,
                    run_knowledge_key(), o.tests],
            lambda: stages.run(self.tree, a, self.result.tests, jobs=o.jobs,
                               work_dir=o.out_dir / ".kpatchkit" / "run", selection=o.tests,
                               use_cache=o.use_cache, run_id=self.result.run_id),
            ReviewRun.to_json, ReviewRun.from_json, complete=_run_complete)
        # Issue 8's boot family reports its claims table through the run stage.
        if self.result.run is not None:
            self.result.claims = [ClaimVerdict.from_json(c) for c in self.result.run.claims]

    def _lava_jobs(self, a: Applied, tests_key: str) -> None:
        o = self.opts
        index = STAGES.index("run") + 1
        stage = StageRun(name="run", key=content_hash(STORE_VERSION, "lava", tests_key))
        self.result.stages.append(stage)
        t0 = self.ticker.start(index, "run (LAVA jobs)")
        try:
            stages.lava_jobs(self.tree, a, self.result.tests, Path(o.lava_out),
                             artifact_url=o.artifact_url, jobs=o.jobs)
            stage.status = "skipped"
            stage.error = (f"LAVA jobs in {o.lava_out}; results: 'kpatchkit report "
                           f"{o.out_dir} --from-lava FILE...'")
        except KpatchkitError as exc:
            stage.status, stage.error, stage.exit_code = "failed", exc.message, exc.exit_code
        stage.seconds = round(time.monotonic() - t0, 2)
        self.ticker.end(index, stage)

    def _report(self) -> None:
        from kpatchkit.report.judge import finalize
        from kpatchkit.report.write import write_reports

        index = STAGES.index("report") + 1
        stage = StageRun(name="report", key="")
        t0 = self.ticker.start(index, "report")
        self.result.provenance = self._provenance()
        stage.status, stage.seconds = "ok", 0.0
        self.result.stages.append(stage)
        finalize(self.result)
        write_reports(self.result, self.opts.out_dir, patch_diffs=self.patch_diffs)
        stage.seconds = round(time.monotonic() - t0, 2)
        # The record on disk carries the report stage's own time too.
        write_reports(self.result, self.opts.out_dir, patch_diffs=self.patch_diffs)
        self.ticker.end(index, stage)

    def _provenance(self) -> dict[str, Any]:
        r, run = self.result, self.result.run
        prov: dict[str, Any] = {
            "tool": f"kpatchkit {__version__}",
            "python": sys.version.split()[0],
            "host": f"{platform.system()} {platform.release()} {platform.machine()}",
            "command": " ".join(sys.argv[:1] + sys.argv[1:]) if sys.argv else "",
            "source": self.opts.source,
        }
        if r.tree is not None:
            prov["tree"] = f"{r.tree.name} Linux {r.tree.version} ({r.tree.kind} {r.tree.origin})"
            prov["tree head"] = r.tree.head
        if r.applied is not None:
            prov["base commit"] = r.applied.base_commit
            prov["patched commit"] = r.applied.patched_commit
        for k in run.kernels if run is not None else []:
            prov[f"{k.name} kernel config"] = k.config_hash
        if run is not None and run.accel:
            prov["accel"] = run.accel
        if self.opts.lava_out:
            from kpatchkit.lava.report import PROVENANCE_KEY

            prov[PROVENANCE_KEY] = str(Path(self.opts.lava_out).resolve())
        if run is not None:
            for name, cmd in stages.qemu_cmdline(run).items():
                prov[f"qemu ({name})"] = cmd
        return prov
