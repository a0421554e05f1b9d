"""Layout of a set of files: the concat dimension(s) and the shape of a nested grid of files.

* :func:`flatten` / :func:`nest` move between a nested grid of items (``[[m0t0, m0t1], [m1t0, m1t1]]``)
  and a flat list in row-major order;
* :func:`grid_shape` validates a grid (a ragged list is refused, naming the position);
* :func:`infer_concat_dim` resolves ``concat_dim`` (``None`` = infer it) into a :class:`ConcatChoice`:
  one file needs no concat dimension; several files are concatenated along the dimension whose
  coordinate values differ between files, else along the record (unlimited) dimension, else along
  the one dimension whose length differs; anything else is a :class:`LayoutError` listing the
  candidates.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import xarray as xr

__all__ = ["ConcatChoice", "LayoutError", "flatten", "nest", "grid_shape", "grid_positions", "infer_concat_dim"]


class LayoutError(ValueError):
    """The files' layout cannot be resolved (no/ambiguous concat dimension, ragged grid); one line with the fix."""


@dataclass
class ConcatChoice:
    """The resolved concat dimension(s).

    ``dims`` is empty for one file (nothing to concatenate); one name for a flat list of files; one
    name per grid level for a nested grid. ``reason`` is the one line said in reports. ``new_dims``
    are the dims of ``dims`` that are not dimensions of the files (e.g. ``"member"``).
    """

    dims: list[str]
    reason: str
    new_dims: list[str] = field(default_factory=list)

    @property
    def value(self) -> str | list[str] | None:
        """``None`` (no concat), the single name, or the list of names (a grid): what ``concat_dim=`` takes."""
        if not self.dims:
            return None
        return self.dims[0] if len(self.dims) == 1 else list(self.dims)


def _is_leaf(item: Any) -> bool:
    return not isinstance(item, (list, tuple))


def flatten(nested: Any) -> list[Any]:
    """Flatten a nested list of URLs/paths/ParsedFiles/datasets (a combine grid) into a flat list (row-major)."""
    if _is_leaf(nested):
        return [nested]
    out: list[Any] = []
    for item in nested:
        out.extend(flatten(item))
    return out


def nest(flat: Sequence[Any], like: Any) -> Any:
    """``flat`` (row-major, as :func:`flatten` returns) put back into the nesting shape of ``like``."""
    items = iter(flat)

    def build(node: Any) -> Any:
        if _is_leaf(node):
            try:
                return next(items)
            except StopIteration:
                raise LayoutError(f"nest: {len(flat)} items are fewer than the grid holds -> pass one item per file") from None
        return [build(child) for child in node]

    out = build(like)
    if next(items, None) is not None:
        raise LayoutError(f"nest: {len(flat)} items are more than the grid holds -> pass one item per file")
    return out


def grid_shape(nested: Any) -> tuple[int, ...]:
    """Shape of a rectangular nested grid; ``()`` for a single item, ``(n,)`` for a flat list.

    Raises
    ------
    LayoutError
        The grid is ragged or mixes items and lists; the message names the first offending position.
    """
    if _is_leaf(nested):
        return ()

    def shape_of(node: Any, pos: tuple[int, ...]) -> tuple[int, ...]:
        if _is_leaf(node):
            return ()
        if len(node) == 0:
            where = f" at position {list(pos)}" if pos else ""
            raise LayoutError(f"empty list in the grid of files{where} -> every row needs at least one file")
        shapes = [shape_of(child, (*pos, i)) for i, child in enumerate(node)]
        for i, s in enumerate(shapes):
            if s != shapes[0]:
                got = "a file" if s == () else f"{s[0]} item(s)"
                want = "a file" if shapes[0] == () else f"{shapes[0][0]} item(s)"
                raise LayoutError(
                    f"ragged grid of files: position {list((*pos, i))} has {got} where position "
                    f"{list((*pos, 0))} has {want} (shape {shapes[0]} vs {s}) -> give every row the same number of files"
                )
        return (len(node), *shapes[0])

    return shape_of(nested, ())


def grid_positions(shape: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Row-major grid positions of ``shape`` (the order of :func:`flatten`)."""
    yield from np.ndindex(*shape) if shape else iter([()])


def _file_dims(datasets: Sequence[xr.Dataset]) -> list[str]:
    dims: list[str] = []
    for ds in datasets:
        for d in ds.dims:
            if str(d) not in dims:
                dims.append(str(d))
    return dims


def _is_virtual(var: xr.Variable) -> bool:
    return type(var.data).__name__ == "ManifestArray"


def _coordinate_values(datasets: Sequence[xr.Dataset], dim: str) -> list[np.ndarray] | None:
    """The loaded 1-D coordinate ``dim`` of every file; None when one file has none (or it is virtual)."""
    values = []
    for ds in datasets:
        coord = ds.variables.get(dim)
        if coord is None or coord.dims != (dim,) or _is_virtual(coord):
            return None
        values.append(np.asarray(coord.values))
    return values


def _n_distinct(values: list[np.ndarray]) -> int:
    return len({(v.dtype.str, v.shape, v.tobytes()) for v in values})


def _disjoint(values: list[np.ndarray]) -> bool:
    """True when the files' value ranges do not overlap (how a concat dimension's pieces look)."""
    try:
        ranges = sorted((np.min(v), np.max(v)) for v in values if v.size)
        return all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(ranges))
    except (TypeError, ValueError):  # values that do not compare
        return False


def _by_values(datasets: Sequence[xr.Dataset], dims: list[str]) -> list[str]:
    """The dims whose coordinate values differ the most between files: the most distinct value sets, then
    disjoint ranges (a shifted grid in one odd file also 'differs', but less, and overlapping)."""
    scored = []
    for d in dims:
        values = _coordinate_values(datasets, d)
        if values is None:
            continue
        distinct = _n_distinct(values)
        if distinct > 1:
            scored.append(((distinct, _disjoint(values)), d))
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [d for score, d in scored if score == best]


def _unlimited(ds: xr.Dataset) -> set[str]:
    dims = ds.encoding.get("unlimited_dims") or ()
    return {str(dims)} if isinstance(dims, str) else {str(d) for d in dims}


def _explicit(dims: list[str], file_dims: list[str], depth: int) -> ConcatChoice:
    if depth > 1 and len(dims) != depth:
        raise LayoutError(
            f"the grid of files has {depth} levels but concat_dim has {len(dims)} name(s) ({dims}) -> pass one "
            f"concat_dim per level, outermost first (e.g. concat_dim=['member', 'time'])"
        )
    if depth <= 1 and len(dims) > 1:
        raise LayoutError(
            f"concat_dim={dims} needs a nested grid of files ({len(dims)} levels) but the files are a flat list -> "
            "nest the files (a list per outer index) or pass one concat_dim"
        )
    new = [d for d in dims if d not in file_dims]
    shown = dims[0] if len(dims) == 1 else dims
    reason = f"concat_dim={shown!r} as given"
    if new:
        reason += f" ({', '.join(repr(d) for d in new)}: new dimension{'s' if len(new) > 1 else ''}, not in the files)"
    return ConcatChoice(list(dims), reason, new)


def infer_concat_dim(
    datasets: Sequence[xr.Dataset] | Any, concat_dim: str | Sequence[str] | None = None
) -> ConcatChoice:
    """Resolve ``concat_dim`` for ``datasets`` (a flat list, or a nested grid of datasets).

    Parameters
    ----------
    datasets
        Parsed (virtual) datasets; a nested list for an N-D grid.
    concat_dim
        ``None`` infers it; a name or a list of names (one per grid level) is kept as given.

    Returns
    -------
    ConcatChoice
        ``dims`` (empty for one file), the one-line ``reason`` and the ``new_dims``.

    Raises
    ------
    LayoutError
        No dimension (or more than one) qualifies, or the grid and ``concat_dim`` disagree; the
        message lists the candidates and says ``pass concat_dim=... / --concat-dim``.
    """
    shape = grid_shape(datasets) if isinstance(datasets, (list, tuple)) and len(datasets) else ()
    flat = flatten(datasets)
    file_dims = _file_dims(flat)
    depth = len(shape)
    if concat_dim is not None:
        dims = [concat_dim] if isinstance(concat_dim, (str, os.PathLike)) else [str(d) for d in concat_dim]
        return _explicit([str(d) for d in dims], file_dims, depth)
    if len(flat) <= 1:
        return ConcatChoice([], "one file: no concat dimension" if flat else "no files: no concat dimension")
    if depth > 1:
        raise LayoutError(
            f"a {'x'.join(map(str, shape))} grid of files needs one concat dimension per level -> pass "
            f"concat_dim=[...] / --concat-dim once per level, outermost first (dimensions of the files: {', '.join(file_dims)})"
        )
    shared = [d for d in file_dims if all(d in ds.dims for ds in flat)]
    tied = _by_values(flat, shared)
    if len(tied) == 1:
        return ConcatChoice(tied, f"{tied[0]}: its values differ between files")
    if tied:
        raise LayoutError(
            f"the coordinate values of several dimensions differ between the files ({', '.join(tied)}): cannot "
            f"tell which one to concatenate along -> pass concat_dim=... / --concat-dim (one of: {', '.join(tied)}), "
            "or a nested grid with one concat_dim per level"
        )
    unlimited = [d for d in shared if all(d in _unlimited(ds) for ds in flat)]
    if len(unlimited) == 1:
        return ConcatChoice(unlimited, f"{unlimited[0]}: the record (unlimited) dimension of the files")
    sized = [d for d in shared if len({int(ds.sizes[d]) for ds in flat}) > 1]
    if len(sized) == 1:
        return ConcatChoice(sized, f"{sized[0]}: its length differs between files")
    candidates = unlimited or sized or shared
    listed = ", ".join(candidates) if candidates else "none"
    raise LayoutError(
        f"cannot infer the concat dimension of {len(flat)} files: no dimension's coordinate values differ between "
        f"them (candidates: {listed}) -> pass concat_dim=... / --concat-dim (one of the candidates, or a new name "
        "such as 'member' to stack the files along a new dimension)"
    )
