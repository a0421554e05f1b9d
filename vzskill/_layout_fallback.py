"""Stand-in for helper B's :mod:`vzskill.layout` (interface 1) until it lands; delete afterwards."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


class LayoutError(ValueError):
    """The concat dimension cannot be inferred."""


@dataclass
class ConcatChoice:
    dims: list[str]
    reason: str
    new_dims: list[str] = field(default_factory=list)


def flatten(nested: Any) -> list[Any]:
    if not isinstance(nested, (list, tuple)):
        return [nested]
    out: list[Any] = []
    for item in nested:
        out.extend(flatten(item))
    return out


def nest(flat: list[Any], like: Any) -> Any:
    it = iter(flat)

    def rebuild(shape: Any) -> Any:
        if isinstance(shape, (list, tuple)) and not isinstance(shape, (str, os.PathLike)):
            return [rebuild(s) for s in shape]
        return next(it)

    return rebuild(like)


def _differs(datasets: list[Any], dim: str) -> bool:
    if not all(dim in ds.coords for ds in datasets):
        return False
    first = np.asarray(datasets[0][dim].values)
    return any(np.asarray(ds[dim].values).shape != first.shape or not np.array_equal(np.asarray(ds[dim].values), first)
               for ds in datasets[1:])


def infer_concat_dim(datasets: Any, concat_dim: str | Sequence[str] | None = None) -> ConcatChoice:
    flat = flatten(datasets)
    file_dims = set().union(*(set(map(str, ds.dims)) for ds in flat)) if flat else set()
    if concat_dim is not None:
        dims = [concat_dim] if isinstance(concat_dim, str) else [str(d) for d in concat_dim]
        return ConcatChoice(dims, f"{', '.join(dims)}: given", [d for d in dims if d not in file_dims])
    if len(flat) <= 1:
        return ConcatChoice([], "one file: no concat dimension")
    common = [str(d) for d in flat[0].dims if all(d in ds.dims for ds in flat)]
    differing = [d for d in common if _differs(flat, d)]
    if len(differing) == 1:
        return ConcatChoice(differing, f"{differing[0]}: its values differ between files")
    unlimited = sorted({str(d) for ds in flat for d in (ds.encoding.get("unlimited_dims") or ())} & set(common))
    if len(unlimited) == 1 and not differing:
        return ConcatChoice(unlimited, f"{unlimited[0]}: the files' unlimited (record) dimension")
    candidates = differing or common
    raise LayoutError(
        f"cannot infer the concat dimension (candidates: {', '.join(candidates) or 'none'}) -> "
        "pass concat_dim=... / --concat-dim"
    )
