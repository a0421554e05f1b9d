"""Compare a repository's virtual chunks with the sources they reference, chunk by chunk, raw.

The rule (what verify means by "equal"):

1. A virtual chunk is a reference ``(path, offset, length)``. The source's own reader
   (:mod:`vzskill.source_readers`) says which logical block of the variable starts at that byte
   offset (HDF5 chunk offsets, contiguous data offsets, NetCDF3 records, the FITS data offset, the
   Zarr chunk key). A reference that starts no block of the variable is a mismatch.
2. The repository chunk is read through icechunk + zarr (raw: codecs applied, no CF decoding);
   the source block of the repository's chunk shape (its trailing dims: combining adds new dims in
   front) is read raw by the format's library. Both are compared after dropping axes of length 1
   (dims the combine added; dropping them keeps the element order), NaN equal to NaN. FITS images
   with BSCALE/BZERO are scaled in float64 on the source side (the repository applies them in a
   codec) and compared to 1e-12 relative.
3. When the CF decoding attributes differ between the repository array and the source
   (:mod:`vzskill.cf_drift`), both sides are also decoded: different decoded values are a
   mismatch naming the attribute; equal values with a different decoded dtype are a warning.
4. The same source bytes referenced at two positions of one variable are an error (a file used
   twice in a grid).
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from vzskill.cf_drift import AttrDiff, attr_drift, decode, describe, repo_attrs
from vzskill.parse import display_name
from vzskill.references import ArrayRefs, ReferenceIndex
from vzskill.source_readers import NoReader, SourceFile, SourceVariable, open_source
from vzskill.source_zarr import ZarrSource, is_zarr_reference, zarr_root
from vzskill.verify_report import MAX_CHUNKS_PER_FILE, Mismatch, VerifyReport

__all__ = ["Sources", "compare_virtual", "equal_mask", "squeezed"]


def equal_mask(a: np.ndarray, b: np.ndarray, rtol: float = 0.0) -> np.ndarray:
    """Element-wise equality, NaN == NaN / NaT == NaT (``rtol`` > 0: relative tolerance for floats)."""
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} vs {b.shape}")
    if a.dtype.names or b.dtype.names:  # structured (a FITS ASCII table): every field equal
        if a.dtype.names != b.dtype.names:
            raise ValueError(f"fields {a.dtype.names} vs {b.dtype.names}")
        eq = np.ones(a.shape, dtype=bool)
        for name in a.dtype.names or ():
            eq &= equal_mask(a[name], b[name], rtol)
        return eq
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        eq = np.isclose(a, b, rtol=rtol, atol=0.0, equal_nan=True) if rtol else (a == b) | (np.isnan(a) & np.isnan(b))
    elif a.dtype.kind in "mM" and b.dtype.kind in "mM":
        eq = (a == b) | (np.isnat(a) & np.isnat(b))
    else:
        eq = a == b
    return np.asarray(eq, dtype=bool)


def squeezed(values: np.ndarray) -> np.ndarray:
    return values.reshape(tuple(n for n in values.shape if n != 1))


class Sources:
    """Open source files once; ``get(url, var)`` -> (SourceFile, kind); errors cached per file."""

    def __init__(self, registry: Any):
        self.registry = registry
        self.files: dict[str, SourceFile | BaseException] = {}
        self.roots: dict[str, str] = {}  # referenced object URL -> the source it belongs to (itself, a store root)
        self.zarr_roots: set[str] = set()

    def kind(self, url: str, var: str) -> str:
        from vzskill.parse import detect_kind

        return "zarr" if is_zarr_reference(url, var) else detect_kind(url, self.registry)

    def key(self, url: str, var: str) -> str:
        """The source a reference reads: the file, or the Zarr store that holds the chunk object."""
        if url not in self.roots:
            from vzskill.format_icechunk import icechunk_root

            repo_root = icechunk_root(url)  # a chunk object of an Icechunk source repository: the repository
            if repo_root is not None:
                self.roots[url] = repo_root
                return repo_root
            found = zarr_root(url, var) if is_zarr_reference(url, var) else None
            self.roots[url] = url if found is None else found[0]  # cached either way: one look per object
            if found is not None:
                self.zarr_roots.add(found[0])
        return self.roots[url]

    def get(self, url: str, var: str) -> tuple[SourceFile, str]:
        key = self.key(url, var)
        if key not in self.files:
            try:
                self.files[key] = (ZarrSource(key, self.registry) if key in self.zarr_roots
                                   else open_source(url, self.registry, self.kind(url, var)))
            except BaseException as exc:  # noqa: BLE001 - cached and reported per chunk
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                self.files[key] = exc
        got = self.files[key]
        if isinstance(got, BaseException):
            raise got
        return got, got.kind

    def close(self) -> None:
        for f in self.files.values():
            if isinstance(f, SourceFile):
                try:
                    f.close()
                except Exception:
                    pass


def locate(src: SourceFile, sv: SourceVariable, url: str, offset: int, length: int) -> tuple[int, ...] | None:
    if isinstance(src, ZarrSource):
        found = zarr_root(url, sv.name)
        return None if found is None else sv.chunk_start(found[1])  # type: ignore[attr-defined]
    return sv.locate_at(url, offset, length)


class Origins:
    """Where each file's blocks sit in the repository: per file, dim name -> start index.

    Every located chunk votes for its file's origin (repository start - source start, per dim);
    the most common vote wins and chunks that disagree are misplaced (e.g. two references
    swapped: each chunk's bytes equal its source block, but not at this position).
    """

    def __init__(self) -> None:
        self.votes: dict[str, dict[str, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        self.chunks: list[tuple[str, str, tuple[int, ...], dict[str, int]]] = []  # url, var, chunk, origin
        self.by_file: dict[str, dict[str, int]] = {}
        self.added: set[str] = set()  # dims the combine added in front of the sources' dims (e.g. 'member')

    def record(self, url: str, var: str, chunk: tuple[int, ...], dims: tuple[str, ...], repo_start: tuple[int, ...],
               src_start: tuple[int, ...]) -> None:
        extra = len(dims) - len(src_start)
        self.added.update(dims[:extra])
        origin = {d: repo_start[j] if j < extra else repo_start[j] - src_start[j - extra] for j, d in enumerate(dims)}
        for d, o in origin.items():
            self.votes[url][d][o] += 1
        self.chunks.append((url, var, chunk, origin))

    def settle(self, report: VerifyReport, listed: dict) -> None:
        """Fix each file's origin by majority; report the chunks placed elsewhere."""
        self.by_file = {u: {d: c.most_common(1)[0][0] for d, c in per.items()} for u, per in self.votes.items()}
        for url, var, chunk, origin in self.chunks:
            want = self.by_file[url]
            off = {d: o for d, o in origin.items() if o != want[d]}
            if off:
                dims = ", ".join(f"{d} {o} instead of {want[d]}" for d, o in off.items())
                _mismatch(report, var, chunk, url, 0, f"{var} chunk {chunk}: misplaced - its bytes are a block of "
                          f"{display_name(url)} that belongs elsewhere (file origin {dims}) -> re-virtualize "
                          f"{display_name(url)}", listed)


def _mismatch(report: VerifyReport, var: str, chunk: tuple[int, ...], url: str, n: int, message: str, listed: dict) -> None:
    report.mismatch_counts[var] = report.mismatch_counts.get(var, 0) + 1
    key = (var, url)
    listed[key] = listed.get(key, 0) + 1
    if listed[key] <= MAX_CHUNKS_PER_FILE:
        report.mismatches.append(Mismatch(var, chunk, url, n, message))


def _example(got: np.ndarray, want: np.ndarray, eq: np.ndarray) -> str:
    idx = int(np.flatnonzero(~eq)[0])
    return f"first: repo {got.flat[idx]} vs source {want.flat[idx]}"


FIX_BYTES = "re-virtualize {name}; run `vzskill check` on the sources (time units, scale_factor, order)"
FIX_DECODED = ("load '{var}' (loadable_variables) so each file is decoded with its own attributes, or make the "
               "files' attributes agree; run `vzskill check` on the sources")


class _Comparer:
    """State of one comparison run over the virtual chunks."""

    def __init__(self, report: VerifyReport, sources: Sources, requested_kinds: set[str], skip_unreadable: bool):
        self.report, self.sources = report, sources
        self.requested_kinds, self.skip_unreadable = requested_kinds, skip_unreadable
        self.origins = Origins()
        self.listed: dict[tuple[str, str], int] = {}
        self.drift: dict[tuple[str, str], list[AttrDiff]] = {}

    def source_var(self, refs: ArrayRefs, url: str, n_rows: int) -> tuple[SourceFile, SourceVariable] | None:
        """The source variable, or None after recording why these chunks are not compared."""
        var, report = refs.path, self.report
        try:
            src, kind = self.sources.get(url, var)
        except NoReader as exc:
            kind = exc.kind or str(exc).split(" for ", 1)[-1].split(" ", 1)[0]
            report.skip(var, f"no reader for {kind} sources", n_rows,
                        requested=self.skip_unreadable or kind in self.requested_kinds)
            return None
        except Exception as exc:
            report.skip(var, f"{display_name(url)} unreadable ({type(exc).__name__})", n_rows, requested=self.skip_unreadable)
            if not self.skip_unreadable:
                report.error("source_read", f"{display_name(url)}: cannot read the source directly ({type(exc).__name__}: "
                             f"{_line(exc)}) -> check the file and its access, or pass skip_unreadable=True", url, var)
            return None
        if kind in self.requested_kinds:
            report.skip(var, f"{kind} sources skipped", n_rows, requested=True)
            return None
        sv = src.variable(var)
        if sv is None:
            report.error("variable", f"{display_name(url)}: variable '{var}' referenced by the repository is not in "
                         "the source -> re-virtualize it", url, var)
            report.mismatch_counts[var] = report.mismatch_counts.get(var, 0) + n_rows
            return None
        return src, sv

    def chunk(self, refs: ArrayRefs, row: int, src: SourceFile, sv: SourceVariable,
              prefetched: tuple[tuple[slice, ...], np.ndarray] | None = None) -> None:
        var, url, report = refs.path, refs.urls[row], self.report
        chunk = refs.chunk(row)
        offset, length = int(refs.offsets[row]), int(refs.lengths[row])
        start = locate(src, sv, url, offset, length)
        if start is None:
            _mismatch(report, var, chunk, url, 0, f"{var} chunk {chunk}: the reference (offset {offset}, length {length}) "
                      f"is not the start of a block of '{sv.name}' in {display_name(url)} -> re-virtualize "
                      f"{display_name(url)}", self.listed)
            report.count(var)
            return
        region = refs.region(row)
        nd = len(sv.shape)
        block = tuple(refs.array.chunks[-nd:]) if nd else ()
        src_region = tuple(slice(s, min(s + k, n)) for s, k, n in zip(start, block, sv.shape, strict=True))
        self.origins.record(self.sources.key(url, var), var, chunk, refs.dims(), tuple(r.start for r in region), start)
        try:
            if prefetched is not None:  # read already, with the file's other chunks
                box, values = prefetched
                got = values[tuple(slice(r.start - b.start, r.stop - b.start) for r, b in zip(region, box, strict=True))]
            else:
                got = np.asarray(refs.array[region] if region else refs.array[()])
        except Exception as exc:
            _mismatch(report, var, chunk, url, 0, f"{var} chunk {chunk}: the referenced bytes of {display_name(url)} "
                      f"do not decode ({type(exc).__name__}: {_line(exc)}) -> {FIX_BYTES.format(name=display_name(url))}",
                      self.listed)
            report.count(var)
            return
        want = sv.read(src_region)
        rtol = sv.rtol
        if sv.scale is not None and got.dtype.kind == "f" and want.dtype.kind in "iu":
            want, rtol = want.astype("float64") * sv.scale[0] + sv.scale[1], max(rtol, 1e-12)
        report.count(var)
        self.values(refs, chunk, url, got, want, rtol, sv)

    def values(self, refs: ArrayRefs, chunk: tuple[int, ...], url: str, got: np.ndarray, want: np.ndarray,
               rtol: float, sv: SourceVariable) -> None:
        var, name = refs.path, display_name(url)
        g, w = squeezed(got), squeezed(want)
        if g.shape != w.shape:
            _mismatch(self.report, var, chunk, url, int(got.size), f"{var} chunk {chunk}: shape {got.shape} in the "
                      f"repository, {want.shape} in {name} -> {FIX_BYTES.format(name=name)}", self.listed)
            return
        eq = equal_mask(g, w, rtol)
        if not eq.all():
            bad = int((~eq).sum())
            _mismatch(self.report, var, chunk, url, bad, f"{var} chunk {chunk}: {bad} of {eq.size} values differ from "
                      f"{name} ({_example(g, w, eq)}) -> {FIX_BYTES.format(name=name)}", self.listed)
            return
        key = (var, url)
        if key not in self.drift:
            self.drift[key] = attr_drift(repo_attrs(refs.array), sv.attrs) if sv.attrs or refs.array.attrs else []
        if self.drift[key]:
            self.decoded(refs, chunk, url, got, want, self.drift[key], sv)

    def decoded(self, refs: ArrayRefs, chunk: tuple[int, ...], url: str, got: np.ndarray, want: np.ndarray,
                diffs: list[AttrDiff], sv: SourceVariable) -> None:
        """Raw values are equal but decoding attributes differ: decode both sides the way xarray would."""
        var, name = refs.path, display_name(url)
        dg, dw = decode(got, repo_attrs(refs.array), var), decode(want, sv.attrs, var)
        values = [d for d in diffs if d.value_differs]
        if values:  # a different value: the decoded numbers may differ
            g, w = squeezed(dg), squeezed(dw)
            try:
                if g.dtype.kind in "iuf" and w.dtype.kind in "iuf":  # compare at the coarser of the two precisions
                    common = min(np.dtype(g.dtype), np.dtype(w.dtype), key=lambda t: t.itemsize if t.kind == "f" else 16)
                    common = common if common.kind == "f" else np.dtype("float64")
                    g, w = g.astype(common), w.astype(common)
                eq = equal_mask(g, w, sv.rtol)
            except (ValueError, TypeError):
                eq = np.zeros(g.shape, dtype=bool)
            if not eq.all():
                bad = int((~eq).sum())
                _mismatch(self.report, var, chunk, url, bad, f"{var} chunk {chunk}: {bad} of {eq.size} values differ "
                          f"from {name} after CF decoding ({describe(values)}; raw values equal) -> "
                          f"{FIX_DECODED.format(var=var)}", self.listed)
                return
        if dg.dtype != dw.dtype:
            packing = [d for d in diffs if d.name in ("scale_factor", "add_offset")] or diffs
            self.report.warn("decoded_dtype", f"{var}: {describe(packing)} -> decoded values are {dg.dtype} (raw values "
                             f"equal; {dw.dtype} when read from the source); cast after decoding or set the encoding",
                             None, var)
        elif values:
            lost = [d.name for d in values if d.name in ("_FillValue", "missing_value") and d.repo is None]
            note = (f"; values equal to the source's {lost[0]} read back as numbers, not as missing -> set "
                    f"'{lost[0]}' on the repository array's attributes if the data can hold it") if lost else ""
            self.report.warn("cf_attribute", f"{var}: {describe(values)} (decoded values equal{note})", None, var)


MAX_BLOCK_BYTES = 64 * 2**20  # one read per file and variable up to this size, else chunk by chunk


def read_together(refs: ArrayRefs, rows: list[int]) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """The repository values of ``rows`` in one read, when they tile their bounding box (a file's block).

    None (read chunk by chunk) when they do not, when the box is large, or when the read fails: then
    each chunk is read on its own, so a chunk that does not decode is reported by itself.
    """
    if len(rows) < 2 or not refs.array.ndim:
        return None
    regions = [refs.region(r) for r in rows]
    box = tuple(slice(min(r[d].start for r in regions), max(r[d].stop for r in regions)) for d in range(refs.array.ndim))
    chunks = refs.array.chunks
    n_chunks = int(np.prod([-(-b.stop // k) - b.start // k for b, k in zip(box, chunks, strict=True)]))
    n_bytes = int(np.prod([b.stop - b.start for b in box])) * np.dtype(refs.array.dtype).itemsize
    if n_chunks != len(set(rows)) or n_bytes > MAX_BLOCK_BYTES:
        return None
    try:
        return box, np.asarray(refs.array[box])
    except Exception:  # noqa: BLE001 - read chunk by chunk instead (names the chunk that fails)
        return None


def duplicate_references(report: VerifyReport, refs: ArrayRefs) -> None:
    """The same (path, offset) at two chunk positions of one variable: a file used twice."""
    seen: dict[tuple[str, int], int] = {}
    for row in np.flatnonzero(refs.virtual):
        key = (refs.urls[row], int(refs.offsets[row]))
        if key in seen:
            first, here = refs.chunk(seen[key]), refs.chunk(int(row))
            report.error("duplicate_reference", f"{refs.path}: chunks {first} and {here} reference the same bytes of "
                         f"{display_name(key[0])} (offset {key[1]}) -> a file is used twice in the combine; re-virtualize "
                         "with each file once (check the nested file list)", key[0], refs.path)
            return
        seen[key] = int(row)


def compare_virtual(report: VerifyReport, index: ReferenceIndex, plan: dict[str, list[int]], sources: Sources,
                    *, requested_kinds: set[str], skip_unreadable: bool) -> Origins:
    """Compare the planned virtual chunks (array path -> rows); returns where each file sits (for natives)."""
    comparer = _Comparer(report, sources, requested_kinds, skip_unreadable)
    for var, rows in sorted(plan.items()):
        refs = index.arrays[var]
        duplicate_references(report, refs)
        per_file: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            per_file[refs.urls[r]].append(r)
        for url, file_rows in sorted(per_file.items()):
            found = comparer.source_var(refs, url, len(file_rows))
            if found is None:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                together = read_together(refs, file_rows)
                for r in file_rows:
                    comparer.chunk(refs, r, *found, prefetched=together)
    comparer.origins.settle(report, comparer.listed)
    return comparer.origins


def _line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
