"""Grouping the checked files into consistent sets, and the per-variable summary (values most files share).

Two files are in the same group when everything a virtual concatenation depends on agrees: which
variables exist, their shape along the non-concat dims, dtype/chunks/codecs/fill value/packing of
virtual variables, loaded coordinate values along the non-concat dims, and CF time units/calendar -
the last only when they matter (time virtual or not decoded: files whose units differ combine
correctly while time is loaded and decoded, xarray re-encodes on write).
"""

from __future__ import annotations

from typing import Any

from vzskill.descriptions import describe_codecs, hashable
from vzskill.rules import Context, majority, time_is_safe

__all__ = ["consistent_groups", "summarize"]

VIRTUAL_PROPS = ("dtype", "chunks", "codec_key", "fill_value", "scale_offset")


def _signature(ctx: Context, i: int) -> tuple:
    info = ctx.infos[i]
    sig: list[Any] = []
    for var in ctx.all_vars:
        if var not in info:
            sig.append((var, "absent"))
            continue
        v = info[var]
        sig.append((var, "shape", hashable(v.get("shape_other"))))
        if v["virtual"]:
            sig.extend((var, p, hashable(v.get(p))) for p in VIRTUAL_PROPS)
        if "values_key" in v:
            sig.append((var, "values", v["values_key"]))
        if "time_units" in v:
            timed = [j for j in ctx.present(var) if "time_units" in ctx.infos[j][var]]
            if not time_is_safe(ctx, var, timed):
                sig.append((var, "time", v["time_units"], v["calendar"]))
    return tuple(sig)


def consistent_groups(ctx: Context) -> list[list[str]]:
    """URLs of the files that parsed, grouped by identical signature; largest group first, ties in input order."""
    by_sig: dict[tuple, list[str]] = {}
    for i, p in enumerate(ctx.good):
        by_sig.setdefault(_signature(ctx, i), []).append(p.url)
    return sorted(by_sig.values(), key=lambda g: -len(g))


def summarize(ctx: Context) -> dict[str, dict[str, Any]]:
    """Per variable: dims, virtual/loaded, and the dtype/chunks/codecs/fill value/time units most files share."""
    out: dict[str, dict[str, Any]] = {}
    for var in ctx.all_vars:
        present = ctx.present(var)
        first = ctx.infos[present[0]][var]
        summary: dict[str, Any] = {"dims": first["dims"], "virtual": first["virtual"], "dtype": first.get("dtype")}
        virtual_in = [i for i in present if ctx.infos[i][var]["virtual"]] or present
        for prop in ("dtype", "chunks", "codec_key", "fill_value", "scale_offset"):
            among = [i for i in virtual_in if prop in ctx.infos[i][var]]
            if among:
                summary[prop] = majority(ctx, var, prop, among)[0]
        if "codec_key" in summary:
            summary["codecs"] = describe_codecs(summary.pop("codec_key"))
        if summary.get("scale_offset", 0) is None:
            del summary["scale_offset"]
        timed = [i for i in present if "time_units" in ctx.infos[i][var]]
        if timed:
            summary["time_units"] = majority(ctx, var, "time_units", timed)[0]
            summary["calendar"] = majority(ctx, var, "calendar", timed)[0]
        if len(present) > 1:
            summary["shape_other"] = majority(ctx, var, "shape_other", present)[0]
        out[var] = summary
    return out
