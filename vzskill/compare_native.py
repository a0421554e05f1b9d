"""Compare arrays stored natively in the repository (loaded variables) with the sources' values.

A loaded variable has no references, so its place in the repository comes from the virtual
chunks of the same file (:class:`vzskill.compare.Origins`: per dimension name, where the file's
blocks start). The source variable of the same name is aligned on the repository array's trailing
dimensions (combining adds new dims in front); a dimension no virtual variable places is at 0 when
its length equals the source's. Values are compared raw when the CF decoding attributes agree,
decoded otherwise (xarray re-encodes a loaded ``time`` with one file's units: its raw numbers then
differ from the other files' while the times are equal) - the report says which.
"""

from __future__ import annotations

import itertools
import random
import warnings
from typing import Any, Sequence

import numpy as np

from vzskill.cf_drift import attr_drift, decode, describe, repo_attrs
from vzskill.compare import Origins, Sources, equal_mask, squeezed
from vzskill.parse import display_name
from vzskill.references import ArrayRefs, ReferenceIndex
from vzskill.source_readers import NoReader, SourceVariable
from vzskill.verify_report import Mismatch, VerifyReport

__all__ = ["compare_mixed", "compare_native"]


def _region(refs: ArrayRefs, sv: SourceVariable, origin: dict[str, int]) -> tuple[slice, ...] | str:
    """The source's block in the repository array, or why it cannot be placed."""
    dims, shape = refs.dims(), tuple(refs.array.shape)
    extra = len(dims) - len(sv.shape)
    if extra < 0:
        return f"the source has {len(sv.shape)} dims, the repository {len(dims)}"
    out = []
    for j, d in enumerate(dims):
        n = 1 if j < extra else sv.shape[j - extra]
        o = origin.get(d)
        if o is None:
            if shape[j] != n:
                return f"no virtual variable places the file along '{d}'"
            o = 0
        if o + n > shape[j]:
            return f"the file's block ({o}:{o + n}) lies outside '{d}' (length {shape[j]})"
        out.append(slice(o, o + n))
    return tuple(out)


def _chunks_in(refs: ArrayRefs, region: tuple[slice, ...]) -> set[tuple[int, ...]]:
    ranges = [range(r.start // k, -(-r.stop // k)) for r, k in zip(region, refs.array.chunks, strict=True)]
    return set(itertools.product(*ranges))


def _first_chunk(refs: ArrayRefs, region: tuple[slice, ...], eq: np.ndarray, got_shape: tuple[int, ...]) -> tuple[int, ...]:
    full = np.ones(got_shape, dtype=bool)
    full.reshape(-1)[:] = eq.reshape(-1)
    first = np.unravel_index(int(np.flatnonzero(~full)[0]), got_shape)
    return tuple(int((r.start + i) // k) for r, i, k in zip(region, first, refs.array.chunks, strict=True))


class _Native:
    def __init__(self, report: VerifyReport, sources: Sources, origins: Origins):
        self.report, self.sources, self.origins = report, sources, origins

    def one(self, refs: ArrayRefs, url: str, sv: SourceVariable, region: tuple[slice, ...],
            src_region: tuple[slice, ...] = ()) -> bool:
        """Compare the repository's ``region`` with the source's ``src_region`` (``()``: all); True when equal."""
        var, name, report = refs.path, display_name(url), self.report
        got = np.asarray(refs.array[region] if region else refs.array[()])
        want = sv.read(src_region)
        diffs = attr_drift(repo_attrs(refs.array), sv.attrs)
        value_diffs = [d for d in diffs if d.value_differs]
        how = "raw"
        if value_diffs:
            got, want, how = decode(got, repo_attrs(refs.array), var), decode(want, sv.attrs, var), "decoded"
        g, w = squeezed(got), squeezed(want)
        try:
            eq = equal_mask(g, w, sv.rtol)
        except (ValueError, TypeError) as exc:
            report.mismatch_counts[var] = report.mismatch_counts.get(var, 0) + 1
            report.mismatches.append(Mismatch(var, (), url, int(got.size), f"{var} (stored in the repository): "
                                              f"{exc} in {name} -> re-virtualize {name}"))
            return False
        if eq.all():
            return True
        bad = int((~eq).sum())
        units = [d for d in value_diffs if d.name in ("units", "calendar")]
        if how == "decoded" and units and any(" since " in str(d.repo or d.source) for d in units):
            if not any(f.kind == "decoding" and f.variable == var for f in report.findings):
                report.error("decoding", f"{var}: the repository stores it with {describe(units)} (e.g. {name}: "
                             f"{bad} of {eq.size} decoded values differ) -> re-virtualize with '{var}' loaded and decoded "
                             "(decode_times=None, the default)", url, var)
            return False
        chunk = _first_chunk(refs, region, eq, got.shape) if region else ()
        idx = int(np.flatnonzero(~eq)[0])
        report.mismatch_counts[var] = report.mismatch_counts.get(var, 0) + 1
        report.mismatches.append(Mismatch(var, chunk, url, bad, (
            f"{var} chunk {chunk} (stored in the repository): {bad} of {eq.size} {how} values differ from {name} "
            f"(first: repo {g.flat[idx]} vs source {w.flat[idx]}) -> rewrite '{var}' from the sources "
            "(re-virtualize with it loaded)")))
        return False


def _supplied(refs: ArrayRefs, origins: Origins) -> bool:
    """A 1-D coordinate of a dimension the combine added (no source has it): its values came from the caller."""
    dims = refs.dims()
    return refs.array.ndim == 1 and dims == (refs.path.rsplit("/", 1)[-1],) and dims[0] in origins.added


def compare_native(report: VerifyReport, index: ReferenceIndex, sources: Sources, origins: Origins,
                   files: list[str], *, sample: int | None, rng: random.Random, skip_vars: set[str],
                   others: Sequence[str] = ()) -> set[str]:
    """Compare each natively stored array with every referenced file holding it (``sample`` files if set).

    ``others``: listed files nothing references (placed by their coordinate values), compared only
    where no referenced file covers the array. Returns the files some stored array was compared with.
    """
    native = _Native(report, sources, origins)
    used: set[str] = set()
    for var, refs in sorted(index.native().items()):
        total = len(_chunks_in(refs, tuple(slice(0, n) for n in refs.array.shape)))
        if var in skip_vars:
            report.skip(var, "skipped on request", total, requested=True)
            continue
        chosen = rng.sample(files, sample) if sample is not None and sample < len(files) else files
        done, why, in_source = _one_array(native, refs, index, [*chosen, *others], set(others), used)
        if done:
            report.count(var, len(done), native=True)
        if not in_source and chosen and _supplied(refs, origins):
            report.skip(var, "supplied when writing (coordinate of a new dimension, in no source file)", total,
                        requested=True)
            report.warn("supplied", f"{var}: the coordinate of the new dimension '{var}' is in no source file (its "
                        "values were supplied when writing, e.g. coords=...): not compared", None, var)
        elif total > len(done) and sample is None:
            if not chosen:
                why = "no source file is referenced (nothing virtual) -> pass the source URLs"
            report.skip(var, why or "in no referenced file (pass the source files to compare them)", total - len(done))
    return used


def _one_array(native: _Native, refs: ArrayRefs, index: ReferenceIndex, urls: list[str], others: set[str],
               used: set[str]) -> tuple[set[tuple[int, ...]], str | None, bool]:
    """Compare one stored array with each file's block: (chunks covered, why some file was not placed, in a source)."""
    done: set[tuple[int, ...]] = set()
    why: str | None = None
    in_source = False
    for url in urls:
        try:
            src, _kind = native.sources.get(url, refs.path)
        except Exception as exc:  # noqa: BLE001 - a referenced file's failure is reported by the virtual comparison
            why = why or f"{display_name(url)} could not be read ({'no reader' if isinstance(exc, NoReader) else type(exc).__name__})"
            continue
        sv = src.variable(refs.path)
        if sv is None:
            continue
        in_source = True
        region = _region(refs, sv, _origin(url, src, refs, native.origins, index))
        if isinstance(region, str):
            why = region
            continue
        if url in others and _chunks_in(refs, region) <= done:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            native.one(refs, url, sv, region)
        done |= _chunks_in(refs, region)
        used.add(url)
    return done, why, in_source


def _decoded(values: np.ndarray, attrs: dict[str, Any], name: str) -> np.ndarray:
    try:
        return decode(values, attrs, name)
    except Exception:  # noqa: BLE001 - undecodable coordinate: compare the stored numbers
        return values


def coordinate_origin(index: ReferenceIndex, src: Any, dim: str) -> int | None:
    """Where a file's ``dim`` coordinate values (decoded) start in the repository's ``dim`` coordinate, if they do.

    Places a file none of whose chunks are virtual (e.g. an odd file of a series stored natively).
    """
    refs = index.arrays.get(dim)
    sv = src.variable(dim)
    if refs is None or sv is None or refs.array.ndim != 1 or len(sv.shape) != 1 or not sv.shape[0]:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = ("decoded coordinate", dim)
        if key not in index.cache:
            index.cache[key] = _decoded(np.asarray(refs.array[...]), repo_attrs(refs.array), dim)
        whole = index.cache[key]
        want = _decoded(sv.read(()), sv.attrs, dim)
    n = len(want)
    for k in np.flatnonzero(whole[: len(whole) - n + 1] == want[0]) if len(whole) >= n else ():
        try:
            if equal_mask(whole[k:k + n], want).all():
                return int(k)
        except (ValueError, TypeError):
            return None
    return None


def _origin(url: str, src: Any, refs: ArrayRefs, origins: Origins, index: ReferenceIndex) -> dict[str, int]:
    """The file's start per dimension: from its virtual chunks, else from its coordinate values."""
    origin = dict(origins.by_file.get(url, {}))
    for d in refs.dims():
        if d not in origin:
            found = coordinate_origin(index, src, d)
            if found is not None:
                origin[d] = found
    return origin


def _blocks(refs: ArrayRefs, sources: Sources, origins: Origins, files: list[str],
            index: ReferenceIndex) -> list[tuple[str, SourceVariable, tuple[slice, ...]]]:
    """``(file, source variable, its block in the repository array)`` of every file that places this variable.

    A dimension no virtual chunk of the file places is placed by its coordinate values.
    """
    out = []
    for url in files:
        try:
            src, _kind = sources.get(url, refs.path)
        except Exception:  # noqa: BLE001 - reported by the virtual comparison
            continue
        sv = src.variable(refs.path)
        if sv is None:
            continue
        region = _region(refs, sv, _origin(url, src, refs, origins, index))
        if not isinstance(region, str):
            out.append((url, sv, region))
    return out


def _inside(chunk: tuple[slice, ...], block: tuple[slice, ...]) -> bool:
    return all(b.start <= c.start and c.stop <= b.stop for c, b in zip(chunk, block, strict=True))


def compare_mixed(report: VerifyReport, index: ReferenceIndex, sources: Sources, origins: Origins, files: list[str],
                  plan: dict[str, list[int]]) -> set[str]:
    """Chunks stored in the repository inside a mostly virtual array: each compared with the file whose block holds it.

    ``plan``: array path -> rows (stored chunks) to compare. A file's block is placed by its
    virtual chunks (of any variable, :class:`Origins`), else by its coordinate values; e.g.
    Kerchunk references with inlined chunks, or the odd files of a series stored natively while
    the rest stay virtual (pass them in ``files``). A chunk that no file's block holds is counted
    as skipped. Returns the files compared.
    """
    native = _Native(report, sources, origins)
    used: set[str] = set()
    for var, rows in sorted(plan.items()):
        refs = index.arrays[var]
        if not rows:
            continue
        blocks = _blocks(refs, sources, origins, files, index)
        extra = len(refs.dims())
        unplaced = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in rows:
                region = refs.region(row)
                found = next(((u, sv, b) for u, sv, b in blocks if _inside(region, b)), None)
                if found is None:
                    unplaced += 1
                    continue
                url, sv, block = found
                lead = extra - len(sv.shape)
                src_region = tuple(slice(c.start - b.start, c.stop - b.start)
                                   for c, b in zip(region[lead:], block[lead:], strict=True))
                native.one(refs, url, sv, region, src_region)
                report.count(var, native=True)
                used.add(url)
        if unplaced:
            report.skip(var, "stored in the repository, in no referenced file (pass the source files to "
                        "compare them)", unplaced)
    return used
