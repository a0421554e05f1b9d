"""Writes of at most ``batch_refs`` chunk references per commit: parse a window, commit a batch, go on.

For archives whose references outgrow one process (typically parsed on a dask cluster,
:mod:`vzskill.cluster`), :func:`write_in_batches` never holds every parsed file: it parses the files
window by window, in order, and commits them in batches of at most ``batch_refs`` references:

* batch 1 creates the repository (or appends, with ``append=True``); every next batch appends on the
  new tip - the append rules (:mod:`vzskill.append`) place each file by its coordinate values and skip
  a file already stored;
* every commit marks its snapshot (metadata ``vzskill:batch``: the run - a digest of the command's
  files and options -, the batch number and how many of the files are committed); the same command
  run again after a failure finds the mark on the branch and starts after the last committed file
  (those files are not parsed again);
* a failure in batch k commits nothing of batch k and says which batches are committed and to rerun;
* a file with more references than ``batch_refs`` is committed alone (a warning says so).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from vzskill.containers import collapse
from vzskill.outcome import VirtualizeError, WriteResult
from vzskill.parse import ParsedFile
from vzskill.plan import Options, Plan
from vzskill.repo import RepositoryNotFound, describe, open_location
from vzskill.sources import SourceError

__all__ = ["BATCH_KEY", "write_in_batches", "run_id", "resume_point"]

BATCH_KEY = "vzskill:batch"
MIN_WINDOW = 16  # files parsed at once at least (keeps a pool busy; 16 small files are a few hundred KB)
SCAN = 200  # snapshots searched back on the branch for this run's mark


def refuse_unbatchable(plan: Plan, batch_refs: int) -> None:
    """Batches append along one dimension, in file order: flat lists, ``combine='nested'``."""
    if batch_refs < 1:
        raise VirtualizeError(f"batch_refs={batch_refs}: need at least 1 -> pass --batch-refs 1 or more")
    if plan.grid or isinstance(plan.concat_dim, list):
        raise VirtualizeError("batch_refs appends batches along ONE dimension -> pass a flat list of files and one "
                              "concat_dim, or drop batch_refs")
    if plan.combine != "nested":
        raise VirtualizeError("batch_refs commits the files in their order -> use combine='nested' (files in concat "
                              "order), or drop batch_refs")


def run_id(plan: Plan, options: Options) -> str:
    """A digest of what the command writes (files in order and the options that change the data)."""
    spec = {
        "urls": plan.urls, "concat_dim": plan.concat_dim, "append": plan.append, "branch": options.branch,
        "group": options.group, "loadable": options.loadable_variables, "drop": options.drop_variables,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class Resume:
    """Where a run stands on the branch: files and batches committed by an earlier run, its last snapshot."""

    files: int = 0
    batches: int = 0
    snapshot: str | None = None


def resume_point(location: Any, options: Options, run: str) -> Resume:
    """The newest mark of ``run`` among the branch's last :data:`SCAN` snapshots (a fresh run: zeros)."""
    try:
        repo = open_location(location, options.access, storage_access_=options.storage_access)
    except RepositoryNotFound:
        return Resume()
    if options.branch not in repo.list_branches():
        return Resume()
    for i, info in enumerate(repo.ancestry(branch=options.branch)):
        if i >= SCAN:
            break
        mark = (info.metadata or {}).get(BATCH_KEY)
        if isinstance(mark, dict) and mark.get("run") == run:
            return Resume(int(mark["files"]), int(mark["batch"]), info.id)
    return Resume()


def _refs(parsed: ParsedFile) -> int:
    from vzskill.write import count_refs

    return count_refs(parsed.dataset) if parsed.dataset is not None else 0


@dataclass
class _Run:
    """The state of a batched write while it goes."""

    plan: Plan
    options: Options
    location: Any
    registry: Any
    batch_refs: int
    run: str
    resume: Resume
    concat_dim: Any
    results: list[WriteResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def files_done(self) -> int:
        return self.resume.files + sum(r.n_files for r in self.results)

    @property
    def batch(self) -> int:
        return self.resume.batches + len(self.results) + 1

    def last_snapshot(self) -> str | None:
        return next((r.snapshot_id for r in reversed(self.results)), self.resume.snapshot)

    def commit(self, items: list[tuple[int, ParsedFile]]) -> None:
        """Preflight and commit one batch (files in order); a failure says what is committed already."""
        from vzskill.write import commit_prepared, preflight

        first, last = items[0][0], items[-1][0]
        urls = self.plan.urls[first:last + 1]
        sub = replace(self.plan, layout=urls, urls=urls, sources=self.plan.sources[first:last + 1],
                      concat_dim=self.concat_dim, append=self.plan.append or self.files_done > 0)
        parsed = [p for _, p in items]
        k, n = self.batch, len(self.plan.urls)
        mark = {BATCH_KEY: {"run": self.run, "batch": k, "files": last + 1, "of": n}}
        try:
            ready = preflight(sub, parsed, self.location, self.options)
            done = commit_prepared(sub, ready, parsed, self.registry, self.location, self.options, metadata=mark,
                                   suffix=f" (batch {k}: files {first + 1}-{last + 1} of {n})")
        except (VirtualizeError, SourceError) as exc:
            raise self._failed(exc, k) from exc
        self.results.append(done)
        if self.concat_dim is None and isinstance(done.concat_dim, str):
            self.concat_dim = done.concat_dim  # the next batches append along what batch 1 was combined along
        self.options.step("committed", self.files_done, n)

    def _failed(self, exc: Exception, k: int) -> VirtualizeError:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        report = getattr(exc, "report", None) if isinstance(exc, VirtualizeError) else None
        code = exc.exit_code if isinstance(exc, VirtualizeError) else 2
        done = self.files_done
        if done == 0:
            return VirtualizeError(text, report=report, exit_code=code)
        return VirtualizeError(
            f"batch {k} not committed: {text} | batches 1-{k - 1} are committed (files 1-{done} of "
            f"{len(self.plan.urls)}, snapshot {self.last_snapshot()}) -> fix that, then rerun the same command to "
            f"resume from file {done + 1}",
            report=report, exit_code=code,
        )


def _parse_window(state: _Run, start: int, stop: int) -> list[ParsedFile]:
    from vzskill.write import parse_all

    urls = state.plan.urls[start:stop]
    n = len(state.plan.urls)
    outer = state.options.step

    def step(stage: str, done: int, total: int) -> None:
        outer(stage, start + done, n) if stage == "parse" else outer(stage, done, total)

    window = replace(state.plan, layout=urls, urls=urls, sources=state.plan.sources[start:stop])
    return parse_all(window, state.registry, replace(state.options, step=step))


def write_in_batches(plan: Plan, location: Any, options: Options, batch_refs: int) -> WriteResult:
    """Parse and commit ``plan``'s files in batches of at most ``batch_refs`` references (see the module docstring).

    Raises
    ------
    VirtualizeError
        Arguments batches cannot follow, or a failing batch (nothing of it committed; the message
        names the committed batches and says to rerun the same command).
    """
    from vzskill.write import reader_for

    refuse_unbatchable(plan, batch_refs)
    run = run_id(plan, options)
    resume = resume_point(location, options, run)
    state = _Run(plan, options, location, reader_for(plan, options), batch_refs, run, resume, plan.concat_dim)
    n = len(plan.urls)
    pending: list[tuple[int, ParsedFile]] = []
    pending_refs, seen_refs, seen = 0, 0, 0
    start = resume.files
    while start < n:
        per_file = max(1, seen_refs // seen) if seen else 0
        stop = min(n, start + max(MIN_WINDOW, batch_refs // per_file if per_file else MIN_WINDOW))
        for index, parsed in zip(range(start, stop), _parse_window(state, start, stop), strict=True):
            refs = _refs(parsed)
            seen, seen_refs = seen + 1, seen_refs + refs
            if pending and pending_refs + refs > batch_refs:
                state.commit(pending)
                pending, pending_refs = [], 0
            if refs > batch_refs:
                state.warnings.append(f"{parsed.name}: {refs} references, more than batch_refs={batch_refs}: committed "
                                      "in a batch of its own")
            pending.append((index, parsed))
            pending_refs += refs
        start = stop
    if pending:
        state.commit(pending)
    return _merged(state)


def _merged(state: _Run) -> WriteResult:
    """One result for the whole run: what this call committed (``snapshots``), resumed files counted apart."""
    plan, results = state.plan, state.results
    if not results:  # an earlier run of this command committed every file
        return WriteResult(
            snapshot_id=state.resume.snapshot or "", branch=state.options.branch, n_files=0, variables=[], nrefs=0,
            repo=describe(state.location), appended=plan.append, concat_dim=state.concat_dim, batches=0,
            resumed_files=state.resume.files, batch_refs=state.batch_refs,
        )
    first, last = results[0], results[-1]
    along = next((r.concat_dim for r in results if r.concat_dim), None)
    dims = dict(last.dims)
    if isinstance(along, str):
        dims[along] = sum(r.dims.get(along, 0) for r in results)
    return WriteResult(
        snapshot_id=last.snapshot_id, branch=last.branch, n_files=sum(r.n_files for r in results),
        variables=last.variables, nrefs=sum(r.nrefs for r in results), repo=last.repo, appended=plan.append,
        dims=dims, warnings=_distinct(state.warnings + [w for r in results for w in r.warnings]),
        concat_dim=along, concat_reason=next((r.concat_reason for r in results if r.concat_dim), first.concat_reason),
        dropped_attrs=sorted({a for r in results for a in r.dropped_attrs}),
        containers=collapse(p for r in results for p in r.containers),
        skipped=[u for r in results for u in r.skipped], inserted=[u for r in results for u in r.inserted],
        attempts=max(r.attempts for r in results), snapshots=[s for r in results for s in r.snapshots],
        batches=len(results), resumed_files=state.resume.files, batch_refs=state.batch_refs,
    )


def _distinct(warnings: list[str]) -> list[str]:
    """Each batch's check repeats the same finding for its own files: keep the first of each (first 5 words)."""
    seen: dict[str, str] = {}
    for w in warnings:
        seen.setdefault(" ".join(w.split()[:5]), w)
    return list(seen.values())
