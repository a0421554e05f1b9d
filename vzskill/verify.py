"""Verify a written repository against its sources: values, stale sources, containers.

:func:`verify` opens a branch / tag / snapshot with its virtual chunk containers authorized
(:func:`vzskill.containers.open_repo`), lists every virtual chunk reference
(``IcechunkStore.array_chunk_iterator``), groups the references by source file and compares, for
every virtual variable, the repository's decoded values with a direct read of the source file
(xarray with h5netcdf / scipy, same CF decoding) - the whole file region, or ``sample=N`` random
chunks per variable (seeded). The position of each file in the repository is recovered from the chunk
references themselves, so a wrong concat order, wrong time units or a wrong byte range all show up
as mismatches, reported by variable and chunk index.

Stale sources: every referenced file is stat-ed through the obstore registry (deleted -> ``missing``;
newer than the snapshot -> ``modified``) and one chunk per file is read through icechunk, which
raises ``the checksum of the object owning the virtual chunk has changed`` when the repository was
written with ``last_updated_at`` and the file changed since.
"""

from __future__ import annotations

import asyncio
import os
import random
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import numpy as np

from vzskill.parse import display_name
from vzskill.sources import Access, SourceError, local_path, normalize_url

__all__ = ["Mismatch", "Stale", "VerifyFinding", "VerifyReport", "verify"]

MAX_CHUNKS_PER_FILE = 20  # mismatching chunks listed per (variable, file); the count is always complete


@dataclass
class Mismatch:
    variable: str
    chunk: tuple[int, ...]
    file: str | None
    n_values: int  # differing values in the chunk
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "chunk": list(self.chunk), "file": self.file,
                "file_name": display_name(self.file) if self.file else None, "n_values": self.n_values,
                "message": self.message}


@dataclass
class Stale:
    file: str
    reason: str  # "missing" | "modified" | "unreadable"
    n_refs: int
    variables: list[str]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "file_name": display_name(self.file), "reason": self.reason,
                "n_refs": self.n_refs, "variables": self.variables, "message": self.message}


@dataclass
class VerifyFinding:
    severity: str
    kind: str
    message: str
    file: str | None = None
    variable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "message": self.message, "file": self.file,
                "variable": self.variable}


@dataclass
class VerifyReport:
    """``exit_code``: 0 ok / 1 mismatches, stale sources or other errors / 2 could not run."""

    ref: str = "main"
    snapshot_id: str | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    stale: list[Stale] = field(default_factory=list)
    findings: list[VerifyFinding] = field(default_factory=list)
    n_variables: int = 0
    n_chunks: int = 0  # virtual chunks compared
    n_refs: int = 0  # virtual chunk references in the snapshot
    files: list[str] = field(default_factory=list)  # referenced source files
    skipped: list[str] = field(default_factory=list)
    sample: int | None = None
    fatal: str | None = None
    mismatch_counts: dict[str, int] = field(default_factory=dict)  # variable -> differing chunks (complete)
    sampled: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (variable, chunk) picked by sample=N

    @property
    def errors(self) -> list[VerifyFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.mismatches and not self.stale and not self.errors

    @property
    def exit_code(self) -> int:
        if self.fatal is not None:
            return 2
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "fatal": self.fatal,
            "ref": self.ref,
            "snapshot_id": self.snapshot_id,
            "sample": self.sample,
            "sampled": [[v, list(c)] for v, c in self.sampled],
            "n_variables": self.n_variables,
            "n_chunks_compared": self.n_chunks,
            "n_refs": self.n_refs,
            "n_files": len(self.files),
            "mismatch_counts": dict(self.mismatch_counts),
            "mismatches": [m.to_dict() for m in self.mismatches],
            "stale": [s.to_dict() for s in self.stale],
            "findings": [f.to_dict() for f in self.findings],
            "skipped": self.skipped,
            "files": self.files,
        }

    def format_table(self) -> str:
        head = f"vzskill verify: {self.ref}" + (f" (snapshot {self.snapshot_id})" if self.snapshot_id else "")
        if self.fatal is not None:
            return f"{head}\ncould not run: {self.fatal}"
        what = f"{self.sample} sampled chunk(s) per variable" if self.sample else "all virtual chunks"
        lines = [
            f"{head} -> {'OK' if self.ok else 'FAILED'}: {self.n_variables} virtual variable(s), {self.n_chunks} chunk(s) "
            f"compared ({what}), {len(self.files)} source file(s), {self.n_refs} reference(s)"
        ]
        if self.stale:
            lines.append("")
            lines.append("Stale sources:")
            for s in self.stale:
                lines.append(f"  {s.reason.upper():<10}  {s.message}")
        if self.mismatches:
            lines.append("")
            lines.append("Value mismatches (variable, chunk index, source file):")
            for m in self.mismatches:
                lines.append(f"  {m.message}")
            for var, n in self.mismatch_counts.items():
                shown = sum(1 for m in self.mismatches if m.variable == var)
                if n > shown:
                    lines.append(f"  ... {var}: {n - shown} more differing chunk(s)")
        if self.findings:
            lines.append("")
            for f in self.findings:
                lines.append(f"  {f.severity.upper():<7}  {f.message}")
        if self.skipped:
            lines.append("")
            lines.append("Not compared: " + "; ".join(self.skipped))
        return "\n".join(lines)


# --------------------------------------------------------------------------- repository access


def _open_repository(storage_or_repo: Any, access: Access | None) -> Any:
    import icechunk

    from vzskill.containers import open_repo

    if isinstance(storage_or_repo, icechunk.Repository):
        return storage_or_repo
    if isinstance(storage_or_repo, (str, os.PathLike)):
        text = os.fspath(storage_or_repo)
        if "://" in text and not text.startswith("file://"):
            from vzskill.write import storage_for  # foundation helper: s3/gs/az repo locations

            storage = storage_for(text, access)
        else:
            storage = icechunk.local_filesystem_storage(local_path(normalize_url(text)) if "://" in text else os.path.abspath(text))
    else:
        storage = storage_or_repo
    if not icechunk.Repository.exists(storage):
        raise SourceError("no icechunk repository at this location -> check the path (write one with `vzskill virtualize`)")
    return open_repo(storage, access)


def _session(repo: Any, branch: str, tag: str | None, snapshot_id: str | None) -> tuple[Any, str]:
    if snapshot_id:
        return repo.readonly_session(snapshot_id=snapshot_id), f"snapshot {snapshot_id}"
    if tag:
        return repo.readonly_session(tag=tag), f"tag {tag!r}"
    return repo.readonly_session(branch=branch), f"branch {branch!r}"


def _arrays(session: Any) -> list[tuple[str, Any]]:
    """(path, zarr.Array) for every array in the snapshot, recursively."""
    import zarr

    root = zarr.open_group(session.store, mode="r", zarr_format=3)
    out: list[tuple[str, Any]] = []

    def walk(group: Any, prefix: str) -> None:
        for name, member in group.members():
            path = f"{prefix}{name}"
            if isinstance(member, zarr.Group):
                walk(member, path + "/")
            else:
                out.append((path, member))

    walk(root, "")
    return out


@dataclass
class _Refs:
    """Virtual references of one array: chunk coords (n, ndim), urls, offsets."""

    coords: np.ndarray
    urls: list[str]
    n_native: int = 0


def _virtual_refs(session: Any, path: str) -> _Refs:
    from icechunk import ChunkType

    store = session.store

    async def collect() -> _Refs:
        coords: list[np.ndarray] = []
        urls: list[str] = []
        n_native = 0
        it = store.array_chunk_iterator(path, 100_000)
        try:
            async for b_coords, b_kinds, b_paths, _offsets, _lengths, _inl in it:
                if b_coords.shape[0] == 0:
                    continue
                kinds = np.asarray(b_kinds)
                virt = kinds == ChunkType.virtual.value if hasattr(ChunkType.virtual, "value") else kinds == 2
                if not np.any(virt):
                    n_native += int(b_coords.shape[0])
                    continue
                n_native += int((~virt).sum())
                coords.append(np.asarray(b_coords)[virt])
                urls.extend(_raw_file_url(p) for p, v in zip(b_paths, virt) if v)
        finally:
            close = getattr(it, "aclose", None) or getattr(it, "close", None)
            if close is not None:
                res = close()
                if asyncio.iscoroutine(res):
                    await res
        arr = np.concatenate(coords) if coords else np.zeros((0, 0), dtype=np.uint32)
        return _Refs(coords=arr, urls=urls, n_native=n_native)

    return _run(collect())


def _run(coro: Any) -> Any:
    """Run on zarr's long-lived event loop (icechunk's async iterators outlive a throw-away loop)."""
    from zarr.core.sync import sync

    return sync(coro)


def _classify(exc: BaseException) -> str:
    text = str(exc)
    low = text.lower()
    if "checksum of the object owning the virtual chunk has changed" in low or "has changed" in low and "virtual" in low:
        return "modified"
    if "not found" in low or "no such file" in low or "404" in low:
        return "missing"
    if "no virtual chunk container" in low or "container" in low and "authoriz" in low:
        return "container"
    return "unreadable"


# --------------------------------------------------------------------------- source reads


class _SourceCache:
    """Direct reads of the source files (xarray, same decoding as the repository read)."""

    def __init__(self, registry: Any):
        self.registry = registry
        self.cache: dict[tuple[str, str | None], Any] = {}
        self.errors: dict[str, str] = {}

    def dataset(self, url: str, group: str | None) -> Any:
        key = (url, group)
        if key in self.cache:
            return self.cache[key]
        import xarray as xr

        from vzskill.parse import detect_kind

        kind = detect_kind(url, self.registry)
        engine = {"hdf5": "h5netcdf", "netcdf3": "scipy"}.get(kind)
        if engine is None:
            raise NotImplementedError(f"{display_name(url)}: no direct reader for {kind} sources (values not compared)")
        if url.startswith("file://"):
            target: Any = local_path(url)
        else:
            from obspec_utils.readers import BlockStoreReader

            store, path = self.registry.resolve(url)
            target = BlockStoreReader(store, path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_dataset(target, engine=engine, group=group, chunks=None, cache=False)
        self.cache[key] = ds
        return ds

    def close(self) -> None:
        for ds in self.cache.values():
            try:
                ds.close()
            except Exception:
                pass


def _equal_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality, NaN == NaN / NaT == NaT."""
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} vs {b.shape}")
    eq = a == b
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        eq = eq | (np.isnan(a) & np.isnan(b))
    elif a.dtype.kind in "mM" and b.dtype.kind in "mM":
        eq = eq | (np.isnat(a) & np.isnat(b))
    return np.asarray(eq)


def _chunk_slices(coord: Iterable[int], chunks: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(c * k, min((c + 1) * k, s)) for c, k, s in zip(coord, chunks, shape))


# --------------------------------------------------------------------------- verify


def verify(
    storage_or_repo: Any,
    urls: Iterable[str | os.PathLike[str]] | None = None,
    *,
    branch: str = "main",
    tag: str | None = None,
    snapshot_id: str | None = None,
    sample: int | None = None,
    access: Access | None = None,
    seed: int = 0,
    registry: Any = None,
) -> VerifyReport:
    """Compare a repository's virtual variables with direct reads of their sources; find stale sources.

    ``urls`` (optional): the sources the repository should reference; files referenced but not
    listed, or listed but not referenced, are reported. ``sample=N`` compares N random chunks per variable
    (seeded by ``seed``) instead of every chunk. Never raises: ``fatal`` + exit code 2 when the
    repository cannot be opened.
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
    try:
        _verify(report, repo, session, urls, sample=sample, access=access, seed=seed, registry=registry)
    except Exception as exc:  # pragma: no cover - unexpected: still one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.fatal = f"{type(exc).__name__}: {msg}"
    return report


def _verify(report: VerifyReport, repo: Any, session: Any, urls: Any, *, sample: int | None, access: Access | None,
            seed: int, registry: Any) -> None:
    import obstore
    import xarray as xr

    arrays = _arrays(session)
    refs: dict[str, _Refs] = {}
    meta: dict[str, Any] = {}
    for path, arr in arrays:
        r = _virtual_refs(session, path)
        if r.urls:
            refs[path] = r
            meta[path] = arr
    report.n_variables = len(refs)
    report.n_refs = sum(len(r.urls) for r in refs.values())
    # icechunk reports file:// locations percent-encoded ('a%20b'); manifests and containers use raw paths
    locations = sorted({_raw_file_url(u) for u in session.all_virtual_chunk_locations()})
    report.files = locations

    by_file: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))  # url -> var -> ref rows
    for var, r in refs.items():
        for row, u in enumerate(r.urls):
            by_file[u][var].append(row)

    # containers: declared / authorized prefixes must cover every location
    config = repo.config
    declared = sorted((config.virtual_chunk_containers or {}).keys()) if config is not None else []
    try:
        authorized = set(repo.authorized_virtual_container_prefixes())
    except Exception:
        authorized = set(declared)
    uncovered: dict[str, list[str]] = defaultdict(list)
    for u in locations:
        match = [p for p in declared if u.startswith(p)]
        if not match:
            uncovered["none"].append(u)
        elif not any(p in authorized for p in match):
            uncovered[match[0]].append(u)
    for prefix, us in uncovered.items():
        if prefix == "none":
            from vzskill.sources import suggest_root

            want = sorted({suggest_root(u).rstrip("/") + "/" for u in us})
            report.findings.append(VerifyFinding(
                "error", "container",
                f"{len(us)} referenced file(s) (e.g. {us[0]}) are under no virtual chunk container (declared: "
                f"{', '.join(declared) or 'none'}) -> add a container for {', '.join(want)} "
                "(vzskill.containers.add_containers) or re-virtualize with the right paths",
            ))
        else:
            report.findings.append(VerifyFinding(
                "error", "container",
                f"container {prefix} is declared but not authorized, so {len(us)} file(s) cannot be read -> open the "
                f"repository with authorize_virtual_chunk_access for {prefix!r} (vzskill.containers.open_repo)",
            ))
    bad_container = {u for us in uncovered.values() for u in us}

    # expected sources
    if urls is not None:
        wanted = [normalize_url(u) for u in urls]
        for u in wanted:
            if u not in by_file:
                report.findings.append(VerifyFinding(
                    "error", "not_referenced", f"{display_name(u)}: listed but not referenced by {report.ref} ({u}) -> "
                    "virtualize it (vzskill virtualize --append), or check the list", file=u))
        extra = [u for u in locations if u not in set(wanted)]
        for u in extra:
            report.findings.append(VerifyFinding(
                "warning", "unlisted", f"{display_name(u)}: referenced by {report.ref} but not in the given list ({u})",
                file=u))

    # stat every referenced file through the registry
    if registry is None and locations:
        from vzskill.parse import _registry_for

        registry = _registry_for(locations, access)
    written_at = None
    try:
        written_at = repo.lookup_snapshot(session.snapshot_id).written_at
    except Exception:
        pass
    stale_files: set[str] = set()

    def add_stale(u: str, reason: str, detail: str) -> None:
        if u in stale_files:
            return
        stale_files.add(u)
        variables = sorted(by_file[u])
        n = sum(len(v) for v in by_file[u].values())
        fixes = {
            "missing": "restore the file, or re-virtualize without it (a new commit), or rename_paths to its new location",
            "modified": "re-virtualize it (its byte ranges may have moved) and commit; pin sources with last_updated_at",
            "unreadable": "check access/credentials to the source",
        }
        report.stale.append(Stale(
            u, reason, n, variables,
            f"{display_name(u)}: {detail}; {n} reference(s) in {', '.join(variables)} are affected ({u}) -> {fixes[reason]}",
        ))

    for u in locations:
        if u in bad_container:
            continue
        try:
            store, path = registry.resolve(u)
            info = obstore.head(store, path)
        except FileNotFoundError:
            add_stale(u, "missing", "source deleted or moved (not found)")
            continue
        except Exception as exc:
            kind = _classify(exc)
            if kind == "missing":
                add_stale(u, "missing", "source deleted or moved (not found)")
            else:
                add_stale(u, "unreadable", f"cannot stat the source ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            continue
        modified = info.get("last_modified")
        if written_at is not None and modified is not None:
            try:
                if modified > written_at:
                    add_stale(u, "modified", f"source changed after the snapshot was written ({modified:%Y-%m-%d %H:%M:%S.%f} > {written_at:%Y-%m-%d %H:%M:%S.%f} UTC)")
                    continue
            except TypeError:
                pass

    # one chunk per file through icechunk: checksum / not-found errors
    probe_arrays = {p: a for p, a in arrays}
    for u in locations:
        if u in stale_files or u in bad_container:
            continue
        var = next(iter(by_file[u]))
        row = by_file[u][var][0]
        arr = probe_arrays[var]
        sl = _chunk_slices(refs[var].coords[row], arr.chunks, arr.shape)
        try:
            arr[sl]
        except Exception as exc:
            kind = _classify(exc)
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if kind == "modified":
                add_stale(u, "modified", "icechunk: the checksum of the object owning the virtual chunk has changed")
            elif kind == "missing":
                add_stale(u, "missing", "icechunk: source not found")
            elif kind == "container":
                report.findings.append(VerifyFinding("error", "container", f"{display_name(u)}: {text} -> add/authorize its container", file=u))
                bad_container.add(u)
            else:
                add_stale(u, "unreadable", f"icechunk cannot read it ({type(exc).__name__}: {text})")

    # values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo_ds = xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None)
    sources = _SourceCache(registry)
    rng = random.Random(seed)
    try:
        _compare(report, repo_ds, meta, refs, by_file, sources, stale_files | bad_container, sample, rng)
        _compare_loaded(report, repo_ds, refs, by_file, meta, sources, stale_files | bad_container)
    finally:
        sources.close()


def _file_regions(refs: _Refs, rows: list[int], chunks: tuple[int, ...]) -> tuple[int, ...]:
    """Start index (per axis) of one file's block in the repository array."""
    block = refs.coords[rows]
    return tuple(int(block[:, ax].min()) * chunks[ax] for ax in range(block.shape[1]))


def _compare(report: VerifyReport, repo_ds: Any, meta: dict[str, Any], refs: dict[str, _Refs],
             by_file: dict[str, dict[str, list[int]]], sources: _SourceCache, skip: set[str],
             sample: int | None, rng: random.Random) -> None:
    # candidate chunks per variable: (var, url, row); sample=N picks N per variable (seeded)
    candidates: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for u, per_var in sorted(by_file.items()):
        if u in skip:
            continue
        for var, rows in sorted(per_var.items()):
            candidates[var].extend((var, u, r) for r in rows)
    chosen: list[tuple[str, str, int]] = []
    for var in sorted(candidates):
        cands = candidates[var]
        picked = rng.sample(cands, sample) if sample is not None and sample < len(cands) else cands
        chosen.extend(picked)
        if sample is not None:
            report.sampled.extend((var, tuple(int(c) for c in refs[var].coords[r])) for _, _, r in picked)
    # group the chosen chunks by (file, variable)
    plan: dict[tuple[str, str], list[int]] = defaultdict(list)
    for var, u, r in chosen:
        plan[(u, var)].append(r)

    for (u, var), rows in sorted(plan.items()):
        arr = meta[var]
        chunks, shape = tuple(arr.chunks), tuple(arr.shape)
        name = var.rsplit("/", 1)[-1]
        group = var.rsplit("/", 1)[0] if "/" in var else None
        try:
            src = sources.dataset(u, group)
        except NotImplementedError as exc:
            if str(exc) not in report.skipped:
                report.skipped.append(str(exc))
            continue
        except Exception as exc:
            report.findings.append(VerifyFinding(
                "error", "source_read", f"{display_name(u)}: cannot read the source directly ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}) -> check the file and its access", file=u, variable=var))
            continue
        if name not in src.variables or var not in repo_ds.variables and name not in repo_ds.variables:
            report.findings.append(VerifyFinding(
                "error", "variable", f"{display_name(u)}: variable '{name}' referenced by the repository is not in the source "
                "-> re-virtualize it", file=u, variable=var))
            continue
        start = _file_regions(refs[var], by_file[u][var], chunks)
        src_var = src[name].variable
        repo_var = repo_ds[name if name in repo_ds.variables else var].variable
        if sample is None:
            # the whole block of this file in one read each, then split into chunks
            region = tuple(slice(s0, min(s0 + n, full)) for s0, n, full in zip(start, src_var.shape, shape))
            try:
                got = np.asarray(repo_var[region].values)
                want = np.asarray(src_var.values)
            except Exception as exc:
                _read_error(report, u, var, exc)
                continue
            report.n_chunks += len(rows)
            try:
                eq = _equal_mask(got, want)
            except ValueError as exc:
                report.mismatch_counts[var] = report.mismatch_counts.get(var, 0) + len(rows)
                report.mismatches.append(Mismatch(var, tuple(int(c) for c in refs[var].coords[rows[0]]), u, int(np.prod(want.shape)),
                                                  f"{var}: block of {display_name(u)} has {exc} in the source -> re-virtualize it"))
                continue
            if eq.all():
                continue
            listed = 0
            for r in rows:
                coord = tuple(int(c) for c in refs[var].coords[r])
                sl = _chunk_slices(coord, chunks, shape)
                local = tuple(slice(s.start - s0, s.stop - s0) for s, s0 in zip(sl, start))
                bad = int((~eq[local]).sum())
                if bad:
                    _add_mismatch(report, var, coord, u, bad, int(np.prod([s.stop - s.start for s in local])),
                                  got[local], want[local], listed)
                    listed += 1
        else:
            for r in rows:
                coord = tuple(int(c) for c in refs[var].coords[r])
                sl = _chunk_slices(coord, chunks, shape)
                local = tuple(slice(s.start - s0, s.stop - s0) for s, s0 in zip(sl, start))
                try:
                    got = np.asarray(repo_var[sl].values)
                    want = np.asarray(src_var[local].values)
                except Exception as exc:
                    _read_error(report, u, var, exc)
                    break
                report.n_chunks += 1
                try:
                    eq = _equal_mask(got, want)
                except ValueError as exc:
                    eq = np.zeros(got.shape, dtype=bool)
                if not eq.all():
                    _add_mismatch(report, var, coord, u, int((~eq).sum()), int(eq.size), got, want, 0)


def _compare_loaded(report: VerifyReport, repo_ds: Any, refs: dict[str, _Refs], by_file: dict[str, dict[str, list[int]]],
                    meta: dict[str, Any], sources: _SourceCache, skip: set[str]) -> None:
    """Loaded (non-virtual) variables - e.g. a decoded ``time`` - against each source, at the file's position."""
    virtual_names = {v.rsplit("/", 1)[-1] for v in refs}
    loaded = [str(n) for n in repo_ds.variables if str(n) not in virtual_names and repo_ds[n].ndim >= 1]
    if not loaded:
        return
    for u, per_var in sorted(by_file.items()):
        if u in skip:
            continue
        var = next(iter(per_var))
        if "/" in var:
            continue  # groups: loaded variables are compared per group only at the root
        arr = meta[var]
        start = _file_regions(refs[var], per_var[var], tuple(arr.chunks))
        dims = list(repo_ds[var].dims)
        try:
            src = sources.dataset(u, None)
        except Exception:
            continue
        for name in loaded:
            rv = repo_ds[name].variable
            if name not in src.variables or not set(rv.dims) <= set(dims):
                continue
            sv = src[name].variable
            if sv.dims != rv.dims:
                continue
            region = tuple(slice(start[dims.index(d)], start[dims.index(d)] + n) for d, n in zip(sv.dims, sv.shape))
            try:
                got = np.asarray(rv[region].values)
                want = np.asarray(sv.values)
            except Exception:
                continue
            if (got.dtype.kind == "M") != (want.dtype.kind == "M"):
                if not any(f.kind == "decoding" and f.variable == name for f in report.findings):
                    report.findings.append(VerifyFinding(
                        "error", "decoding",
                        f"{name}: the repository's values are {got.dtype} but the sources' decode to {want.dtype} "
                        f"(e.g. {display_name(u)}): '{name}' was written without usable CF units -> re-virtualize with "
                        f"'{name}' loaded and decoded (decode_times=None, the default)", file=u, variable=name))
                continue
            try:
                eq = _equal_mask(got, want)
            except Exception:
                continue
            if eq.all():
                continue
            first = np.unravel_index(int(np.flatnonzero(~eq)[0]), eq.shape)
            chunks = rv.encoding.get("chunks") or rv.shape
            coord = tuple(int((r.start + i) // max(int(c), 1)) for r, i, c in zip(region, first, chunks))
            _add_mismatch(report, name, coord, u, int((~eq).sum()), int(eq.size), got, want, 0)


def _add_mismatch(report: VerifyReport, var: str, coord: tuple[int, ...], u: str, bad: int, total: int,
                  got: np.ndarray, want: np.ndarray, listed: int) -> None:
    report.mismatch_counts[var] = report.mismatch_counts.get(var, 0) + 1
    if listed >= MAX_CHUNKS_PER_FILE:
        return
    try:
        idx = np.flatnonzero(~_equal_mask(got, want))[0]
        example = f"first: repo {got.flat[idx]} vs source {want.flat[idx]}"
    except Exception:
        example = ""
    report.mismatches.append(Mismatch(
        var, coord, u, bad,
        f"{var} chunk {coord}: {bad} of {total} values differ from {display_name(u)} ({example}) -> re-virtualize "
        f"{display_name(u)}; run `vzskill check` on the sources (time units, scale_factor, order)",
    ))


def _read_error(report: VerifyReport, u: str, var: str, exc: BaseException) -> None:
    kind = _classify(exc)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if any(s.file == u for s in report.stale):
        return
    if kind in ("modified", "missing"):
        n = 0
        report.stale.append(Stale(u, kind, n, [var], f"{display_name(u)}: {text} ({u}) -> re-virtualize it"))
        return
    report.findings.append(VerifyFinding(
        "error", "read", f"{var}: cannot read the chunks of {display_name(u)} ({type(exc).__name__}: {text}) -> check "
        "the source and the repository's containers", file=u, variable=var))


def _now() -> datetime:  # pragma: no cover - helper for callers/tests
    return datetime.now(timezone.utc)


def _raw_file_url(url: str) -> str:
    """``file:///a%20b/x.nc`` -> ``file:///a b/x.nc`` (other schemes unchanged)."""
    from vzskill.sources import file_url, local_path

    return file_url(local_path(url)) if url.startswith("file://") else url
