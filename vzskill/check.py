"""Preflight: find the files that would fail a concat, or - worse - virtualize "fine" and read back wrong.

:func:`check` parses every file once (:func:`vzskill.parse.parse_files`) and compares, per variable and
across files, everything a virtual concatenation depends on - read from the parsed ``ManifestArray``
metadata and variable attrs/encoding only (no chunk reads):

* chunk shapes, codecs/filters (level and shuffle count), dtype, fill value, scale_factor/add_offset;
* CF time units and calendar (an **error** when time is virtual or not decoded: silent wrong times);
* shape along the non-concat dimensions, dimension-coordinate values along them;
* virtual coordinates that a concat would broadcast (1-D -> 2-D), partial chunks before the last file;
* a ``concat_dim`` that is not a dimension when one with a near-identical name exists.

Files are grouped into consistent sets; the odd files (the minority) are named in one-line findings
that say the fix. ``CheckReport.datasets`` are the parsed virtual datasets, for the combine step.
"""

from __future__ import annotations

import difflib
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from vzskill.parse import ParsedFile, display_name, parse_files
from vzskill.sources import Access, SourceError, looks_like_regex, normalize_url, parse_sources

__all__ = ["Finding", "CheckReport", "check", "flatten"]

SEVERITIES = ("error", "warning")


@dataclass
class Finding:
    """One problem. ``message`` is the complete one-line text (it ends with ``-> fix``); ``fix`` is the fix alone."""

    severity: str  # "error" | "warning"
    file: str | None  # URL of the odd file (None: about the whole set of files)
    variable: str | None
    kind: str
    message: str
    fix: str

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "file": self.file,
            "file_name": display_name(self.file) if self.file else None,
            "variable": self.variable,
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class CheckReport:
    """Result of :func:`check`. ``exit_code``: 0 ok (warnings allowed) / 1 errors / 2 could not run."""

    files: list[str]
    parsed: list[ParsedFile]
    findings: list[Finding] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    concat_dim: Any = "time"
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    fatal: str | None = None

    @property
    def datasets(self) -> list[xr.Dataset]:
        """The parsed virtual datasets of the files that parsed, in input order (reuse them to combine)."""
        return [p.dataset for p in self.parsed if p.ok]  # type: ignore[misc]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.errors

    @property
    def exit_code(self) -> int:
        if self.fatal is not None:
            return 2
        return 1 if self.errors else 0

    @property
    def failed(self) -> list[str]:
        """URLs of the files that could not be parsed."""
        return [p.url for p in self.parsed if not p.ok]

    @property
    def odd_files(self) -> list[str]:
        """URLs named by a finding (failed or inconsistent files), in input order."""
        named = {f.file for f in self.findings if f.file}
        return [u for u in self.files if u in named]

    def raise_for_errors(self) -> None:
        """Raise ``ValueError`` with the first error (plus a count of the rest), if any."""
        if self.fatal is not None:
            raise ValueError(self.fatal)
        if self.errors:
            more = f" (+{len(self.errors) - 1} more: run vzskill check)" if len(self.errors) > 1 else ""
            raise ValueError(self.errors[0].message + more)

    def to_dict(self) -> dict[str, Any]:
        names = dict(zip(self.files, _unique_names(self.files))) if self.files else {}
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "fatal": self.fatal,
            "n_files": len(self.files),
            "concat_dim": self.concat_dim,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
            "odd_files": self.odd_files,
            "odd_file_names": [display_name(u) for u in self.odd_files],
            "failed": self.failed,
            "groups": [{"size": len(g), "files": g, "file_names": [names.get(u, display_name(u)) for u in g]} for g in self.groups],
            "variables": _jsonable(self.variables),
            "files": self.files,
        }

    def format_table(self) -> str:
        lines = []
        head = f"vzskill check: {len(self.files)} file(s), concat_dim={self.concat_dim!r}"
        if self.fatal is not None:
            return f"{head}\ncould not run: {self.fatal}"
        status = "OK" if self.ok else "FAILED"
        lines.append(f"{head} -> {status}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        if self.findings:
            lines.append("")
            w_kind = max(len(f.kind) for f in self.findings)
            for f in self.findings:
                lines.append(f"{f.severity.upper():<7}  {f.kind:<{w_kind}}  {f.message}")
        if self.variables:
            lines.append("")
            lines.append("Variables (values shared by most files):")
            rows = []
            for name, info in self.variables.items():
                rows.append(
                    (
                        name,
                        "(" + ", ".join(info.get("dims", ())) + ")",
                        str(info.get("dtype", "")),
                        "virtual" if info.get("virtual") else "loaded",
                        "chunks " + str(tuple(info["chunks"])) if info.get("chunks") is not None else "",
                        info.get("codecs") or "",
                        f"fill {info['fill_value']}" if info.get("fill_value") is not None else "",
                        info.get("time_units") or "",
                    )
                )
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            for r in rows:
                lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if self.groups:
            lines.append("")
            lines.append("Consistent groups of files:")
            all_names = dict(zip(self.files, _unique_names(self.files)))
            for i, g in enumerate(self.groups, 1):
                names = [all_names.get(u, display_name(u)) for u in g]
                shown = ", ".join(names[:8]) + (f", ... (+{len(names) - 8})" if len(names) > 8 else "")
                lines.append(f"  group {i} ({len(g)} file{'s' if len(g) != 1 else ''}): {shown}")
        if self.failed:
            lines.append(f"  not parsed ({len(self.failed)}): " + ", ".join(display_name(u) for u in self.failed))
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def flatten(urls: Any) -> list[Any]:
    """Flatten a nested list of URLs/paths/ParsedFiles (nested combine grids) into a flat list."""
    if isinstance(urls, (str, os.PathLike, ParsedFile)):
        return [urls]
    out: list[Any] = []
    for u in urls:
        out.extend(flatten(u))
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _scalar(value: Any) -> Any:
    """A hashable, comparable form of a fill value / attribute (NaN == NaN)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size == 1:
            value = value.reshape(()).item()
        else:
            return tuple(_scalar(v) for v in value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return tuple(_scalar(v) for v in value)
    return value


def _codec_key(codecs: Sequence[Any]) -> tuple:
    """Normalised codec pipeline: (name, sorted config) tuples; dtype-derived details dropped."""
    key = []
    for c in codecs:
        try:
            d = c.to_dict()
        except Exception:
            d = {"name": type(c).__name__, "configuration": {}}
        name = str(d.get("name", type(c).__name__)).replace("numcodecs.", "")
        conf = dict(d.get("configuration") or {})
        if name == "shuffle":
            conf.pop("elementsize", None)  # follows the dtype (reported separately)
        if name == "blosc":
            conf.pop("typesize", None)
        if name == "bytes" and conf.get("endian") == "little":
            conf = {}
        key.append((name, tuple(sorted((k, _scalar(v)) for k, v in conf.items()))))
    return tuple(key)


def describe_codecs(key: tuple) -> str:
    """``zlib level 4 with shuffle`` / ``no compression`` / ``blosc(cname=lz4) ...`` for a codec key."""
    names = [n for n, _ in key]
    conf = {n: dict(c) for n, c in key}
    parts = []
    endian = conf.get("bytes", {}).get("endian")
    compressors = [n for n in names if n not in ("bytes", "shuffle", "transpose")]
    if not compressors:
        parts.append("no compression")
    for n in compressors:
        c = conf[n]
        if n in ("zlib", "gzip") and "level" in c:
            parts.append(f"{n} level {c['level']}")
        elif c:
            parts.append(f"{n}(" + ", ".join(f"{k}={v}" for k, v in c.items()) + ")")
        else:
            parts.append(n)
    text = " + ".join(parts)
    if compressors:
        text += " with shuffle" if "shuffle" in names else " without shuffle"
    elif "shuffle" in names:
        text += " (shuffle)"
    if endian == "big":
        text += ", big-endian"
    return text


def _nccopy_hint(key: tuple) -> str:
    conf = {n: dict(c) for n, c in key}
    if "zlib" in conf and "level" in conf["zlib"]:
        return f" (e.g. nccopy -d {conf['zlib']['level']}{' -s' if 'shuffle' in conf else ''})"
    if len(key) <= 1:
        return " (e.g. nccopy -d 0)"
    return ""


def _time_units(var: xr.Variable) -> tuple[str | None, str | None, bool]:
    """(units, calendar, decoded) for a CF time variable; (None, None, False) otherwise."""
    units = var.attrs.get("units")
    calendar = var.attrs.get("calendar")
    decoded = False
    if not (isinstance(units, str) and " since " in units):
        units = var.encoding.get("units")
        calendar = var.encoding.get("calendar", calendar)
        decoded = True
    if not (isinstance(units, str) and " since " in units):
        return None, None, False
    if decoded and not (np.issubdtype(var.dtype, np.datetime64) or np.issubdtype(var.dtype, np.timedelta64) or var.dtype == object):
        decoded = False
    return units.strip(), (calendar or "standard"), decoded


def _is_virtual(var: xr.Variable) -> bool:
    return type(var.data).__name__ == "ManifestArray"


def _has_no_refs(ma: Any) -> bool:
    """True when a ManifestArray references no chunk at all (never-written data, or HDF5 compact storage)."""
    manifest = getattr(ma, "manifest", None)
    paths = getattr(manifest, "_paths", None)
    inlined = getattr(manifest, "_inlined", None)
    if paths is None:
        return False
    return not inlined and bool(np.all(paths == ""))


def _compact_variables(url: str, names: list[str], registry: Any = None) -> list[str]:
    """The variables among ``names`` stored with HDF5 compact layout (h5py, metadata only)."""
    import h5py
    from obspec_utils.readers import BlockStoreReader

    if registry is None:
        from vzskill.parse import _registry_for

        registry = _registry_for([url], None)
    store, path = registry.resolve(url)
    out = []
    with h5py.File(BlockStoreReader(store, path), mode="r") as f:
        for name in names:
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset) and obj.id.get_create_plist().get_layout() == h5py.h5d.COMPACT:
                out.append(name)
    return out


def _describe_file(ds: xr.Dataset, concat_dims: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-variable properties of one parsed file (metadata only)."""
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        name = str(name)
        virtual = _is_virtual(var)
        info: dict[str, Any] = {
            "virtual": virtual,
            "is_coord": name in ds.coords,
            "dims": tuple(str(d) for d in var.dims),
            "shape": tuple(int(s) for s in var.shape),
            "shape_other": tuple((str(d), int(n)) for d, n in zip(var.dims, var.shape) if d not in concat_dims),
        }
        units, calendar, decoded = _time_units(var)
        if units is not None:
            info["time_units"] = units
            info["calendar"] = calendar
            info["time_decoded"] = decoded
        if virtual:
            md = var.data.metadata
            info["dtype"] = str(var.dtype)
            chunks = getattr(md, "chunks", None)
            if chunks is None:  # sharded or v2 metadata
                chunks = getattr(md, "chunk_grid", None)
            info["chunks"] = tuple(int(c) for c in chunks) if chunks is not None else None
            info["codec_key"] = _codec_key(getattr(md, "codecs", ()) or ())
            info["codecs"] = describe_codecs(info["codec_key"])
            info["fill_value"] = _scalar(getattr(md, "fill_value", None))
            info["no_refs"] = _has_no_refs(var.data) and int(np.prod(var.shape)) > 0
            scale = var.attrs.get("scale_factor", var.encoding.get("scale_factor"))
            offset = var.attrs.get("add_offset", var.encoding.get("add_offset"))
            info["scale_offset"] = None if scale is None and offset is None else (_scalar(scale), _scalar(offset))
        else:
            info["dtype"] = str(var.encoding.get("dtype", var.dtype))
            if name in ds.indexes and var.ndim == 1 and var.dims[0] not in concat_dims:
                values = np.asarray(var.values)
                info["values"] = values
                info["values_key"] = (values.dtype.str, values.shape, values.tobytes())
        out[name] = info
    return out


def _unique_names(urls: list[str]) -> list[str]:
    """Basenames, or paths relative to the common parent when basenames collide (ensembles)."""
    names = [display_name(u) for u in urls]
    if len(set(names)) == len(names):
        return names
    try:
        common = os.path.commonpath([u.split("://", 1)[-1] for u in urls])
        return [u.split("://", 1)[-1][len(common):].lstrip("/") or display_name(u) for u in urls]
    except ValueError:
        return [u for u in urls]


def _plural(n: int, word: str = "file") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _others(n_ref: int, n_total_others: int) -> str:
    """'the other 11 files use' (everyone else agrees) / '9 other files use' (a third value exists)."""
    verb = "uses" if n_ref == 1 else "use"
    if n_ref == n_total_others:
        return f"the other {_plural(n_ref)} {verb}" if n_ref != 1 else f"the other file {verb}"
    return f"{_plural(n_ref, 'other file')} {verb}"


def _have(n_ref: int, n_total_others: int, what: str) -> str:
    """'the other 2 files have it' / 'the other file lacks it'."""
    verb = what if n_ref != 1 else what.replace("have", "has").replace("lack", "lacks")
    return _others(n_ref, n_total_others).rsplit(" ", 1)[0] + " " + verb


def _fmt_shape(pairs: tuple) -> str:
    return ", ".join(f"{d}={n}" for d, n in pairs) if pairs else "no other dimensions"


def _fmt_scale(v: Any) -> str:
    if v is None:
        return "no scale_factor/add_offset"
    s, o = v
    return f"scale_factor={s}, add_offset={o}"


def _fmt_fill(v: Any) -> str:
    return "no fill value" if v is None else f"fill value {v}"


def _first_diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"{a.size} values vs {b.size}"
    idx = np.flatnonzero(a != b)
    if idx.size == 0:
        return "dtype differs"
    i = int(idx[0])
    return f"first difference at index {i}: {a[i]} vs {b[i]}"


# --------------------------------------------------------------------------- the check


def check(
    urls_or_parsed: Any,
    *,
    concat_dim: str | Sequence[str] | None = "time",
    access: Access | None = None,
    registry: Any = None,
    loadable_variables: Iterable[str] | None = None,
    decode_times: bool | None = None,
    drop_variables: Iterable[str] | None = None,
    group: str | None = None,
    parallel: Any = None,
    combine: str = "nested",
    coords: Any = None,
    data_vars: Any = None,
) -> CheckReport:
    """Preflight ``urls_or_parsed`` (URLs/paths, possibly nested for a grid, or :class:`ParsedFile` s).

    Parses every file once (unless given ``ParsedFile`` objects), then compares the files. Never
    raises for bad inputs: everything ends up in the report (``fatal`` + exit code 2 when the check
    itself could not run). ``coords``/``data_vars`` are the values the combine step will use (None =
    xarray's defaults, which broadcast virtual coordinates; ``'minimal'`` is safe).
    """
    items = flatten(urls_or_parsed) if urls_or_parsed is not None else []
    concat_dims: list[str] = (
        [] if concat_dim is None else [concat_dim] if isinstance(concat_dim, str) else [str(d) for d in concat_dim]
    )
    if combine == "by_coords":
        concat_dims = []  # inferred from the loaded coordinates in _analyse, as combine_by_coords does
    report = CheckReport(files=[], parsed=[], concat_dim=concat_dim)
    if not items:
        report.fatal = "no input files -> pass one or more paths or URLs"
        return report
    try:
        if all(isinstance(i, ParsedFile) for i in items):
            parsed = list(items)
        else:
            if any(isinstance(i, ParsedFile) for i in items):
                raise TypeError("mix of ParsedFile objects and URLs -> pass one kind")
            if isinstance(registry, Mapping):
                bad = [k for k in registry if looks_like_regex(k)]
                if bad:
                    raise SourceError(
                        f"registry key {bad[0]!r} looks like a regular expression; ObjectStoreRegistry matches plain "
                        "URL prefixes only -> use a key like 's3://bucket', 'https://host' or 'file:///data/dir'"
                    )
                from obspec_utils.registry import ObjectStoreRegistry

                registry = ObjectStoreRegistry(dict(registry))
            parsed = parse_files(
                items,
                registry,
                loadable_variables=loadable_variables,
                decode_times=decode_times,
                drop_variables=drop_variables,
                group=group,
                parallel=parallel,
                access=access,
            )
        report.parsed = parsed
        report.files = [p.url for p in parsed]
        _analyse(report, concat_dims, combine=combine, coords=coords, data_vars=data_vars,
                 registry=registry if registry is not None and hasattr(registry, "resolve") else None)
    except Exception as exc:  # the check itself could not run
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.fatal = msg if " -> " in msg else f"{type(exc).__name__}: {msg}"
        if not report.files:
            report.files = [str(i.url if isinstance(i, ParsedFile) else i) for i in items]
    return report


def _inferred_concat_dims(datasets: list[Any], file_dims: list[str]) -> list[str]:
    """Dimensions whose loaded 1-D index coordinate differs between files (what combine_by_coords concatenates)."""
    out = []
    for d in file_dims:
        values = []
        for ds in datasets:
            coord = ds.variables.get(d)
            if coord is None or coord.dims != (d,) or type(coord.data).__name__ == "ManifestArray":
                break
            values.append(np.asarray(coord.values))
        else:
            if any(v.shape != values[0].shape or not np.array_equal(v, values[0]) for v in values[1:]):
                out.append(d)
    return out


def _analyse(report: CheckReport, concat_dims: list[str], *, combine: str, coords: Any, data_vars: Any,
             registry: Any = None) -> None:
    findings = report.findings
    parsed = report.parsed

    # 1. files that could not be parsed
    for p in parsed:
        if not p.ok:
            findings.append(Finding("error", p.url, p.variable, "unreadable", p.error or f"{p.name}: not parsed", p.fix or ""))

    # local sources must share a directory below '/' (icechunk container prefixes need a path)
    try:
        if any(p.ok for p in parsed):
            parse_sources([p.url for p in parsed if p.ok])
    except SourceError as exc:
        msg = str(exc)
        findings.append(Finding("error", None, None, "sources", msg, msg.split(" -> ", 1)[-1]))

    good = [p for p in parsed if p.ok]
    if not good:
        return
    n = len(good)
    names = _unique_names([p.url for p in good])

    file_dims: list[str] = []
    for p in good:
        for d in p.dataset.dims:  # type: ignore[union-attr]
            if str(d) not in file_dims:
                file_dims.append(str(d))

    # 2. concat_dim (a near-miss is an error; the analysis continues with the dimension meant)
    if n > 1 or len(concat_dims) > 1:
        for pos, cd in enumerate(list(concat_dims)):
            if cd in file_dims:
                continue
            close = [d for d in file_dims if d.lower() == cd.lower()] or difflib.get_close_matches(cd, file_dims, n=1, cutoff=0.75)
            dims_text = ", ".join(file_dims)
            if close:
                fix = f"did you mean {close[0]!r}? (pass concat_dim={close[0]!r})"
                findings.append(Finding(
                    "error", None, None, "concat_dim",
                    f"concat_dim {cd!r} is not a dimension of the files (dimensions: {dims_text}): the concat would "
                    f"silently create a new dimension {cd!r} -> {fix}",
                    fix,
                ))
                concat_dims[pos] = close[0]
            elif len(concat_dims) == 1:
                fix = f"fine for stacking files along a new dimension (e.g. ensemble members); otherwise pass one of: {dims_text}"
                findings.append(Finding(
                    "warning", None, None, "concat_dim",
                    f"concat_dim {cd!r} is not a dimension of the files (dimensions: {dims_text}); the combine creates "
                    f"a new dimension {cd!r} -> {fix}",
                    fix,
                ))

    # by_coords: xarray infers the concat dims (dimension coordinates whose values differ between files)
    if combine == "by_coords" and not concat_dims and n > 1:
        concat_dims = _inferred_concat_dims([p.dataset for p in good], file_dims)  # type: ignore[misc]
        report.concat_dim = concat_dims[0] if len(concat_dims) == 1 else (concat_dims or None)

    infos = [_describe_file(p.dataset, concat_dims) for p in good]  # type: ignore[arg-type]

    # HDF5 compact storage: parsed "fine" with no chunk to reference -> would read back as fill values
    for i, p in enumerate(good):
        empty = sorted(set(p.no_refs) | {v for v, info in infos[i].items() if info.get("no_refs")})
        if not empty or p.kind != "hdf5":
            continue
        try:
            compact = _compact_variables(p.url, empty, registry)
        except Exception:
            compact = []
        for v in compact:
            fix = (
                f"drop it (HDFParser(drop_variables=['{v}'])) and write its values separately, or repack the file "
                f"with a contiguous/chunked layout (h5repack -l {v}:CONTI); loadable_variables does not help here"
            )
            findings.append(Finding(
                "error", p.url, v, "compact_storage",
                f"{names[i]}: variable '{v}' uses HDF5 compact storage (data inside the object header, no chunk to "
                f"reference): virtual or loaded, it would read back as fill values -> {fix}",
                fix,
            ))

    # variable order: first appearance
    all_vars: list[str] = []
    for info in infos:
        for v in info:
            if v not in all_vars:
                all_vars.append(v)

    # summary of reference values, filled below
    variables: dict[str, dict[str, Any]] = {}
    signature: list[list[Any]] = [[] for _ in range(n)]

    def compare(var: str, prop: str, present: list[int], describe: Any, make: Any, severity: Any = "error", note: str = "") -> Any:
        """Majority value of ``prop`` among files ``present``; one finding per odd file."""
        values = [infos[i][var].get(prop) for i in present]
        keys = [_hashable(v) for v in values]
        counts = Counter(keys)
        for i, k in zip(present, keys):
            signature[i].append((var, prop, k))
        ref_key, n_ref = counts.most_common(1)[0]
        ref_value = values[keys.index(ref_key)]
        if len(counts) > 1:
            for i, k, v in zip(present, keys, values):
                if k == ref_key:
                    continue
                sev = severity(i) if callable(severity) else severity
                head = f"{names[i]}: variable '{var}' uses {describe(v)}, {_others(n_ref, len(present) - 1)} {describe(ref_value)}{note}"
                fix = make(v, ref_value, i)
                kind = {"codec_key": "codecs", "shape_other": "shape"}.get(prop, prop)
                findings.append(Finding(sev, good[i].url, var, kind, f"{head} -> {fix}", fix))
        return ref_value

    for var in all_vars:
        present = [i for i in range(n) if var in infos[i]]
        first = infos[present[0]][var]
        summary: dict[str, Any] = {"dims": first["dims"], "virtual": first["virtual"], "dtype": first.get("dtype")}
        variables[var] = summary

        # presence
        if len(present) != n and n > 1:
            missing = [i for i in range(n) if i not in present]
            if len(present) >= len(missing):
                for i in missing:
                    fix = f"drop it from every file with drop_variables=['{var}'], or virtualize this file separately"
                    findings.append(Finding(
                        "error", good[i].url, var, "missing_variable",
                        f"{names[i]}: variable '{var}' is missing, {_have(len(present), n - 1, 'have it')} -> {fix}",
                        fix,
                    ))
            else:
                for i in present:
                    fix = f"drop_variables=['{var}'], or virtualize this file separately"
                    findings.append(Finding(
                        "error", good[i].url, var, "extra_variable",
                        f"{names[i]}: has variable '{var}', {_have(len(missing), n - 1, 'lack it')} -> {fix}",
                        fix,
                    ))
        for i in range(n):
            signature[i].append((var, "present", i in present))
        if len(present) < 2:
            for key in ("chunks", "codecs", "fill_value", "time_units", "calendar"):
                if key in first:
                    summary[key] = first[key]
            continue

        # shape along the non-concat dimensions
        summary["shape_other"] = compare(
            var, "shape_other", present,
            lambda v: f"shape {_fmt_shape(v)}",
            lambda v, ref, i: "a different grid cannot be concatenated: virtualize it separately (own group or virtual dataset), or regrid it",
        )

        virtual_in = [i for i in present if infos[i][var]["virtual"]]
        if virtual_in and len(virtual_in) >= 2:
            summary["dtype"] = compare(
                var, "dtype", virtual_in, lambda v: f"dtype {v}",
                lambda v, ref, i: f"rewrite it as {ref}, or pass loadable_variables=['{var}'], or virtualize it separately",
            )
            chunks_ref = compare(
                var, "chunks", virtual_in, lambda v: f"chunks {v}",
                lambda v, ref, i: f"rechunk it to {ref} (e.g. nccopy -c), or pass loadable_variables=['{var}'], or virtualize it separately",
            )
            summary["chunks"] = chunks_ref
            codec_ref = compare(
                var, "codec_key", virtual_in, describe_codecs,
                lambda v, ref, i: f"recompress it like the others{_nccopy_hint(ref)}, or pass loadable_variables=['{var}']",
            )
            summary["codecs"] = describe_codecs(codec_ref)
            summary["fill_value"] = compare(
                var, "fill_value", virtual_in, _fmt_fill,
                lambda v, ref, i: f"pass loadable_variables=['{var}'] (each file is decoded with its own fill value), or rewrite it with _FillValue={ref}",
            )
            summary["scale_offset"] = compare(
                var, "scale_offset", virtual_in, _fmt_scale,
                lambda v, ref, i: f"pass loadable_variables=['{var}'] (each file decoded with its own packing), or virtualize it separately",
            )
        else:
            for key in ("chunks", "codecs", "fill_value"):
                if key in first:
                    summary[key] = first[key]

        # CF time units / calendar
        timed = [i for i in present if "time_units" in infos[i][var]]
        if len(timed) >= 2:
            unsafe = any(infos[i][var]["virtual"] or not infos[i][var]["time_decoded"] for i in timed)
            how = "virtual" if any(infos[i][var]["virtual"] for i in timed) else "not decoded (decode_times=False)"
            err_fix = f"keep '{var}' loaded and decoded: leave loadable_variables=None (or include '{var}') and decode_times=None/True"
            warn_fix = (
                f"safe only while '{var}' stays loaded and decoded (the default); never pass loadable_variables=[] or "
                "decode_times=False for these files"
            )
            note = f", and '{var}' is {how}: its values would be read with the first file's units" if unsafe else ""
            sev = "error" if unsafe else "warning"
            fix_t = (lambda v, ref, i: err_fix) if unsafe else (lambda v, ref, i: warn_fix)
            summary["time_units"] = compare(var, "time_units", timed, lambda v: f"units {v!r}", fix_t, sev, note)
            summary["calendar"] = compare(var, "calendar", timed, lambda v: f"calendar {v!r}", fix_t, sev, note)

        # dimension coordinate values along non-concat dims
        valued = [i for i in present if "values_key" in infos[i][var]]
        if len(valued) >= 2:
            keys = [infos[i][var]["values_key"] for i in valued]
            counts = Counter(keys)
            for i, k in zip(valued, keys):
                signature[i].append((var, "values", k))
            ref_key, n_ref = counts.most_common(1)[0]
            ref_values = infos[valued[keys.index(ref_key)]][var]["values"]
            for i, k in zip(valued, keys):
                if k == ref_key:
                    continue
                fix = (
                    "virtualize these files separately (own group or virtual dataset) or regrid them; concatenated, "
                    f"'{var}' would be outer-joined (NaN padding) or turned into a 2-D coordinate"
                )
                diff = _first_diff(infos[i][var]["values"], ref_values)
                findings.append(Finding(
                    "error", good[i].url, var, "coordinate_values",
                    f"{names[i]}: coordinate '{var}' values differ from {_others(n_ref, len(valued) - 1).rsplit(' ', 1)[0]} ({diff}) -> {fix}",
                    fix,
                ))

    # 3. virtual variables without the concat dim would be broadcast (1-D coordinate -> 2-D)
    if n > 1 and concat_dims and combine == "nested":
        cd = concat_dims[-1]
        if cd in file_dims:
            for var in all_vars:
                info = next(infos[i][var] for i in range(n) if var in infos[i])
                if not info["virtual"] or cd in info["dims"]:
                    continue
                if info["is_coord"] and coords != "minimal":
                    fix = (
                        f"keep '{var}' loaded (loadable_variables=None, or list '{var}'), or combine with "
                        "coords='minimal', compat='override'"
                    )
                    new_dims = (cd, *info["dims"])
                    findings.append(Finding(
                        "error", None, var, "virtual_coordinate",
                        f"coordinate '{var}' is virtual and has no {cd!r} dimension: the concat would turn {info['dims']} "
                        f"into {new_dims} -> {fix}",
                        fix,
                    ))
                elif not info["is_coord"] and data_vars not in ("minimal",) and not isinstance(data_vars, list):
                    fix = f"combine with data_vars='minimal' (keeps '{var}' as it is), or drop_variables=['{var}']"
                    new_dims = (cd, *info["dims"])
                    findings.append(Finding(
                        "warning", None, var, "virtual_broadcast",
                        f"variable '{var}' is virtual and has no {cd!r} dimension: the concat would repeat it along "
                        f"{cd!r}, {info['dims']} -> {new_dims} -> {fix}",
                        fix,
                    ))

        # by_coords needs loaded dimension coordinates
    if n > 1 and combine == "by_coords":
        for d in file_dims:
            if any(d in infos[i] and infos[i][d]["virtual"] for i in range(n)):
                fix = f"load '{d}' (loadable_variables=None, the default) or use combine='nested' with concat_dim"
                findings.append(Finding(
                    "error", None, d, "combine",
                    f"combine='by_coords' needs a loaded coordinate for dimension '{d}', but it is virtual -> {fix}",
                    fix,
                ))

    # 4. partial chunks along the concat dim before the last file
    if n > 1 and len(concat_dims) == 1:
        cd = concat_dims[0]
        for var in all_vars:
            for pos, i in enumerate(range(n)):
                info = infos[i].get(var)
                if info is None or not info["virtual"] or cd not in info["dims"] or info.get("chunks") is None:
                    continue
                if pos == n - 1:
                    continue
                axis = info["dims"].index(cd)
                length, chunk = info["shape"][axis], info["chunks"][axis]
                if chunk and length % chunk:
                    fix = f"put this file last, rechunk it so {chunk} divides its length, or pass loadable_variables=['{var}']"
                    findings.append(Finding(
                        "error", good[i].url, var, "partial_chunk",
                        f"{names[i]}: variable '{var}' has {length} steps along {cd!r} with chunks of {chunk}: a partial "
                        f"chunk in the middle of the concat cannot be referenced -> {fix}",
                        fix,
                    ))

    # 5. order / overlap of a loaded concat coordinate
    if n > 1 and len(concat_dims) == 1 and combine == "nested":
        cd = concat_dims[0]
        prev_end = None
        prev_name = None
        for i, p in enumerate(good):
            ds = p.dataset
            if cd not in ds.indexes or _is_virtual(ds[cd].variable) or ds.sizes.get(cd, 0) == 0:  # type: ignore[union-attr]
                prev_end = None
                continue
            vals = np.asarray(ds[cd].values)  # type: ignore[index]
            try:
                if prev_end is not None and not (vals[0] > prev_end):
                    fix = "sort the files along the concat dimension (or combine='by_coords'), and remove duplicates"
                    findings.append(Finding(
                        "warning", p.url, cd, "order",
                        f"{names[i]}: {cd!r} starts at {vals[0]} which is not after the end of {prev_name} ({prev_end}) "
                        f"-> {fix}",
                        fix,
                    ))
                prev_end, prev_name = vals[-1], names[i]
            except TypeError:
                prev_end = None

    report.variables = {k: {kk: vv for kk, vv in v.items() if kk not in ("values",)} for k, v in variables.items()}
    for v in report.variables.values():
        if "scale_offset" in v and v["scale_offset"] is None:
            del v["scale_offset"]

    # 6. consistent groups (identical signature), largest first; ties in input order
    by_sig: dict[Any, list[str]] = {}
    for i in range(n):
        by_sig.setdefault(tuple(signature[i]), []).append(good[i].url)
    report.groups = sorted(by_sig.values(), key=lambda g: -len(g))
    _sort_findings(report)


def _hashable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _sort_findings(report: CheckReport) -> None:
    order = {u: i for i, u in enumerate(report.files)}
    report.findings.sort(key=lambda f: (SEVERITIES.index(f.severity), order.get(f.file, -1) if f.file else -1))


def check_paths(paths: Iterable[str | os.PathLike[str]], **kwargs: Any) -> CheckReport:
    """Alias of :func:`check` for plain path lists (normalises them first)."""
    return check([normalize_url(p) for p in paths], **kwargs)
