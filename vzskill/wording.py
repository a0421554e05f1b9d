"""Wording shared by the check rules: counts of files ("the other 2 files use"), shapes, fill values."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plural", "others", "others_use", "have", "fmt_shape", "fmt_scale", "fmt_fill", "first_diff", "short"]


def short(value: Any, width: int = 60) -> str:
    """``repr(value)``, cut to ``width`` characters (``...`` marks the cut)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def plural(n: int, word: str = "file") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def others(n_ref: int, n_total_others: int) -> str:
    """'the other 11 files use' (everyone else agrees) / '9 other files use' (a third value exists)."""
    verb = "uses" if n_ref == 1 else "use"
    if n_ref == n_total_others:
        return f"the other {plural(n_ref)} {verb}" if n_ref != 1 else f"the other file {verb}"
    return f"{plural(n_ref, 'other file')} {verb}"


def others_use(groups: list[tuple[str, list[str]]]) -> str:
    """What the other files use, every one of them counted.

    ``[("units 'days'", ["a.nc", "b.nc"])]`` -> ``"the other 2 files use units 'days'"`` (they all agree);
    ``[("units 'days'", ["a.nc"]), ("units 'hours'", ["c.nc"])]`` ->
    ``"the other 2 files use other values: units 'days' (a.nc), units 'hours' (c.nc)"`` (most common first, at
    most 3 names per value, then ``+N more``).

    Parameters
    ----------
    groups
        (description of a value, names of the other files that have it), most common first.

    Returns
    -------
    str
    """
    n = sum(len(names) for _, names in groups)
    if len(groups) == 1:
        return f"{others(n, n)} {groups[0][0]}"
    listed = ", ".join(f"{what} ({_names(names)})" for what, names in groups)
    return f"the other {plural(n)} use other values: {listed}"


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


def have(n_ref: int, n_total_others: int, what: str) -> str:
    """'the other 2 files have it' / 'the other file lacks it'."""
    verb = what if n_ref != 1 else what.replace("have", "has").replace("lack", "lacks")
    return others(n_ref, n_total_others).rsplit(" ", 1)[0] + " " + verb


def fmt_shape(pairs: tuple) -> str:
    return ", ".join(f"{d}={n}" for d, n in pairs) if pairs else "no other dimensions"


def fmt_scale(v: Any) -> str:
    if v is None:
        return "no scale_factor/add_offset"
    s, o = v
    return f"scale_factor={s}, add_offset={o}"


def fmt_fill(v: Any) -> str:
    return "no fill value" if v is None else f"fill value {v}"


def first_diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"{a.size} values vs {b.size}"
    idx = np.flatnonzero(a != b)
    if idx.size == 0:
        return "dtype differs"
    i = int(idx[0])
    return f"first difference at index {i}: {a[i]} vs {b[i]}"

