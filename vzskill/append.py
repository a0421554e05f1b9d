"""Appends that land in any order: each new file is placed against the stored axis, inside the session.

* :func:`place` compares every new file's ``concat_dim`` values with the stored ones: a file whose
  values (and referenced source) are already stored is *skipped*; a file overlapping stored values
  otherwise is *refused* (one line); the others go after the stored tail or, when their values fall
  into a gap before it, are *inserted*;
* :func:`reorder` runs after the (upstream) ``append_dim`` write in the same session: it sorts every
  array along the dimension by the coordinate - virtual arrays by moving their chunk references
  (``Session.reindex_array``, no data read or written), loaded arrays (the coordinate itself, small)
  by rewriting their values - and :func:`assert_increasing` is the last guard before the commit.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr

from vzskill.outcome import VirtualizeError

__all__ = ["Placement", "axis_values", "place", "reorder", "assert_increasing", "assert_compatible", "stored_sources",
           "file_sources"]

VIRTUAL = 2  # Store.array_chunk_iterator kinds: native=1, virtual=2, inline=3


@dataclass
class Placement:
    """Where the new files go: ``order`` (indexes to write, by coordinate), the skipped and inserted URLs."""

    order: list[int]
    skipped: list[str] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)


def axis_values(ds: xr.Dataset, dim: str) -> np.ndarray | None:
    """The loaded 1-D ``dim`` coordinate of ``ds`` when its values can be ordered (numbers, datetimes), else None."""
    from virtualizarr.manifests import ManifestArray

    if dim not in ds.variables or isinstance(ds[dim].variable.data, ManifestArray):
        return None
    try:
        values = np.asarray(ds[dim].values)
    except Exception:  # noqa: BLE001 - an unreadable coordinate cannot be ordered
        return None
    if values.ndim != 1 or values.dtype.kind not in "iufM" or not len(values):
        return None
    return values


def _fmt(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="auto"))
    return str(value.item() if hasattr(value, "item") else value)


def _span(values: np.ndarray) -> str:
    lo, hi = values.min(), values.max()
    return _fmt(lo) if lo == hi else f"{_fmt(lo)}..{_fmt(hi)}"


def _run(coro_fn: Callable[[], Any]) -> Any:
    """Run an async function to completion from sync code, also inside a running event loop (Jupyter)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _chunk_refs(store: Any, path: str) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(coords (n, ndim), kinds (n,), paths, offsets, lengths) of every stored chunk of the array at ``path``."""

    async def collect() -> list[Any]:
        batches: list[Any] = []
        async for batch in store.array_chunk_iterator("/" + path.lstrip("/")):
            batches.append(batch)
        return batches

    batches = _run(collect)
    if not batches:
        empty = np.zeros(0, dtype="uint64")
        return np.zeros((0, 0), dtype="uint32"), np.zeros(0, dtype="uint8"), [], empty, empty
    paths = [p for b in batches for p in b[2]]
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]), paths,
            np.concatenate([b[3] for b in batches]), np.concatenate([b[4] for b in batches]))


def _virtual_var(ds: xr.Dataset, dim: str) -> str | None:
    """A data variable along ``dim`` whose data are references (the new files' side)."""
    from virtualizarr.manifests import ManifestArray

    for name, var in ds.data_vars.items():
        if dim in var.dims and isinstance(var.data, ManifestArray):
            return str(name)
    return None


Ref = tuple[str, int, int]  # (path, offset, length) of one chunk reference


def file_sources(ds: xr.Dataset, dim: str, name: str | None = None) -> tuple[str | None, set[Ref]]:
    """(variable, its chunk references) for a new file (``name``, else its first virtual variable along ``dim``);
    (None, empty) when that variable is not virtual."""
    from virtualizarr.manifests import ManifestArray

    if name is None:
        name = _virtual_var(ds, dim)
    if name is None or name not in ds.variables or not isinstance(ds[name].data, ManifestArray):
        return None, set()
    entries = ds[name].data.manifest.dict().values()
    return name, {(str(e["path"]), int(e["offset"]), int(e["length"])) for e in entries}


def stored_sources(store: Any, name: str, dim: str) -> Callable[[int, int], set[Ref]] | None:
    """For the stored array ``name``: positions [start, stop) along ``dim`` -> the chunk references there."""
    import zarr

    try:
        arr = zarr.open_array(store, path=name, mode="r")
    except Exception:  # noqa: BLE001 - not stored: no URL comparison possible
        return None
    dims = _dims(arr)
    if dim not in dims:
        return None
    axis, size = dims.index(dim), arr.chunks[dims.index(dim)]
    coords, kinds, paths, offsets, lengths = _chunk_refs(store, name)
    if not len(kinds) or not (kinds == VIRTUAL).all():
        return None
    along = coords[:, axis].astype(int)

    def at(start: int, stop: int) -> set[Ref]:
        lo, hi = start // size, (stop - 1) // size
        return {(paths[i], int(offsets[i]), int(lengths[i])) for i in np.nonzero((along >= lo) & (along <= hi))[0]}

    return at


def _dims(arr: Any) -> list[str]:
    return [str(d) for d in (getattr(arr.metadata, "dimension_names", None) or [])]


def _comparable(stored: np.ndarray, new: Sequence[np.ndarray | None]) -> bool:
    if any(v is None for v in new):
        return False
    kinds = {stored.dtype.kind == "M", *(v.dtype.kind == "M" for v in new if v is not None)}
    return len(kinds) == 1


def place(
    stored: np.ndarray | None,
    new: Sequence[np.ndarray | None],
    urls: Sequence[str],
    dim: str,
    *,
    sources_at: Callable[[int, int], set[Ref] | None] | None = None,
    new_sources: Sequence[set[Ref]] = (),
) -> Placement:
    """Place the new files against the stored ``dim`` values.

    Parameters
    ----------
    stored
        The stored coordinate values (None: not loaded / not orderable -> files go after the tail in order).
    new
        Each new file's coordinate values (same order as ``urls``).
    sources_at, new_sources
        Stored positions -> chunk references (path, offset, length), and each new file's: a file is only
        skipped as already stored when its values and its references (same source, same byte ranges) match.

    Raises
    ------
    VirtualizeError
        A new file overlaps stored values without being the stored file, or two new files overlap.
    """
    from vzskill.sources import display_name

    if stored is None or not len(stored) or not _comparable(stored, new):
        return Placement(list(range(len(urls))))
    values = [v for v in new if v is not None]
    by_start = sorted(range(len(urls)), key=lambda i: values[i].min())
    placement = Placement([])
    tail = stored.max()
    for i in by_start:
        vals, name = values[i], display_name(urls[i])
        hits = np.nonzero((stored >= vals.min()) & (stored <= vals.max()))[0]
        if not len(hits):
            placement.order.append(i)
            if vals.min() < tail:
                placement.inserted.append(urls[i])
            continue
        same = len(hits) == len(vals) and bool((np.diff(hits) == 1).all()) and np.array_equal(stored[hits], vals)
        there = sources_at(int(hits[0]), int(hits[-1]) + 1) if sources_at is not None and same else None
        if same and (there is None or not new_sources or not new_sources[i] or there == new_sources[i]):
            placement.skipped.append(urls[i])
            continue
        if same:
            stored_from = sorted({ref[0] for ref in there or ()})
            if stored_from == sorted({ref[0] for ref in new_sources[i]}):  # same file, other byte ranges: rewritten
                raise VirtualizeError(
                    f"{name}: {dim} {_span(vals)} is stored from this file, but the file has changed since (its chunks "
                    f"are elsewhere now), nothing written -> rewrite the series from the current files (or restore it)"
                )
            raise VirtualizeError(
                f"{name}: {dim} {_span(vals)} is already stored from {', '.join(stored_from)}, nothing "
                f"written -> append files whose {dim} is not stored yet (or rewrite the series)"
            )
        raise VirtualizeError(
            f"{name}: {dim} {_span(vals)} overlaps the stored {dim} {_span(stored[hits])} ({len(hits)} stored "
            f"step(s)), nothing written -> append only files whose {dim} is not stored yet (or rewrite the series)"
        )
    kept = placement.order
    for a, b in zip(kept, kept[1:], strict=False):
        if values[b].min() <= values[a].max():
            raise VirtualizeError(
                f"{display_name(urls[a])} and {display_name(urls[b])} overlap in {dim} ({_span(values[a])} and "
                f"{_span(values[b])}), nothing written -> append each time step from one file only"
            )
    return placement


def _codec_text(codecs: Any) -> str:
    parts = []
    for codec in codecs or ():
        spec = codec.to_dict() if hasattr(codec, "to_dict") else {"name": type(codec).__name__}
        name = str(spec.get("name", type(codec).__name__)).removeprefix("numcodecs.")
        config = spec.get("configuration")
        config = config if isinstance(config, dict) else {}
        parts.append(name + (f"({', '.join(f'{k}={v}' for k, v in config.items())})" if config else ""))
    return " + ".join(parts) or "none"


def assert_compatible(store: Any, ds: xr.Dataset, url: str, dim: str) -> None:
    """The new file's virtual arrays are encoded like the stored ones (dtype, chunks, codecs, fill value).

    Raises
    ------
    VirtualizeError
        One line naming the file, the variable and both encodings (the references would be read wrong
        or refused by the concatenation otherwise).
    """
    import zarr
    from virtualizarr.manifests import ManifestArray

    from vzskill.sources import display_name

    for name, var in ds.variables.items():
        if not isinstance(var.data, ManifestArray):
            continue
        try:
            stored = zarr.open_array(store, path=str(name), mode="r").metadata
        except Exception:  # noqa: BLE001 - not stored: the variable check reports it
            continue
        new = var.data.metadata
        dims = [str(d) for d in var.dims]
        other = [i for i, d in enumerate(dims) if d != dim]
        old_shape = tuple(int(stored.shape[i]) for i in other) if len(stored.shape) == len(dims) else tuple(stored.shape)
        checks = [
            (f"shape outside {dim}", old_shape, tuple(int(var.shape[i]) for i in other)),
            ("dtype", str(getattr(stored, "data_type", None)), str(new.data_type)),
            ("chunks", tuple(_dims_chunks(stored)), tuple(new.chunks)),
            ("codecs", _codec_text(getattr(stored, "codecs", ())), _codec_text(new.codecs)),
            ("fill value", repr(getattr(stored, "fill_value", None)), repr(new.fill_value)),
        ]
        for what, old, now in checks:
            if old != now:
                like = "on the same grid" if what.startswith("shape") else f"encoded like the stored ones (same {what})"
                raise VirtualizeError(
                    f"{display_name(url)}: variable {name} has {what} {now} but the stored {name} has {old}, nothing "
                    f"written -> append files {like}, or write them to a new repository"
                )


def _dims_chunks(metadata: Any) -> list[int]:
    grid = getattr(metadata, "chunk_grid", None)
    shape = getattr(grid, "chunk_shape", None)
    return [int(c) for c in (shape if shape is not None else getattr(metadata, "chunks", ()))]


def _chunk_permutation(perm: np.ndarray, size: int, name: str, dim: str) -> np.ndarray | None:
    """The chunk-level permutation realising the element permutation ``perm`` (None if not chunk-aligned)."""
    n = len(perm)
    starts = range(0, n, size)
    order = np.empty(len(starts), dtype=int)
    for j, start in enumerate(starts):
        seg = perm[start:start + size]
        first = int(seg[0])
        if first % size or not np.array_equal(seg, np.arange(first, first + len(seg))):
            return None
        if min(n, first + size) - first != len(seg):
            return None
        order[j] = first // size
    return order


def _move_refs(session: Any, name: str, axis: int, order: np.ndarray) -> None:
    """New chunk position j along ``axis`` takes the references of old chunk ``order[j]``."""
    inverse = np.argsort(order)

    def forward(idx: Any) -> list[int]:
        out = [int(i) for i in idx]
        out[axis] = int(inverse[out[axis]])
        return out

    def backward(idx: Any) -> list[int]:
        out = [int(i) for i in idx]
        out[axis] = int(order[out[axis]])
        return out

    session.reindex_array("/" + name.lstrip("/"), forward, backward)


def reorder(session: Any, dim: str) -> bool:
    """Sort every root array along ``dim`` by the stored ``dim`` coordinate, in ``session`` (uncommitted).

    Returns
    -------
    bool
        True when something moved (files were inserted before the tail).

    Raises
    ------
    VirtualizeError
        A virtual array's chunks along ``dim`` do not line up with the files (cannot move references).
    """
    import zarr

    root = zarr.open_group(session.store, mode="r+")
    coord = root.get(dim)
    if not isinstance(coord, zarr.Array):
        return False
    raw = np.asarray(coord[...])
    perm = np.argsort(raw, kind="stable")
    if np.array_equal(perm, np.arange(len(raw))):
        return False
    for name, arr in root.arrays():
        dims = _dims(arr)
        if dim not in dims:
            continue
        axis = dims.index(dim)
        kinds = _chunk_refs(session.store, name)[1]
        if len(kinds) and (kinds == VIRTUAL).all():
            order = _chunk_permutation(perm, arr.chunks[axis], name, dim)
            if order is None:
                raise VirtualizeError(
                    f"cannot insert files before the stored tail: the chunks of {name!r} along {dim} "
                    f"({arr.chunks[axis]} steps) do not line up with the files, nothing written -> append the files in "
                    f"{dim} order"
                )
            _move_refs(session, name, axis, order)
        else:  # loaded data (the coordinate itself): rewrite its values in the new order
            arr[...] = np.take(np.asarray(arr[...]), perm, axis=axis)
    return True


def assert_increasing(store: Any, dim: str) -> None:
    """The last guard before a commit: the stored ``dim`` coordinate is strictly increasing.

    Raises
    ------
    VirtualizeError
        It is not (the write is not committed).
    """
    import zarr

    coord = zarr.open_group(store, mode="r").get(dim)
    if not isinstance(coord, zarr.Array):
        return
    raw = np.asarray(coord[...])
    if raw.dtype.kind in "iufM" and len(raw) > 1 and not bool((np.diff(raw) > 0).all()):
        bad = int(np.nonzero(np.diff(raw) <= 0)[0][0])
        raise VirtualizeError(
            f"the {dim} axis would not be strictly increasing after this append (position {bad + 1}), nothing "
            f"committed -> keep {dim} loaded (the default loadable_variables) so files are placed by value, or append "
            f"them in {dim} order"
        )
