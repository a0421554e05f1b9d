"""Virtual datasets -> one dataset: the concat layout, the combine, and the global attributes.

* the concat dimension(s) come from :func:`vzskill.layout.infer_concat_dim` (one file: none;
  several: the dimension whose values differ, or the record dimension; a grid: the given dims);
* ``combine='nested'`` re-nests the parsed datasets like the input URLs (:func:`vzskill.layout.nest`)
  and calls ``xr.combine_nested`` (N-D grids: ``concat_dim=["member", "time"]``);
* global attributes follow ``combine_attrs="drop_conflicts"`` exactly (:func:`merge_attrs`), also
  across appends: the stored attributes take part like one more file.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping, Sequence, cast

import numpy as np
import xarray as xr

from vzskill.outcome import VirtualizeError

from vzskill.layout import ConcatChoice, LayoutError, flatten, infer_concat_dim, nest

__all__ = ["ConcatChoice", "LayoutError", "flatten", "nest", "infer_concat_dim", "choose", "combine", "merge_attrs"]

_COMBINE_KW: dict[str, Any] = dict(data_vars="minimal", coords="minimal", compat="override", join="exact",
                                   combine_attrs="drop_conflicts")


def is_nested(urls: Any) -> bool:
    """True when ``urls`` is a grid (a list containing lists)."""
    return isinstance(urls, (list, tuple)) and any(isinstance(u, (list, tuple)) for u in urls)


def choose(datasets: Any, concat_dim: str | Sequence[str] | None, *, grid: bool) -> ConcatChoice:
    """The concat dimension(s) for ``datasets`` (flat or nested like the URLs).

    A given name close to a dimension of the files (``'Time'`` for ``time``) is refused as a typo;
    other new names stack the files along a new dimension (``ConcatChoice.new_dims``).

    Raises
    ------
    VirtualizeError
        Nothing to infer from, several candidates, or a misspelled dimension (one line, exit code 2).
    """
    try:
        choice = infer_concat_dim(datasets, concat_dim)
    except LayoutError as exc:
        raise VirtualizeError("nothing written: " + str(exc).splitlines()[0]) from exc
    if isinstance(concat_dim, str) and not grid and choice.new_dims:
        first = flatten(datasets)[0]
        dims = [str(d) for d in first.dims]
        close = difflib.get_close_matches(concat_dim, dims, n=1, cutoff=0.6) or [d for d in dims if d.lower() == concat_dim.lower()]
        if close:
            raise VirtualizeError(
                f"nothing written: concat_dim {concat_dim!r} is not a dimension of the files (dims: {', '.join(dims)}) -> did you mean "
                f"{close[0]!r}? (case matters: 'time' is not 'Time'); a new name stacks the files along a new dimension"
            )
    return choice


def combine(
    datasets: Any,
    choice: ConcatChoice,
    how: str = "nested",
    coords: Mapping[str, Sequence[Any]] | None = None,
) -> xr.Dataset:
    """Combine parsed virtual datasets (flat, or nested like a grid) into one.

    ``coords`` gives values for new grid dimensions (``{"member": ["a", "b"]}``).
    """
    flat = flatten(datasets)
    if how == "by_coords":
        out = flat[0] if len(flat) == 1 else cast(xr.Dataset, xr.combine_by_coords(flat, **_COMBINE_KW))
    elif how == "nested":
        if not choice.dims:
            if len(flat) > 1:
                raise VirtualizeError("combine='nested' needs a concat dimension for several files -> pass concat_dim")
            out = flat[0]
        elif len(flat) == 1 and not choice.new_dims:
            out = flat[0]
        else:
            nested = datasets if len(choice.dims) > 1 or is_nested(datasets) else flat
            kw = dict(_COMBINE_KW)
            if choice.new_dims:  # xarray refuses data_vars='minimal' along a new dimension: every data var gets it
                kw["data_vars"] = "all"
            out = xr.combine_nested(nested, concat_dim=list(choice.dims), **kw)
    else:
        raise VirtualizeError(f"unknown combine {how!r} -> 'nested' or 'by_coords'")
    for dim, values in (coords or {}).items():
        if dim not in out.dims or out.sizes[dim] != len(values):
            raise VirtualizeError(
                f"grid coords {dim!r}: {len(values)} value(s) for dimension of size {out.sizes.get(dim, 0)} -> "
                "give one value per position of the grid"
            )
        out = out.assign_coords({dim: (dim, np.asarray(list(values)))})
    return out


def _same(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        return bool(a == b) or (a != a and b != b)  # NaN == NaN for attributes
    except Exception:  # noqa: BLE001 - incomparable values are a conflict
        return False


def merge_attrs(
    attrs: Iterable[Mapping[str, Any]], dropped_before: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """``combine_attrs="drop_conflicts"``: keep attributes equal wherever present, drop conflicting ones.

    Parameters
    ----------
    attrs
        Attribute dicts in order (stored data first when appending).
    dropped_before
        Names dropped by earlier writes: they stay dropped (an appended file carrying ``title``
        again must not make one file's title the whole dataset's).

    Returns
    -------
    (merged, dropped)
        The merged attributes and the sorted names dropped (this write's conflicts + ``dropped_before``).
    """
    merged: dict[str, Any] = {}
    dropped = set(map(str, dropped_before))
    for one in attrs:
        for key, value in one.items():
            if key in dropped:
                continue
            if key in merged and not _same(merged[key], value):
                del merged[key]
                dropped.add(key)
            elif key not in merged:
                merged[key] = value
    return merged, sorted(dropped)
