"""``apply_series``: apply (and if needed port) a series to a tree, in a worktree of its own.

Steps: resolve the base (``base``), refuse an incomplete series whose missing part the tree lacks,
make a branch + worktree in kpatchkit's repository of the tree, ``git am --3way`` each patch; a
patch that does not apply is re-anchored by function (``port``) and committed with its own
authorship; then one ``kpatchkit: port to <version>`` commit holds the API-drift edits
(``drift``); finally the touched objects are compiled (``kernel.kbuild``) and errors are mapped
back to patch lines. The user's repository is never written: ``TreeInfo.path`` is kpatchkit's.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import time
from pathlib import Path

from kpatchkit import cache
from kpatchkit.apply import am as amod
from kpatchkit.apply import drift, obsolete, outcome, port, store, symbols
from kpatchkit.apply.base import label, resolve_base
from kpatchkit.console import info
from kpatchkit.errors import InfraError, KpatchkitError
from kpatchkit.kernel import cfunc, kbuild
from kpatchkit.kernel import git as g
from kpatchkit.records.applied import (
    Applied,
    CommitInfo,
    CompileCheck,
    CompileError,
    DriftUse,
    Evidence,
    MissingSymbol,
    PatchLine,
)
from kpatchkit.records.series import Patch, Series
from kpatchkit.records.tree import TreeInfo

ENGINE_VERSION = "4"  # bump when the way commits are made changes (invalidates cached applies)


class PatchStop(Exception):
    """A patch that cannot be applied: its hunk verdicts say why (conflict or missing code)."""

    def __init__(self, patch: Patch, verdicts: list[outcome.HunkVerdict]) -> None:
        super().__init__(label(patch))
        self.patch, self.verdicts = patch, verdicts


@functools.cache
def _code_digest() -> str:
    """The apply stage's own code: a changed decision rule must not be answered from the cache."""
    here = Path(__file__).parent
    return cache.content_hash(*(f.read_text() for f in sorted(here.glob("*.py"))))


def _series_key(tree: TreeInfo, base_commit: str, patches: list[Patch]) -> str:
    chunks = [ENGINE_VERSION, _code_digest(), tree.head, base_commit, drift.rules_digest(),
              obsolete.DATA.read_text()]
    for p in patches:
        chunks += [p.subject, p.author, p.email, p.date, p.body, json.dumps(p.trailers), p.diff]
    return cache.content_hash(*chunks)


def patch_line(patches: list[Patch], text: str, path: str | None = None) -> PatchLine | None:
    """The '+' line of a patch diff that reads ``text`` (whitespace-insensitive), if any."""
    want = " ".join(text.split())
    if not want:
        return None
    for p in patches:
        current = None
        for n, line in enumerate(p.diff.splitlines(), 1):
            if line.startswith("+++ "):
                current = line[4:].removeprefix("b/")
            elif line.startswith("+") and " ".join(line[1:].split()) == want:
                if path is None or current is None or current == path:
                    return PatchLine(patch=label(p), line=n, text=line)
    return None


class _Run:
    """State of one apply (kept out of a 300-line function)."""

    def __init__(self, series: Series, tree: TreeInfo, prereqs: list[Series]) -> None:
        self.series, self.tree, self.prereqs = series, tree, prereqs
        self.patches = [p for s in prereqs for p in s.patches] + list(series.patches)
        self.repo = tree.path
        self.commits: list[CommitInfo] = []
        self.notes: list[str] = []
        self.evidence: list[Evidence] = []
        self._located: dict[str, tuple[str, str] | None] = {}
        self.files: list[str] = []
        for p in self.patches:
            for f in p.files:
                if f.path and f.path not in self.files and f.new_path:
                    self.files.append(f.path)

    # -- patches ---------------------------------------------------------------------------
    def apply_patch(self, p: Patch) -> None:
        """Apply one patch: as mailed (git am --3way), else decide per hunk (``outcome``).

        Raises PatchStop when a hunk conflicts or needs code the tree lacks; a patch whose
        change the tree already has is recorded with method "already-applied" and no commit.
        """
        from kpatchkit.records.mbox import series_mbox

        before = amod.head(self.wt)
        ok, output = amod.am(self.wt, series_mbox([p]))
        if ok:
            sha = amod.head(self.wt)
            # git am --3way skips a patch whose change the tree already has
            method = "already-applied" if sha == before else "am"
            last = (output.strip().splitlines() or [""])[-1][:100]
            text = (f"git am --3way: the tree already has this change ({last})"
                    if method == "already-applied" else "applies as mailed (git am --3way)")
            self.evidence.append(Evidence(kind="git-am", patch=label(p), text=text))
            self.commits.append(CommitInfo(sha=sha, subject=p.subject, kind="patch",
                                           patch=label(p), author=f"{p.author} <{p.email}>",
                                           method=method))
            return
        if self.reverse_applies(p):
            self.evidence.append(Evidence(kind="reverse-apply", patch=label(p),
                                          text="the reverse patch applies (git apply -R "
                                          "--check): the tree already has this change"
                                          + self.history(p)))
            self.commits.append(CommitInfo(sha=before, subject=p.subject, kind="patch",
                                           patch=label(p), author=f"{p.author} <{p.email}>",
                                           method="already-applied"))
            return
        info(f"apply: {label(p)} does not apply as mailed; deciding hunk by hunk")
        verdicts, texts = self.classify(p)
        for v in verdicts:
            self.evidence.append(_evidence(p, v))
        states = {v.state for v in verdicts}
        if states & {"conflict", "missing"}:
            raise PatchStop(p, verdicts)
        if p in self.series.patches and _missing_before(self.series, p) and any(
                v.state == "applies" and v.method != "context" for v in verdicts):
            # A part whose earlier part is missing and that only lands by re-anchoring: what
            # it was written against is that part's result, so porting it alone is a guess.
            raise PatchStop(p, verdicts)
        if states <= {"present", "superseded"}:
            if self.evidence and self.evidence[-1].kind.startswith("hunk-"):
                self.evidence[-1].text += self.history(p)
            self.commits.append(CommitInfo(sha=before, subject=p.subject, kind="patch",
                                           patch=label(p), author=f"{p.author} <{p.email}>",
                                           method="already-applied"))
            return
        for path, text in texts.items():
            (self.wt / path).write_text(text, errors="surrogateescape")
        touched = sorted(texts)
        diff = g.out(self.wt, "diff", "--full-index", "--", *touched) + "\n"
        g.git(self.wt, "checkout", "--quiet", "--", *touched)
        how = "; ".join(f"{v.file} hunk {v.hunk}: {v.method}"
                        + (f" {v.function}()" if v.function else "") for v in verdicts)
        note = f"[kpatchkit: re-anchored on {self.tree.version}: {how}]"
        reanchored = dataclasses.replace(p, diff=diff, diffstat="",
                                         body=(p.body.rstrip("\n") + "\n\n" + note).lstrip())
        ok, output = amod.am(self.wt, series_mbox([reanchored]))
        if not ok:
            raise port.PortFailure(touched[0], 0, "re-anchored diff did not apply: " + output)
        self.commits.append(CommitInfo(
            sha=amod.head(self.wt), subject=p.subject, kind="patch", patch=label(p),
            author=f"{p.author} <{p.email}>", method="reanchored",
            hunks=[{"file": v.file, "hunk": v.hunk, "method": v.method if v.state == "applies"
                    else "already-present", "functions": [v.function] if v.function else [],
                    "note": v.text} for v in verdicts]))
        self.notes += [f"{label(p)}: {v.text}" for v in verdicts
                       if v.state != "applies" or v.method != "context"]

    def reverse_applies(self, p: Patch) -> bool:
        """``git apply -R --check`` of the patch on the worktree."""
        proc = g.git(self.wt, "apply", "-R", "--check", "-", input=p.diff, check=False)
        return proc.returncode == 0 and bool(p.files)

    def classify(self, p: Patch) -> tuple[list[outcome.HunkVerdict], dict[str, str]]:
        """Hunk verdicts of ``p`` on the worktree's files, and the new texts of the files
        whose hunks all apply or are present."""
        defined = symbols.defined_by([ln[1:] for q in self.patches for fd in q.files
                                      for h in fd.hunks for ln in h.lines if ln[:1] == "+"])
        absent = lambda syms: symbols.absent(self.repo, self.base_commit, syms,  # noqa: E731
                                             self.files)
        verdicts: list[outcome.HunkVerdict] = []
        texts: dict[str, str] = {}
        for fd in p.files:
            if fd.binary:
                verdicts.append(outcome.HunkVerdict(
                    file=fd.path, hunk=0, state="conflict",
                    text=f"{fd.path}: a binary diff that git am could not apply"))
                continue
            path = self.wt / (fd.old_path or fd.path)
            if fd.old_path is None:
                verdicts.append(outcome.HunkVerdict(
                    file=fd.path, hunk=0, state="conflict",
                    text=f"{fd.path}: a new file the tree already has" if path.exists()
                    else f"{fd.path}: a new file git am could not create"))
                continue
            text = path.read_text(errors="surrogateescape") if path.is_file() else None
            vs, new_text = outcome.classify_file(fd, text, self.locate, absent, self.spell(),
                                                 defined)
            verdicts += vs
            if new_text is not None:
                texts[fd.path] = new_text
        return verdicts, texts

    def locate(self, name: str) -> tuple[str, str] | None:
        """(path, text) of the KVM file that defines function ``name`` at the base."""
        if name in self._located:
            return self._located[name]
        proc = g.git(self.repo, "grep", "-l", "-w", "-F", "-e", name, self.base_commit,
                     "--", *symbols.function_specs(), check=False)
        found = None
        for line in proc.stdout.splitlines()[:30]:
            path = line.split(":", 1)[-1]
            text = g.show_file(self.repo, self.base_commit, path)
            if text and cfunc.find_function(text, name):
                found = (path, text)
                break
        self._located[name] = found
        return found

    def history(self, p: Patch) -> str:
        """'; brought by <sha subject>' where the tree's history has the patch's first
        distinctive added line (git log -S), else ''."""
        if g.out(self.repo, "rev-list", "--max-count=2", "--count", self.base_commit) != "2":
            return ""  # a tarball import: one commit, no history to ask
        for fd in p.files:
            for h in fd.hunks:
                added, _ = outcome.changed_lines(h)
                line = next((x.strip() for x in added if outcome.distinctive(x)), None)
                if line:
                    found = g.out(self.repo, "log", "-n", "1", f"-S{line}", "--format=%H %s",
                                  self.base_commit, "--", fd.path)
                    return f"; brought by {found[:12]}{found[40:]}" if found else ""
        return ""

    # -- drift -----------------------------------------------------------------------------
    def verdicts(self) -> list[drift.Verdict]:
        """Drift rules probed on the base (cached for the run)."""
        if not hasattr(self, "_verdicts"):
            base = self.base_commit
            self._verdicts = drift.applicable(lambda f: g.show_file(self.repo, base, f))
        return self._verdicts

    def spell(self) -> port.Spell:
        """Patch line -> the target's spelling, so context written in the old API still
        anchors (used for matching only)."""
        rules = [v.rule for v in self.verdicts() if v.applies]
        return lambda line: drift.rewrite_line(line, rules)[0]

    def added_lines(self) -> dict[str, list[int]]:
        """1-based line numbers, in the worktree's files, of lines the series added."""
        out: dict[str, list[int]] = {}
        diff = g.out(self.wt, "diff", "-U0", "--no-color", self.base_commit, "HEAD", "--",
                     *self.files)
        current = None
        for line in diff.splitlines():
            if line.startswith("+++ "):
                current = None if line.endswith("/dev/null") else line[6:]
            m = re.match(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            if m and current:
                start, count = int(m.group(1)), int(m.group(2) or 1)
                out.setdefault(current, []).extend(range(start, start + count))
        return out

    def port_commit(self) -> list[DriftUse]:
        verdicts = self.verdicts()
        active = [v for v in verdicts if v.applies]
        uses: dict[str, DriftUse] = {}
        self.final_to_original: dict[tuple[str, str], str] = {}
        changed = []
        for path, numbers in self.added_lines().items():
            target = self.wt / path
            lines = target.read_text(errors="surrogateescape").split("\n")
            for n in numbers:
                before = lines[n - 1]
                after, ids = drift.rewrite_line(before, [v.rule for v in active])
                if not ids:
                    continue
                lines[n - 1] = after
                self.final_to_original[(path, " ".join(after.split()))] = before
                pl = patch_line(self.patches, before, path)
                for rid in ids:
                    v = next(v for v in active if v.rule.id == rid)
                    use = uses.setdefault(rid, DriftUse(id=rid, old=v.rule.uses,
                                                        new=v.rule.becomes,
                                                        why="; ".join(v.evidence),
                                                        source=v.rule.source))
                    use.edits.append({"file": path, "line": n, "before": before.strip(),
                                      "after": after.strip(),
                                      "patch_line": pl.to_json() if pl else None})
            if any(u.edits and u.edits[-1]["file"] == path for u in uses.values()):
                target.write_text("\n".join(lines), errors="surrogateescape")
                changed.append(path)
        self.drift_checked = [{"id": v.rule.id, "applies": v.applies, "evidence": v.evidence}
                              for v in verdicts]
        if not changed:
            return []
        body = "\n".join(f"- {u.id}: {u.old} -> {u.new} ({len(u.edits)} line(s)); {u.why}"
                         for u in uses.values())
        message = (f"kpatchkit: port to {self.tree.version}\n\nAPI-drift edits to the lines the "
                   f"series adds, so it builds on {self.tree.version}:\n\n{body}\n")
        sha = amod.commit_all(self.wt, message, changed)
        self.commits.append(CommitInfo(sha=sha, subject=f"kpatchkit: port to {self.tree.version}",
                                       kind="port", author="kpatchkit", method="drift"))
        return list(uses.values())

    # -- symbols ---------------------------------------------------------------------------
    def missing_symbols(self, head: str) -> list[MissingSymbol]:
        """Symbols the lines the series added use that the tree defines nowhere."""
        del head  # the lines are read from the worktree, which is at head
        added: list[tuple[str, str]] = []
        for path, numbers in self.added_lines().items():
            lines = (self.wt / path).read_text(errors="surrogateescape").split("\n")
            added += [(path, lines[n - 1]) for n in numbers]
        defined = symbols.defined_by([x for _, x in added])
        wanted: dict[str, tuple[str, str]] = {}
        for path, raw in added:
            for sym in symbols.used_by([raw]):
                if sym not in defined:
                    wanted.setdefault(sym, (path, raw))
        out = []
        for sym in symbols.absent(self.repo, self.base_commit, list(wanted), self.files):
            path, raw = wanted[sym]
            original = self.final_to_original.get((path, " ".join(raw.split())), raw)
            out.append(MissingSymbol(symbol=sym, patch_line=patch_line(self.patches, original,
                                                                       path)))
        return out

    # -- compile ---------------------------------------------------------------------------
    def compile(self, commit: str) -> CompileCheck:
        objects = [f[:-2] + ".o" for f in self.files if f.endswith(".c")]
        if not objects:
            return CompileCheck(status="skipped", note="the series touches no .c file")
        info(f"apply: compiling {' '.join(objects)} at {commit[:12]} (KVM config, cached)")
        try:
            res = kbuild.compile_objects(self.repo, commit, objects)
        except InfraError as exc:
            return CompileCheck(status="error", objects=objects, note=exc.message)
        errors = []
        for d in res.errors:
            if d.severity not in ("error", "fatal error"):
                continue
            sha, text = self.blame(commit, d.file, d.line)
            original = self.final_to_original.get((d.file, " ".join(text.split())), text)
            pl = patch_line(self.patches, original, d.file) if text else None
            errors.append(CompileError(file=d.file, line=d.line, col=d.col, severity=d.severity,
                                       message=d.message, commit=sha, patch_line=pl))
        return CompileCheck(status="ok" if res.ok else "failed", ok=res.ok, objects=objects,
                            seconds=round(res.seconds, 1), cached=res.cached, errors=errors,
                            log=str(res.log)[-2000:])

    def blame(self, commit: str, path: str, line: int) -> tuple[str | None, str]:
        proc = g.git(self.repo, "blame", "--porcelain", "-L", f"{line},{line}", commit, "--",
                     path, check=False)
        if proc.returncode != 0 or not proc.stdout:
            return None, ""
        first = proc.stdout.split("\n", 1)[0].split()[0]
        text = next((x[1:] for x in proc.stdout.splitlines() if x.startswith("\t")), "")
        return first, text


_EVIDENCE_KIND = {"applies": "hunk-applies", "present": "hunk-present",
                  "superseded": "hunk-superseded", "conflict": "hunk-conflict"}


def _evidence(p: Patch, v: outcome.HunkVerdict) -> Evidence:
    kind = _EVIDENCE_KIND.get(v.state) or f"missing-{v.missing or 'symbol'}"
    return Evidence(kind=kind, text=v.text, patch=label(p), file=v.where or v.file,
                    hunk=v.hunk or None, function=v.function, line=v.line,
                    hunk_text=v.hunk_text if v.state in ("conflict", "missing") else "",
                    target_text=v.target_text)


def _missing_before(series: Series, p: Patch) -> list[str]:
    """Parts of ``series`` numbered before ``p`` that the input did not hold ("1/3")."""
    return [f"{i}/{series.total}" for i in series.missing if i < p.index]


def _stop(run: _Run, applied: Applied, stop: PatchStop) -> None:
    """The outcome of a patch that cannot be applied: needs-prereq, not-applicable, conflict."""
    p, verdicts = stop.patch, stop.verdicts
    bad = [v for v in verdicts if v.state in ("conflict", "missing")] or \
        [v for v in verdicts if v.state == "applies" and v.method != "context"]
    first = bad[0]
    applied.failure = {"patch": label(p), "subject": p.subject, "file": first.file,
                       "hunk": first.hunk, "reason": first.text}
    applied.commits = run.commits
    parts = _missing_before(run.series, p) if p in run.series.patches else []
    if parts:
        applied.result, applied.missing_parts = "needs-prereq", parts
        total = run.series.total
        blobs = "; ".join(
            f"{label(p)}'s preimage of {n['path']} is blob {n['blob']}, which is not in the "
            f"tree: {n['index']}/{total} produces it" for n in run.series.prerequisites
            if n.get("needed_by") == p.index)
        applied.evidence.append(Evidence(
            kind="missing-part", patch=label(p),
            text=f"{label(p)} does not apply as mailed without {', '.join(parts)} (not in the "
                 f"input): {first.text}" + (f"; {blobs}" if blobs else "")))
        return
    missing = [v for v in bad if v.state == "missing"]
    if missing:
        applied.result = "not-applicable"
        gone = next((v for v in missing if v.missing == "function" and v.function), None)
        if gone is not None and gone.function:
            applied.obsolete = obsolete.obsolete_info(run.repo, run.base_commit, gone.function,
                                                      gone.file, label(p))
        return
    applied.result = "conflict"


def _decide(run: _Run, applied: Applied) -> None:
    """Result of a series whose every patch went through: already there, applied or ported."""
    methods = {c.method for c in run.commits if c.kind == "patch"}
    if methods <= {"already-applied"}:
        applied.result = "already-applied"
        applied.patched_commit = applied.base_commit
        return
    applied.drift_rules = run.port_commit()
    if applied.drift_rules:
        applied.port_diff = g.out(run.wt, "show", "--format=", "--no-color", "HEAD") + "\n"
    if any(c.method not in ("am", "already-applied") for c in run.commits):
        applied.result = "ported"
    applied.patched_commit = amod.head(run.wt)
    applied.missing_symbols = run.missing_symbols(applied.patched_commit)


def _symbols_verdict(run: _Run, applied: Applied) -> None:
    """Applied, but it uses what the tree lacks (and the compile, if it ran, agrees)."""
    if applied.result not in ("applied", "ported"):
        return
    parts = sorted({x for p in run.series.patches for x in _missing_before(run.series, p)})
    failed = applied.compile is not None and applied.compile.ok is False
    if failed and parts and not applied.missing_symbols:
        applied.result, applied.missing_parts = "needs-prereq", parts
        applied.evidence.append(Evidence(
            kind="missing-part", patch=label(run.patches[-1]),
            text=f"it applies but does not compile without {', '.join(parts)}"))
        return
    if not applied.missing_symbols:
        return
    if applied.compile is not None and applied.compile.ok:
        applied.notes.append("symbols not found by name in the tree ("
                             + ", ".join(m.symbol for m in applied.missing_symbols)
                             + ") but the touched objects compile: not a missing dependency")
        applied.missing_symbols = []
        return
    last = run.patches[-1]
    names = ", ".join(m.symbol for m in applied.missing_symbols[:8])
    first = applied.missing_symbols[0].patch_line
    where = f" ({first.patch} diff line {first.line}: {first.text.strip()[:60]!r})" if first \
        else ""
    if parts:
        applied.result, applied.missing_parts = "needs-prereq", parts
        applied.evidence.append(Evidence(
            kind="missing-part", patch=label(last),
            text=f"it applies, but uses {names}{where}, which the tree lacks and the missing "
                 f"{', '.join(applied.missing_parts)} would add"))
    else:
        applied.result = "not-applicable"
        applied.evidence.append(Evidence(
            kind="missing-symbol", patch=label(last),
            text=f"it applies, but uses {names}{where}, which the tree does not have"))


def apply_series(series: Series, tree: TreeInfo, *, prereqs: list[Series] = (),
                 compile: bool = True) -> Applied:
    """Apply ``series`` (after ``prereqs``) to ``tree``; see the module docstring.

    ``Applied.result`` is one of ``records.applied.RESULTS``, with ``evidence``.
    """
    t0 = time.monotonic()
    prereqs = list(prereqs)
    if not series.patches:
        raise KpatchkitError("the series has no patch to apply")
    run = _Run(series, tree, prereqs)
    base = resolve_base(tree, series, run.patches)
    info(f"apply: base {base.commit[:12]} decided by {base.method} "
         f"({'found' if base.found else 'not found'}: {base.reason})")
    key = _series_key(tree, base.commit, run.patches)
    entry = store.entry(key)
    with cache.locked(entry):
        cached = store.load(entry, tree.path)
        if cached is not None:
            cached.cached = True
            store.touch(entry)
            cached.base = base  # same commit; this run's evidence (trailer/blobs) may differ
            stale = cached.compile is None or cached.compile.status in ("pending", "skipped")
            if compile and cached.patched_commit and stale and \
                    cached.patched_commit != cached.base_commit:
                # decided without the compile proof (--no-compile): compile, decide again
                run.final_to_original = {}
                run.base_commit = cached.base_commit
                cached.compile = run.compile(cached.patched_commit)
                if cached.result not in ("applied", "ported"):
                    reanchored = any(c.method not in ("am", "already-applied")
                                     for c in cached.commits)
                    cached.result = "ported" if reanchored else "applied"
                    cached.missing_parts = []
                    cached.evidence = [e for e in cached.evidence
                                       if e.kind not in ("missing-part", "missing-symbol")]
                _symbols_verdict(run, cached)
                store.save(entry, cached)
            cached.seconds = round(time.monotonic() - t0, 2)
            return cached
        run.wt = entry / "worktree"
        branch = f"kpatchkit/{amod.slug(run.patches[-1].subject)}-{key[:8]}"
        run.base_commit = base.commit
        run.final_to_original = {}
        run.drift_checked = []
        applied = Applied(result="applied", tree=tree.name, tree_version=tree.version,
                          repo=str(tree.path), base=base, base_commit=base.commit,
                          patched_commit=None, worktree=str(run.wt), branch=branch,
                          series=[f"{label(p)} {p.subject}" for p in run.patches])
        done = False
        try:
            info(f"apply: worktree {run.wt} on branch {branch}")
            if store.recycle_worktree(tree, run.wt, keep=entry):
                info(f"apply: reusing the least recently used worktree of {tree.name} "
                     f"(pool of {store.pool_size()})")
            amod.add_worktree(tree.path, run.wt, branch, base.commit)
            info(f"apply: worktree ready in {time.monotonic() - t0:.1f} s")
            _apply_all(run, applied)
            applied.evidence = run.evidence + applied.evidence
            applied.commits = run.commits
            applied.notes = run.notes + [f"drift rule {d['id']}: "
                                         f"{'applies' if d['applies'] else 'not needed'} "
                                         f"({'; '.join(d['evidence'])})"
                                         for d in run.drift_checked]
            if applied.result in ("applied", "ported") and compile:
                applied.compile = run.compile(applied.patched_commit)
            elif applied.result in ("applied", "ported"):
                applied.compile = CompileCheck(status="skipped", note="compile=False")
            _symbols_verdict(run, applied)
            info(f"apply: {applied.result} in {time.monotonic() - t0:.1f} s")
            applied.seconds = round(time.monotonic() - t0, 2)
            store.save(entry, applied)
            done = True
        finally:
            if not done:  # interrupted or crashed: leave no half-made branch behind
                amod.remove_worktree(tree.path, run.wt, branch)
        return applied


def _apply_all(run: _Run, applied: Applied) -> None:
    for p in run.patches:
        try:
            run.apply_patch(p)
        except PatchStop as stop:
            _stop(run, applied, stop)
            return
        except port.PortFailure as exc:
            applied.result = "conflict"
            applied.failure = {"patch": label(p), "subject": p.subject, "file": exc.file,
                               "hunk": exc.hunk, "reason": exc.reason}
            applied.evidence.append(Evidence(kind="hunk-conflict", patch=label(p),
                                             file=exc.file, hunk=exc.hunk or None,
                                             text=exc.reason))
            applied.commits = run.commits
            return
    _decide(run, applied)
