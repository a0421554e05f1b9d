"""plan -> parse -> preflight -> commit: :func:`virtualize`, the pipeline behind ``vzskill virtualize``.

1. **plan** - the URLs (a flat list, or a nested grid for N-D combines) are described once
   (:func:`vzskill.sources.parse_sources`); arguments that cannot work are refused here;
2. **parse** - every file is parsed once (:func:`vzskill.parse.parse_files`; kerchunk references
   pointing to another folder/bucket extend the registry there);
3. **preflight** - the concat dimension is resolved (:func:`vzskill.layout.infer_concat_dim`: one
   file needs none), the parsed datasets are checked (:func:`vzskill.check`, errors abort),
   combined (:mod:`vzskill.combination`, global attributes by ``drop_conflicts``), and the
   repository's container prefixes are derived from the chunk paths the manifests reference
   (:func:`vzskill.containers.reference_prefixes`), each referenced root probed once;
4. **commit** - the repository is created or given the missing containers
   (:func:`vzskill.repo.prepare_location`) and the data is written in ONE commit
   (:func:`vzskill.commit.commit_write`): each attempt checks against the session it writes in, an
   append places its files by coordinate (:mod:`vzskill.append`), the sources are confirmed just
   before the commit (:func:`vzskill.commit.source_guard`), a conflict redoes it all on the new tip.
   On any failure nothing is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Sequence

import icechunk
import xarray as xr

from vzskill.batches import write_in_batches
from vzskill.cluster import cluster_parallel
from vzskill.combination import ConcatChoice, choose, combine as combine_datasets, merge_attrs, nest
from vzskill.commit import DEFAULT_RETRIES, Committed, Files, commit_write, read_stored, source_guard
from vzskill.containers import reference_prefixes, source_prefixes
from vzskill.outcome import ATTRS_RULE, VirtualizeError, WriteResult
from vzskill.parse import ParsedFile
from vzskill.preflight import CheckReport
from vzskill.registry import SourceRegistry, build_registry
from vzskill.repo import RepositoryNotFound, describe, open_location, prepare_location, storage_for
from vzskill.plan import Options, Plan, Progress, make_plan, quiet
from vzskill.sources import Access, display_name
from vzskill.tree import write_groups
from vzskill.reachability import probe_references, reference_urls

__all__ = ["virtualize", "WriteResult", "VirtualizeError", "storage_for", "count_refs", "prepare_repo", "ATTRS_RULE",
           "Plan", "Options", "make_plan", "run"]

Location = Any  # icechunk.Repository | icechunk.Storage | str | os.PathLike[str]
CLUSTER_BATCH_REFS = 100_000  # refs per commit by default when parsing on a dask.distributed cluster


@dataclass
class Prepared:
    """The preflight's outcome: what will be committed and where its chunks live."""

    combined: xr.Dataset
    choice: ConcatChoice
    prefixes: list[str]
    dropped: list[str]
    warnings: list[str]
    datasets: list[xr.Dataset]  # one per URL (an append places them one by one)


def _first_line(text: str) -> str:
    return (str(text).strip().splitlines() or [""])[0]


# --------------------------------------------------------------------------- 2. parse


def reader_for(plan: Plan, options: Options) -> SourceRegistry:
    """The registry every file is read through: the caller's, or one store per root of the plan's sources
    (extended to the roots Kerchunk/Zarr references point to). A missing directory / bad account fails
    here, in one line (exit 2)."""
    if options.registry is not None:
        return SourceRegistry.wrap(options.registry)
    registry = SourceRegistry.wrap(build_registry(plan.sources, options.access), access=options.access)
    registry.extend = True
    return registry


def parse_all(plan: Plan, registry: SourceRegistry, options: Options) -> list[ParsedFile]:
    """Parse every file once, in order (:func:`vzskill.parse.parse_files`)."""
    from vzskill.parse import parse_files

    step = options.step
    n = len(plan.urls)
    step("parse", 0, n)
    extra: dict[str, Any] = {} if options.workers is None else {"workers": options.workers}
    parsed = parse_files(
        plan.urls, registry, parallel=options.parallel, progress=lambda done, total: step("parse", done, total),
        loadable_variables=options.loadable_variables, drop_variables=options.drop_variables,
        access=options.access, group=options.group, **extra,
    )
    step("parse", n, n)
    return parsed


# --------------------------------------------------------------------------- 3. preflight


def _stored_for_append(location: Location, plan: Plan, branch: str, access: Access | None,
                       storage_access: Access | None) -> Any:
    try:
        repo = open_location(location, access, storage_access_=storage_access)
    except RepositoryNotFound:
        raise VirtualizeError(
            f"nothing to append to: no icechunk repository at {describe(location) or 'this storage'} -> "
            "run the first write without --append/append=True"
        ) from None
    stored = read_stored(repo, branch)
    if stored.dataset is None:
        raise VirtualizeError(
            f"nothing to append to: branch {branch!r} has no arrays yet -> run the first write without --append/append=True"
        )
    return stored


def _run_check(parsed: list[ParsedFile], plan: Plan, dims: Any, options: Options) -> CheckReport:
    from vzskill.preflight import check as run_check

    options.step("check", 0, 1)
    report = run_check(
        nest(parsed, plan.layout) if plan.grid else parsed, concat_dim=dims, access=options.access,
        registry=options.registry, combine=plan.combine, coords="minimal", data_vars="minimal",
    )
    options.step("check", 1, 1)
    if report.ok:
        return report
    if report.fatal:
        raise VirtualizeError(f"check could not run, nothing written: {_first_line(report.fatal)}", report=report,
                              exit_code=2)
    errors = [f for f in report.findings if f.severity == "error"]
    more = f" (+{len(errors) - 1} more: see `vzskill check`)" if len(errors) > 1 else ""
    raise VirtualizeError(
        f"check found {len(errors)} error(s), nothing written: {_first_line(errors[0].message)}{more}",
        report=report, exit_code=1,
    )


def _choose(plan: Plan, datasets: list[xr.Dataset], stored: Any) -> ConcatChoice:
    if plan.combine == "by_coords":
        return ConcatChoice([], "by_coords: files ordered by their loaded coordinates")
    if stored is not None and plan.concat_dim is None:
        choice = choose([stored.dataset, *datasets], None, grid=False)
        return ConcatChoice(choice.dims, f"{choice.reason} (stored data and new files)", choice.new_dims)
    return choose(nest(datasets, plan.layout) if plan.grid else datasets, plan.concat_dim, grid=plan.grid)


def _refuse_empty(plan: Plan, datasets: list[xr.Dataset]) -> None:
    """A write without one data array would commit an empty repository and look like success."""
    if datasets and not any(ds.data_vars for ds in datasets):
        name = display_name(plan.urls[0]) + (f" (+{len(plan.urls) - 1} more)" if len(plan.urls) > 1 else "")
        raise VirtualizeError(
            f"{name}: no data arrays to virtualize (only headers/coordinates, or every variable dropped), nothing "
            "written -> skip the file, or keep a variable (fewer drop_variables)"
        )


def _dims_for_check(plan: Plan, parsed: list[ParsedFile]) -> Any:
    """Some files failed to parse: the concat dim of the others, so the check reports the failures, not a layout."""
    if plan.concat_dim is not None or plan.combine == "by_coords":
        return plan.concat_dim
    ok = [p.dataset for p in parsed if p.error is None and p.dataset is not None]
    try:
        return choose(ok, None, grid=False).value if len(ok) > 1 else None
    except VirtualizeError:
        return None


def _combine(plan: Plan, datasets: list[xr.Dataset], choice: ConcatChoice, options: Options) -> xr.Dataset:
    """The files combined as the plan says, global attributes merged (drop_conflicts) in ``.attrs``."""
    try:
        combined = combine_datasets(nest(datasets, plan.layout) if plan.grid else datasets, choice, plan.combine,
                                    options.coords)
    except VirtualizeError:
        raise
    except Exception as exc:  # noqa: BLE001 - xarray/virtualizarr combine errors
        along = choice.value or "the concat dimension"
        raise VirtualizeError(
            f"cannot combine the files along {along!r}: {_first_line(str(exc))} -> run `vzskill check` on them"
        ) from exc
    return combined


def preflight(plan: Plan, parsed: list[ParsedFile], location: Location, options: Options) -> Prepared:
    """Resolve the concat dim, check, combine and derive the containers; raises before anything is written."""
    failed = [p for p in parsed if p.error is not None]
    stored = _stored_for_append(location, plan, options.branch, options.access, options.storage_access) \
        if plan.append else None
    datasets = [p.dataset for p in parsed if p.dataset is not None] if not failed else []
    layout_error: VirtualizeError | None = None
    try:
        choice = _choose(plan, datasets, stored) if datasets else ConcatChoice([], "")
    except VirtualizeError as exc:
        if not options.check:
            raise
        layout_error, choice = exc, ConcatChoice([], "")  # the check's findings (more precise) win
    report = None
    if options.check:
        dims = choice.value if datasets and layout_error is None else _dims_for_check(plan, parsed)
        report = _run_check(parsed, plan, dims, options)
        if plan.combine == "by_coords" and report.concat_dim:
            dims = [report.concat_dim] if isinstance(report.concat_dim, str) else list(report.concat_dim)
            choice = ConcatChoice(dims, f"{', '.join(dims)}: ordered by the files' coordinates (by_coords)")
    if failed:
        more = f" (+{len(failed) - 1} more files failed)" if len(failed) > 1 else ""
        raise VirtualizeError(_first_line(failed[0].error or "") + more)
    if layout_error is not None:
        raise layout_error
    _refuse_empty(plan, datasets)
    options.step("combine", 0, 1)
    combined = _combine(plan, datasets, choice, options)
    combined.attrs, dropped = merge_attrs([ds.attrs for ds in datasets])
    options.step("combine", 1, 1)
    refs = reference_urls(datasets)
    prefixes = reference_prefixes(plan.sources, refs)
    probe_references(prefixes, refs, plan.sources, options.access)
    warnings = [f.message for f in report.findings if f.severity == "warning"] if report is not None else []
    return Prepared(combined, choice, prefixes, dropped, warnings, datasets)


def count_refs(ds: xr.Dataset) -> int:
    """Virtual chunk references (non-empty manifest entries) in a virtual dataset."""
    from virtualizarr.manifests import ManifestArray

    return sum(
        sum(1 for _ in var.data.manifest.iter_nonempty_paths())
        for var in ds.variables.values()
        if isinstance(var.data, ManifestArray)
    )


def prepare_repo(location: Location, urls: Sequence[str], access: Access | None = None,
                 storage_access: Access | None = None) -> icechunk.Repository:
    """The repository, created if needed, declaring + authorizing a container for every source root."""
    return prepare_location(location, source_prefixes(urls), access, storage_access_=storage_access)


# --------------------------------------------------------------------------- 4. commit


def commit_prepared(plan: Plan, ready: Prepared, parsed: list[ParsedFile], registry: SourceRegistry,
                    location: Location, options: Options, metadata: dict[str, Any] | None = None,
                    suffix: str = "") -> WriteResult:
    """Create/prepare the repository for the prepared containers and write in ONE commit (or raise, nothing committed).

    ``metadata`` goes into the snapshot's metadata, ``suffix`` after its message (a batched write's mark).
    """
    repo = prepare_location(location, ready.prefixes, options.access, storage_access_=options.storage_access)
    along = ready.choice.value
    verb = "append" if plan.append else "virtualize"
    default = f"vzskill: {verb} {len(plan.urls)} file(s)" + (
        f" along {along if isinstance(along, str) else ', '.join(along)}" if along else ""
    )
    how, coords = plan.combine, options.coords
    files = Files(plan.urls, ready.datasets, lambda parts: combine_datasets(parts, ready.choice, how, coords)) \
        if plan.append else None
    done = commit_write(
        repo, ready.combined, branch=options.branch, concat_dim=along if isinstance(along, str) else None,
        append=plan.append, message=(options.message or default) + suffix, dropped=ready.dropped, retries=options.retries,
        step=options.step, files=files, backoff=options.backoff,
        confirm=source_guard(parsed, options.access, registry), urls=plan.urls, metadata=metadata,
    )
    return _result(plan, ready, done, location, options.branch)


def _result(plan: Plan, ready: Prepared, done: Committed, location: Location, branch: str) -> WriteResult:
    written = done.written if isinstance(done.written, xr.Dataset) else ready.combined  # one group: a Dataset
    return WriteResult(
        snapshot_id=done.snapshot_id,
        branch=branch,
        n_files=len(plan.urls),
        variables=sorted(str(v) for v in written.data_vars),
        nrefs=count_refs(written) if done.written is not None else 0,
        repo=describe(location),
        appended=plan.append,
        dims={str(k): int(v) for k, v in written.sizes.items()},
        warnings=ready.warnings,
        concat_dim=ready.choice.value,
        concat_reason=ready.choice.reason,
        dropped_attrs=done.dropped,
        containers=ready.prefixes,
        skipped=done.skipped,
        inserted=done.inserted,
        attempts=done.attempts,
        snapshots=[done.snapshot_id] if done.written is not None else [],
    )


def run(plan: Plan, location: Location, options: Options, registry: SourceRegistry | None = None) -> WriteResult:
    """plan -> parse -> preflight -> commit: one commit of every file in ``plan`` (or nothing)."""
    registry = registry if registry is not None else reader_for(plan, options)
    parsed = parse_all(plan, registry, options)
    ready = preflight(plan, parsed, location, options)
    return commit_prepared(plan, ready, parsed, registry, location, options)


# --------------------------------------------------------------------------- the pipeline


def virtualize(
    urls: Iterable[Any],
    repo_or_storage: Location,
    *,
    concat_dim: str | Sequence[str] | None = None,
    combine: Literal["nested", "by_coords"] = "nested",
    access: Access | None = None,
    append: bool = False,
    branch: str = "main",
    message: str | None = None,
    loadable_variables: list[str] | None = None,
    drop_variables: list[str] | None = None,
    check: bool = True,
    registry: Any = None,
    storage_access: Access | None = None,
    parallel: Any = None,
    workers: int | None = None,
    group: str | Sequence[str] | None = None,
    progress: Progress | None = None,
    conflict_retries: int = DEFAULT_RETRIES,
    conflict_backoff: float = 0.05,
    coords: Mapping[str, Sequence[Any]] | None = None,
    dask_scheduler: str | None = None,
    batch_refs: int | None = None,
) -> WriteResult:
    """Virtualize ``urls`` into a repository as ONE commit on ``branch`` (or one per batch: ``batch_refs``).

    Parameters
    ----------
    urls
        Paths/URLs in concat order; a nested list for an N-D grid (``[[m0t0, m0t1], [m1t0, m1t1]]``
        with ``concat_dim=["member", "time"]``).
    repo_or_storage
        A Repository, an icechunk Storage, a local directory or an ``s3://``/``gs://``/``az://`` URL.
    concat_dim
        None infers it (one file: no concat; several: the dimension whose values differ, else the
        record dimension; appending: from the stored data and the new files). A list for grids.
    combine
        ``"nested"`` (URL order along ``concat_dim``) or ``"by_coords"``.
    append
        Append along ``concat_dim`` to the data on ``branch``; otherwise the branch must be empty.
        Global attributes are merged with the stored ones (``drop_conflicts``). Files land in any
        order: each is placed by its coordinate values against the stored ones at commit time - a
        file already stored (same values, same source) is skipped (``WriteResult.skipped``), one
        overlapping stored values is refused, one falling before the stored tail is inserted by
        moving chunk references (``WriteResult.inserted``; no data copied).
    coords
        Values for new grid dimensions, e.g. ``{"member": ["a", "b"]}``.
    parallel, workers
        How the files are parsed (:func:`vzskill.parse.parse_files`: ``parallel`` mode, ``workers`` count);
        ``parallel`` may also be a ``distributed.Client`` (the parse runs on its cluster).
    dask_scheduler
        Address of a running dask.distributed scheduler (``tcp://host:8786``): the files are parsed on
        its workers (which must reach them under the same URLs); ``parallel="dask"`` alone uses the
        current client or ``DASK_SCHEDULER_ADDRESS`` (:mod:`vzskill.cluster`).
    batch_refs
        Commit in batches of at most this many chunk references, parsing batch by batch (memory stays
        bounded): batch 1 creates/appends, every next batch appends on the new tip; a failure in
        batch k commits nothing of it, and the same call repeated resumes after the last committed
        file (:mod:`vzskill.batches`). Default: one commit - except when the parse runs on a
        dask.distributed cluster: :data:`CLUSTER_BATCH_REFS`. Flat lists with ``combine="nested"`` only.
    group
        The group of every file to virtualize (HDF5/NetCDF4 subgroup, GRIB level type, TIFF overview),
        written at the repository's root. A list of groups writes each one at its path, in ONE commit
        (a DataTree: ``xr.open_datatree(store, engine="zarr")``; first writes only, :mod:`vzskill.tree`).
    conflict_retries, conflict_backoff
        When another writer committed first: redo everything (placement, checks, write) from the
        new tip at most ``conflict_retries`` times, sleeping a random 0..min(2, backoff * 2**n) s
        before try n.

    Returns
    -------
    WriteResult
        Snapshot, dims, ``concat_dim`` + ``concat_reason``, ``dropped_attrs``, ``containers``.

    Raises
    ------
    VirtualizeError
        Anything that stops the write (``.report`` holds the CheckReport for check errors); with
        batches, the message names the batches already committed.
    vzskill.sources.SourceError
        A URL or location that cannot be described. In every failure case nothing is committed.
    """
    if isinstance(loadable_variables, tuple):
        loadable_variables = list(loadable_variables)
    groups = None if group is None or isinstance(group, str) else list(group)
    options = Options(
        branch=branch, message=message, check=check, access=access, storage_access=storage_access, registry=registry,
        parallel=parallel, workers=workers, group=group if isinstance(group, str) else None,
        loadable_variables=loadable_variables,
        drop_variables=drop_variables, coords=coords, retries=conflict_retries, backoff=conflict_backoff,
        step=progress or quiet,
    )
    plan = make_plan(urls, concat_dim, combine, append, loadable_variables)
    with cluster_parallel(parallel, dask_scheduler) as cluster:
        options.parallel = cluster.parallel
        if groups is not None:
            if batch_refs is not None:
                raise VirtualizeError("batch_refs writes ONE group -> drop batch_refs, or virtualize each group apart")
            return write_groups(plan, repo_or_storage, options, groups)
        if batch_refs is None and cluster.distributed:
            batch_refs = CLUSTER_BATCH_REFS
        if batch_refs is None:
            return run(plan, repo_or_storage, options)
        return write_in_batches(plan, repo_or_storage, options, batch_refs)
