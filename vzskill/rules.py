"""The check rules: each one a function ``rule(ctx) -> list[Finding]`` over the per-file descriptions.

:data:`RULES` is the table :func:`vzskill.check` runs, in order. A :class:`Context` carries the
parsed files, their descriptions (:func:`vzskill.descriptions.describe_file`), the grid layout and
the combine options; rules only read it. Messages are one line: ``name: what -> fix``; the odd file
(the minority) is the one named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from vzskill.descriptions import compact_variables, describe_codecs, hashable, is_virtual, nccopy_hint, scalar
from vzskill.findings import Finding
from vzskill.parse import ParsedFile
from vzskill.sources import SourceError, parse_sources
from vzskill.wording import first_diff, fmt_fill, fmt_scale, fmt_shape, have, others, others_use, short

__all__ = ["Context", "RULES", "Rule", "time_is_safe"]


@dataclass
class Context:
    """What the rules read: the files that parsed (``good``), their descriptions and the layout."""

    parsed: list[ParsedFile]
    good: list[ParsedFile]
    names: list[str]  # display names of ``good``
    infos: list[dict[str, dict[str, Any]]]  # describe_file() of each good file
    file_dims: list[str]
    concat_dims: list[str]
    positions: list[tuple[int, ...]]  # grid position of each good file
    shape: tuple[int, ...]  # the grid's shape ((n,) for a flat list)
    combine: str = "nested"
    coords: Any = None
    data_vars: Any = None
    registry: Any = None
    access: Any = None
    all_vars: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for info in self.infos:
            for v in info:
                if v not in self.all_vars:
                    self.all_vars.append(v)

    @property
    def n(self) -> int:
        return len(self.good)

    def present(self, var: str) -> list[int]:
        return [i for i in range(self.n) if var in self.infos[i]]


Rule = Callable[[Context], "list[Finding]"]


def time_is_safe(ctx: Context, var: str, timed: list[int]) -> bool:
    """Differing CF time units are safe while ``var`` is loaded and decoded in every file (xarray re-encodes)."""
    return not any(ctx.infos[i][var]["virtual"] or not ctx.infos[i][var]["time_decoded"] for i in timed)


def unreadable(ctx: Context) -> list[Finding]:
    """Files that could not be parsed (the parse's own one-line error)."""
    return [
        Finding("error", p.url, p.variable, "unreadable", p.error or f"{p.name}: not parsed", p.fix or "")
        for p in ctx.parsed if not p.ok
    ]


def sources(ctx: Context) -> list[Finding]:
    """Local sources must share a directory below '/' (icechunk container prefixes need a path)."""
    try:
        if ctx.good:
            parse_sources([p.url for p in ctx.good])
    except SourceError as exc:
        msg = str(exc)
        return [Finding("error", None, None, "sources", msg, msg.split(" -> ", 1)[-1])]
    return []


def compact_storage(ctx: Context) -> list[Finding]:
    """HDF5 compact storage: parsed "fine" with no chunk to reference -> would read back as fill values."""
    findings = []
    for i, p in enumerate(ctx.good):
        empty = sorted(set(p.no_refs) | {v for v, info in ctx.infos[i].items() if info.get("no_refs")})
        if not empty or p.kind != "hdf5":
            continue
        try:
            compact = compact_variables(p.url, empty, ctx.registry)
        except Exception:  # noqa: BLE001 - cannot look: the parse already succeeded, say nothing
            compact = []
        for v in compact:
            fix = (
                f"drop it (HDFParser(drop_variables=['{v}'])) and write its values separately, or repack the file "
                f"with a contiguous/chunked layout (h5repack -l {v}:CONTI); loadable_variables does not help here"
            )
            findings.append(Finding(
                "error", p.url, v, "compact_storage",
                f"{ctx.names[i]}: variable '{v}' uses HDF5 compact storage (data inside the object header, no chunk to "
                f"reference): virtual or loaded, it would read back as fill values -> {fix}",
                fix,
            ))
    return findings


def presence(ctx: Context) -> list[Finding]:
    """A variable missing from some files (or only in a few): named in the minority."""
    findings = []
    n = ctx.n
    for var in ctx.all_vars:
        present = ctx.present(var)
        if len(present) == n or n < 2:
            continue
        missing = [i for i in range(n) if i not in present]
        if len(present) >= len(missing):
            for i in missing:
                fix = f"drop it from every file with drop_variables=['{var}'], or virtualize this file separately"
                findings.append(Finding(
                    "error", ctx.good[i].url, var, "missing_variable",
                    f"{ctx.names[i]}: variable '{var}' is missing, {have(len(present), n - 1, 'have it')} -> {fix}", fix))
        else:
            for i in present:
                fix = f"drop_variables=['{var}'], or virtualize this file separately"
                findings.append(Finding(
                    "error", ctx.good[i].url, var, "extra_variable",
                    f"{ctx.names[i]}: has variable '{var}', {have(len(missing), n - 1, 'lack it')} -> {fix}", fix))
    return findings


def majority(ctx: Context, var: str, prop: str, among: list[int]) -> tuple[Any, int, list[tuple[int, Any]]]:
    """(most common value of ``prop``, how many files have it, [(file index, value) of the others])."""
    values = [ctx.infos[i][var].get(prop) for i in among]
    keys = [hashable(v) for v in values]
    ref_key, n_ref = Counter(keys).most_common(1)[0]
    ref = values[keys.index(ref_key)]
    return ref, n_ref, [(i, v) for i, k, v in zip(among, keys, values, strict=True) if k != ref_key]


def _compare(ctx: Context, var: str, prop: str, among: list[int], describe: Callable[[Any], str],
             make_fix: Callable[[Any, str], str], severity: str = "error", note: str = "") -> list[Finding]:
    if len(among) < 2:
        return []
    ref, n_ref, odd = majority(ctx, var, prop, among)
    kind = {"codec_key": "codecs", "shape_other": "shape"}.get(prop, prop)
    values = {i: ctx.infos[i][var].get(prop) for i in among}
    findings = []
    for i, value in odd:
        head = f"{ctx.names[i]}: variable '{var}' uses {describe(value)}, {others_use(_groups(ctx, values, i, describe))}{note}"
        fix = make_fix(ref, ctx.names[i])
        findings.append(Finding(severity, ctx.good[i].url, var, kind, f"{head} -> {fix}", fix))
    return findings


def _groups(ctx: Context, values: dict[int, Any], odd: int, describe: Callable[[Any], str]) -> list[tuple[str, list[str]]]:
    """The other files (all but ``odd``) grouped by value: (description, file names), most common first."""
    by_key: dict[Any, tuple[Any, list[str]]] = {}
    for i, value in values.items():
        if i != odd:
            by_key.setdefault(hashable(value), (value, []))[1].append(ctx.names[i])
    ordered = sorted(by_key.values(), key=lambda item: -len(item[1]))
    return [(describe(value), names) for value, names in ordered]


def _fixer(template: str, var: str, hint: Callable[[Any], str] | None = None) -> Callable[[Any, str], str]:
    """The fix text for the majority value ``ref`` and the odd file ``name``: ``template`` with ``{ref}``,
    ``{var}``, ``{file}``, ``{hint}`` (hint(ref)).

    ``var`` is bound here, when the rule runs, not when the text is made (no loop-variable closure).
    """
    return lambda ref, name: template.format(ref=ref, var=var, file=name, hint=hint(ref) if hint else "")


# the one-array alternative for a file whose chunks/codecs/dtype differ: that file's chunks stored in the repository
LOAD_THIS_FILE = ("or store this file's chunks in the repository (load '{var}' for {file} only: loadable_variables "
                  "with its coordinates and '{var}', appending the files one by one in order)")


def properties(ctx: Context) -> list[Finding]:
    """Shape along the non-concat dims; dtype, chunks, codecs, fill value, packing of virtual variables."""
    findings: list[Finding] = []
    for var in ctx.all_vars:
        present = ctx.present(var)
        findings += _compare(
            ctx, var, "shape_other", present, lambda v: f"shape {fmt_shape(v)}",
            lambda ref, name: "a different grid cannot be concatenated: virtualize it separately (own group or virtual dataset), or regrid it",
        )
        virtual_in = [i for i in present if ctx.infos[i][var]["virtual"]]
        findings += _compare(
            ctx, var, "dtype", virtual_in, lambda v: f"dtype {v}",
            _fixer("rewrite it as {ref}, " + LOAD_THIS_FILE + ", or virtualize it separately", var))
        findings += _compare(
            ctx, var, "chunks", virtual_in, lambda v: f"chunks {v}",
            _fixer("rechunk it to {ref} (e.g. nccopy -c), " + LOAD_THIS_FILE + ", or virtualize it separately", var))
        findings += _compare(
            ctx, var, "codec_key", virtual_in, describe_codecs,
            _fixer("recompress it like the others{hint}, " + LOAD_THIS_FILE + ", or virtualize it separately", var,
                   hint=nccopy_hint))
        findings += _compare(
            ctx, var, "fill_value", virtual_in, fmt_fill,
            _fixer("pass loadable_variables=['{var}'] (each file is decoded with its own fill value), or rewrite it with _FillValue={ref}", var))
        findings += _compare(
            ctx, var, "scale_offset", virtual_in, fmt_scale,
            _fixer("pass loadable_variables=['{var}'] (each file decoded with its own packing), or virtualize it separately", var))
    return findings


def time_units(ctx: Context) -> list[Finding]:
    """CF time units/calendar that differ: an error when time is virtual or not decoded (silent wrong times),
    a warning (safe while loaded and decoded: xarray re-encodes on write) otherwise."""
    findings: list[Finding] = []
    for var in ctx.all_vars:
        timed = [i for i in ctx.present(var) if "time_units" in ctx.infos[i][var]]
        if len(timed) < 2:
            continue
        safe = time_is_safe(ctx, var, timed)
        if safe:
            sev, note = "warning", ""
            fix = (
                f"safe only while '{var}' stays loaded and decoded (the default); never pass loadable_variables=[] or "
                "decode_times=False for these files"
            )
        else:
            how = "virtual" if any(ctx.infos[i][var]["virtual"] for i in timed) else "not decoded (decode_times=False)"
            sev, note = "error", f", and '{var}' is {how}: its values would be read with the first file's units"
            fix = f"keep '{var}' loaded and decoded: leave loadable_variables=None (or include '{var}') and decode_times=None/True"
        findings += _compare(ctx, var, "time_units", timed, lambda v: f"units {v!r}", _fixer(fix.replace('{', '{{').replace('}', '}}'), var), sev, note)
        findings += _compare(ctx, var, "calendar", timed, lambda v: f"calendar {v!r}", _fixer(fix.replace('{', '{{').replace('}', '}}'), var), sev, note)
    return findings


def coordinate_values(ctx: Context) -> list[Finding]:
    """Loaded dimension-coordinate values along the non-concat dims must agree (else outer join / 2-D)."""
    findings = []
    for var in ctx.all_vars:
        valued = [i for i in ctx.present(var) if "values_key" in ctx.infos[i][var]]
        if len(valued) < 2:
            continue
        _, n_ref, odd = majority(ctx, var, "values_key", valued)
        ref_i = next(i for i in valued if i not in {j for j, _ in odd})
        for i, _ in odd:
            fix = (
                "virtualize these files separately (own group or virtual dataset) or regrid them; concatenated, "
                f"'{var}' would be outer-joined (NaN padding) or turned into a 2-D coordinate"
            )
            diff = first_diff(ctx.infos[i][var]["values"], ctx.infos[ref_i][var]["values"])
            findings.append(Finding(
                "error", ctx.good[i].url, var, "coordinate_values",
                f"{ctx.names[i]}: coordinate '{var}' values differ from {others(n_ref, len(valued) - 1).rsplit(' ', 1)[0]} ({diff}) -> {fix}",
                fix,
            ))
    return findings


def virtual_coordinates(ctx: Context) -> list[Finding]:
    """Virtual variables without the (innermost) concat dim would be broadcast by the concat (1-D -> 2-D)."""
    if ctx.n < 2 or not ctx.concat_dims or ctx.combine != "nested" or ctx.concat_dims[-1] not in ctx.file_dims:
        return []
    cd = ctx.concat_dims[-1]
    findings = []
    for var in ctx.all_vars:
        info = ctx.infos[ctx.present(var)[0]][var]
        if not info["virtual"] or cd in info["dims"]:
            continue
        new_dims = (cd, *info["dims"])
        if info["is_coord"] and ctx.coords != "minimal":
            fix = (f"keep '{var}' loaded (loadable_variables=None, or list '{var}'), or combine with coords='minimal', "
                   f"compat='override' (keeps the first file's '{var}' without comparing: check the files with '{var}' "
                   "loaded first)")
            findings.append(Finding(
                "error", None, var, "virtual_coordinate",
                f"coordinate '{var}' is virtual and has no {cd!r} dimension: the concat would turn {info['dims']} "
                f"into {new_dims} -> {fix}", fix))
        elif info["is_coord"]:
            fix = (f"run the check with '{var}' in loadable_variables (next to the coordinates you keep loaded) to "
                   "compare them")
            findings.append(Finding(
                "warning", None, var, "virtual_coordinate",
                f"coordinate '{var}' is virtual: its values are not compared between files, and compat='override' "
                f"keeps the first file's -> {fix}", fix))
        elif not info["is_coord"] and ctx.data_vars != "minimal" and not isinstance(ctx.data_vars, list):
            fix = f"combine with data_vars='minimal' (keeps '{var}' as it is), or drop_variables=['{var}']"
            findings.append(Finding(
                "warning", None, var, "virtual_broadcast",
                f"variable '{var}' is virtual and has no {cd!r} dimension: the concat would repeat it along "
                f"{cd!r}, {info['dims']} -> {new_dims} -> {fix}", fix))
    return findings


def by_coords_coordinates(ctx: Context) -> list[Finding]:
    """combine='by_coords' needs loaded dimension coordinates."""
    if ctx.n < 2 or ctx.combine != "by_coords":
        return []
    findings = []
    for d in ctx.file_dims:
        if any(d in info and info[d]["virtual"] for info in ctx.infos):
            fix = f"load '{d}' (loadable_variables=None, the default) or use combine='nested' with concat_dim"
            findings.append(Finding(
                "error", None, d, "combine",
                f"combine='by_coords' needs a loaded coordinate for dimension '{d}', but it is virtual -> {fix}", fix))
    return findings


def _axes(ctx: Context) -> list[tuple[int, str]]:
    """(grid axis, concat dim) pairs whose dim is a dimension of the files (new dims like 'member' excluded)."""
    if ctx.n < 2 or len(ctx.concat_dims) != len(ctx.shape):
        return []
    return [(k, d) for k, d in enumerate(ctx.concat_dims) if d in ctx.file_dims]


def partial_chunks(ctx: Context) -> list[Finding]:
    """A partial chunk along a concat dim is only referenceable in the last file along that grid axis."""
    findings = []
    for axis, cd in _axes(ctx):
        for i, pos in enumerate(ctx.positions):
            if pos[axis] == ctx.shape[axis] - 1:
                continue
            for var, info in ctx.infos[i].items():
                if not info["virtual"] or cd not in info["dims"] or info.get("chunks") is None:
                    continue
                dim_axis = info["dims"].index(cd)
                length, chunk = info["shape"][dim_axis], info["chunks"][dim_axis]
                if chunk and length % chunk:
                    fix = f"put this file last, rechunk it so {chunk} divides its length, or pass loadable_variables=['{var}']"
                    findings.append(Finding(
                        "error", ctx.good[i].url, var, "partial_chunk",
                        f"{ctx.names[i]}: variable '{var}' has {length} steps along {cd!r} with chunks of {chunk}: a partial "
                        f"chunk in the middle of the concat cannot be referenced -> {fix}", fix))
    return findings


def order(ctx: Context) -> list[Finding]:
    """Along each grid axis (separately per row), a loaded, comparable concat coordinate must increase."""
    if ctx.combine != "nested":
        return []
    findings = []
    by_pos = {pos: i for i, pos in enumerate(ctx.positions)}
    for axis, cd in _axes(ctx):
        rows: dict[tuple[int, ...], list[int]] = {}
        for pos in sorted(by_pos, key=lambda p: p[axis]):
            rows.setdefault(pos[:axis] + pos[axis + 1:], []).append(by_pos[pos])
        for row in rows.values():
            findings += _order_along(ctx, cd, row)
    return findings


def _order_along(ctx: Context, cd: str, row: list[int]) -> list[Finding]:
    findings = []
    prev_end = prev_name = None
    for i in row:
        ds = ctx.good[i].dataset
        if ds is None or cd not in ds.indexes or is_virtual(ds[cd].variable) or ds.sizes.get(cd, 0) == 0:
            prev_end = None
            continue
        vals = np.asarray(ds[cd].values)
        try:
            if prev_end is not None and not (vals[0] > prev_end):
                fix = "sort the files along the concat dimension (or combine='by_coords'), and remove duplicates"
                findings.append(Finding(
                    "warning", ctx.good[i].url, cd, "order",
                    f"{ctx.names[i]}: {cd!r} starts at {vals[0]} which is not after the end of {prev_name} ({prev_end}) -> {fix}",
                    fix))
            prev_end, prev_name = vals[-1], ctx.names[i]
        except TypeError:  # values that do not compare (mixed types): no order to check
            prev_end = None
    return findings


def _attr_key(value: Any) -> Any:
    """A hashable form of an attribute value (dicts/lists from Zarr attrs by their repr)."""
    key = hashable(scalar(value))
    try:
        hash(key)
    except TypeError:
        return repr(value)
    return key


def attributes(ctx: Context) -> list[Finding]:
    """Global attributes whose values differ between files: virtualize drops them (combine_attrs='drop_conflicts')."""
    if ctx.n < 2:
        return []
    values: dict[str, list[Any]] = {}
    for p in ctx.good:
        for name, value in p.dataset.attrs.items():  # type: ignore[union-attr]
            values.setdefault(str(name), []).append(_attr_key(value))
    findings = []
    for name, vals in values.items():
        counts = Counter(vals)
        if len(counts) < 2:
            continue
        (ref, n_ref), (other, _) = counts.most_common(2)
        fix = (
            "virtualize drops conflicting attributes (combine_attrs='drop_conflicts'): set it on the combined dataset "
            "yourself if you need it"
        )
        findings.append(Finding(
            "warning", None, None, "attribute",
            f"global attribute '{name}' differs between files: {len(vals) - n_ref} of {len(vals)} files differ from "
            f"{short(ref)} (e.g. {short(other)}) -> {fix}", fix))
    return findings


def references(ctx: Context) -> list[Finding]:
    """Tile-compressed FITS images and undecodable ASCII tables (refused by name), then every reference inside its
    object's size."""
    from vzskill.extents import bounds_findings
    from vzskill.fits_tiles import ascii_table_findings, tile_compressed_findings

    findings: list[Finding] = []
    for i, p in enumerate(ctx.good):
        for probe in (tile_compressed_findings, ascii_table_findings):
            try:
                findings += probe(p, ctx.names[i], ctx.registry)
            except Exception:  # noqa: BLE001 - unreadable here although the parse read it: the bounds check still runs
                pass
    explained = {(f.file, f.variable) for f in findings}
    names = dict(zip((p.url for p in ctx.good), ctx.names, strict=True))
    findings += bounds_findings(ctx.good, names, ctx.registry, access=ctx.access, skip=explained)  # type: ignore[arg-type]
    return findings


RULES: list[Rule] = [
    unreadable, sources, compact_storage, presence, properties, time_units, coordinate_values,
    virtual_coordinates, by_coords_coordinates, partial_chunks, order, attributes, references,
]
