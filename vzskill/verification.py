"""Verify a written repository against its sources: values, stale sources, containers.

:func:`verify` opens a branch / tag / snapshot with its virtual chunk containers authorized
(:func:`vzskill.containers.open_repo`) and

1. indexes what the snapshot references (:mod:`vzskill.references`: every array, per chunk
   virtual ``(path, offset, length)`` or stored in the repository);
2. checks containers, stats every referenced file and probes one chunk per file
   (:mod:`vzskill.stale`: missing / modified / reference past the end of the object);
3. compares the stored values, raw and chunk by chunk, with the sources read by their own
   libraries (:mod:`vzskill.compare`: a virtual chunk is placed in its source by its byte offset;
   :mod:`vzskill.compare_native`: arrays stored in the repository, placed by the virtual chunks of
   the same file). CF attribute drift (e.g. float32 ``scale_factor`` that the repository keeps
   as float64) is a warning when the decoded values are equal, a mismatch when they differ.

Everything requested that could not be compared is counted in ``skipped`` and fails the report,
unless asked for (``skip=[variable or format, ...]``, ``skip_unreadable=True``). ``sample=N``
compares N chunks per variable (seeded).
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any, Iterable

from vzskill.parse import display_name
from vzskill.sources import Access, normalize_url
from vzskill.verify_report import Mismatch, Stale, VerifyFinding, VerifyReport

if TYPE_CHECKING:
    import icechunk

    from vzskill.repo import Location

__all__ = ["Mismatch", "Stale", "VerifyFinding", "VerifyReport", "verify"]

FORMATS = {"hdf5", "netcdf3", "fits", "zarr", "kerchunk-json", "kerchunk-parquet", "hdf4", "zarr-zip", "tiff", "grib", "envi", "dmrpp",
           "icechunk"}


def _open_repository(storage_or_repo: Location, access: Access | None) -> icechunk.Repository:
    """A Repository, Storage, path or URL, opened with its containers authorized (:func:`vzskill.repo.open_location`)."""
    from vzskill.repo import open_location

    return open_location(storage_or_repo, access)


def _session(repo: icechunk.Repository, branch: str, tag: str | None, snapshot_id: str | None) -> tuple[icechunk.Session, str]:
    if snapshot_id:
        return repo.readonly_session(snapshot_id=snapshot_id), f"snapshot {snapshot_id}"
    if tag:
        return repo.readonly_session(tag=tag), f"tag {tag!r}"
    return repo.readonly_session(branch=branch), f"branch {branch!r}"


def verify(
    storage_or_repo: Location,
    urls: Iterable[str | os.PathLike[str]] | None = None,
    *,
    branch: str = "main",
    tag: str | None = None,
    snapshot_id: str | None = None,
    sample: int | None = None,
    access: Access | None = None,
    seed: int = 0,
    registry: Any = None,
    skip: Iterable[str] | None = None,
    skip_unreadable: bool = False,
) -> VerifyReport:
    """Compare a repository's stored values with direct reads of their sources; find stale sources.

    Parameters
    ----------
    storage_or_repo
        ``icechunk.Repository``, ``icechunk.Storage`` or a path / URL of a repository.
    urls
        The sources the repository should reference (optional): files referenced but not listed, or
        listed but not referenced, are reported.
    branch, tag, snapshot_id
        What to verify (default: branch ``main``).
    sample
        Compare ``sample`` chunks per variable (seeded by ``seed``) instead of every chunk.
    access, registry
        Credentials / endpoint for the sources, or a ready ``ObjectStoreRegistry``.
    skip
        Variables (array paths) or formats (``"fits"``, ``"hdf5"``, ``"netcdf3"``, ``"zarr"``...) not to
        compare; they are listed under ``skipped_by_request`` and do not fail the report.
    skip_unreadable
        Sources without a reader or that cannot be opened directly are skipped on request instead of
        failing the report.

    Returns
    -------
    VerifyReport
        Never raises: ``fatal`` + exit code 2 when the repository cannot be opened.
    """
    report = VerifyReport(ref=tag or snapshot_id or branch, sample=sample)
    try:
        repo = _open_repository(storage_or_repo, access)
        session, report.ref = _session(repo, branch, tag, snapshot_id)
        report.snapshot_id = session.snapshot_id
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if " -> " not in msg:
            msg = f"{type(exc).__name__}: {msg} -> check the repository location, branch/tag/snapshot and credentials"
        report.fatal = msg
        return report
    names = set(skip or ())
    try:
        _verify(report, repo, session, urls, access=access, seed=seed, registry=registry,
                skip_vars=names - FORMATS, skip_kinds=names & FORMATS, skip_unreadable=skip_unreadable)
    except Exception as exc:  # pragma: no cover - unexpected: still one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.fatal = f"{type(exc).__name__}: {msg}"
    return report


def _targets(urls: list[str], registry: Any, access: Access | None) -> dict[str, list[str]]:
    """The files each listed Kerchunk reference file / Zarr store points to (data files are not in the result)."""
    from vzskill.formats import kind_from_suffix
    from vzskill.parse import parse_files, reference_urls

    refs = [u for u in urls if kind_from_suffix(u) is not None]
    if not refs:
        return {}
    return {p.url: reference_urls([p]) if p.ok else [] for p in parse_files(refs, registry, access=access)}


def _listed(report: VerifyReport, wanted: list[str], locations: list[str], stored: set[str], registry: Any,
            access: Access | None) -> None:
    """Listed files neither referenced nor the source of arrays stored in the repository; referenced, not listed.

    A listed Kerchunk reference file or Zarr store stands for the files it points to.
    """
    covered: set[str] = set()
    expanded = _targets([u for u in wanted if u not in locations and u not in stored], registry, access)
    for u in wanted:
        targets = expanded.get(u)
        if targets is not None:
            missing = [t for t in targets if t not in locations]
            covered.update(targets)
            if targets and not missing:
                continue
            if targets:
                report.error("not_referenced", f"{display_name(u)}: listed, but {len(missing)} of the {len(targets)} "
                             f"file(s) it references are not referenced by {report.ref} (e.g. {missing[0]}) -> "
                             "virtualize it (vzskill virtualize --append), or check the list", u)
                continue
        if u not in locations and u not in stored:
            report.error("not_referenced", f"{display_name(u)}: listed but not referenced by {report.ref} ({u}) -> "
                         "virtualize it (vzskill virtualize --append), or check the list", u)
    for u in sorted(set(locations) - set(wanted) - covered):
        report.warn("unlisted", f"{display_name(u)}: referenced by {report.ref} but not in the given list ({u})", u)


def _plan(report: VerifyReport, index: Any, unreadable: set[str], sample: int | None, rng: random.Random,
          skip_vars: set[str]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Chunks to compare per array with virtual chunks: (virtual rows, rows stored in the repository).

    Every chunk, or ``sample`` per array drawn (seeded) from both kinds together.
    """
    plan: dict[str, list[int]] = {}
    stored: dict[str, list[int]] = {}
    for var, refs in sorted(index.virtual().items()):
        rows = [int(r) for r in range(len(refs.urls)) if refs.virtual[r] and refs.urls[r] not in unreadable]
        if refs.n_virtual > len(rows):
            report.skip(var, "in a stale or unreadable source (see above)", refs.n_virtual - len(rows))
        native = [int(r) for r in range(len(refs.urls)) if not refs.virtual[r]]
        if var in skip_vars:
            report.skip(var, "skipped on request", len(rows) + len(native), requested=True)
            continue
        if sample is not None and sample < len(rows) + len(native):
            picked = set(rng.sample(rows + native, sample))
            rows, native = [r for r in rows if r in picked], [r for r in native if r in picked]
        if sample is not None:
            report.sampled.extend((var, refs.chunk(r)) for r in sorted(rows + native))
        plan[var] = rows
        stored[var] = native
    return plan, stored


def _verify(report: VerifyReport, repo: icechunk.Repository, session: icechunk.Session, urls: Any, *, access: Access | None, seed: int,
            registry: Any, skip_vars: set[str], skip_kinds: set[str], skip_unreadable: bool) -> None:
    from vzskill.compare import Sources, compare_virtual
    from vzskill.compare_native import compare_mixed, compare_native
    from vzskill.references import reference_index
    from vzskill.stale import check_containers, find_stale

    index = reference_index(session)
    virtual = index.virtual()
    report.n_variables = len(virtual)
    report.n_refs = sum(r.n_virtual for r in virtual.values())
    locations = sorted(index.by_file())
    report.files = locations
    bad_container = check_containers(report, repo, locations)
    wanted = None if urls is None else [normalize_url(os.fspath(u)) for u in urls]
    if registry is None and (locations or wanted):
        from vzskill.parse import _registry_for  # the listed sources too: they may hold the stored arrays

        registry = _registry_for(locations + [u for u in wanted or () if u not in locations], access)
    try:
        written_at = repo.lookup_snapshot(session.snapshot_id).written_at
    except Exception:
        written_at = None
    unreadable = find_stale(report, index, registry, written_at, bad_container) | bad_container if locations else set()
    rng = random.Random(seed)
    plan, stored_plan = _plan(report, index, unreadable, report.sample, rng, skip_vars)
    sources = Sources(registry)
    try:
        origins = compare_virtual(report, index, plan, sources, requested_kinds=skip_kinds, skip_unreadable=skip_unreadable)
        files = sorted({sources.key(u, v) for u, per in index.by_file().items() if u not in unreadable for v in per})
        if not locations and wanted is not None:  # nothing virtual: the listed sources hold the stored arrays
            files = wanted
        others = [u for u in wanted or () if u not in locations and u not in files]  # e.g. odd files stored natively
        stored = compare_native(report, index, sources, origins, files, sample=report.sample, rng=rng,
                                skip_vars=skip_vars, others=others)
        stored |= compare_mixed(report, index, sources, origins, files + others, stored_plan)
    finally:
        sources.close()
    if wanted is not None:
        _listed(report, wanted, locations, stored, registry, access)
