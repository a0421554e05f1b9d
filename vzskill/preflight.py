"""Preflight: find the files that would fail a concat, or - worse - virtualize "fine" and read back wrong.

:func:`check` parses every file once (:func:`vzskill.parse.parse_files`), resolves the layout (the
concat dimension(s), inferred when not given: :func:`vzskill.layout.infer_concat_dim`; a nested grid
of files for N-D combines), describes every file (:func:`vzskill.descriptions.describe_file`, metadata
only, no chunk reads), runs the table of rules (:data:`vzskill.rules.RULES`: chunks, codecs, dtype,
fill value, packing, CF time units, shapes and coordinate values, broadcasts, partial chunks, order per
grid axis, global attributes, tile-compressed FITS, references inside their objects) and groups the
files into consistent sets (:mod:`vzskill.grouping`). The odd files (the minority) are named in
one-line findings that say the fix. ``CheckReport.datasets`` are the parsed virtual datasets, reusable.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from vzskill.descriptions import describe_codecs, describe_file, is_virtual
from vzskill.findings import SEVERITIES, Finding
from vzskill.grouping import consistent_groups, summarize
from vzskill.jsonable import fill_value, jsonable
from vzskill.layout import LayoutError, flatten, grid_shape, infer_concat_dim, nest
from vzskill.parse import ParsedFile, display_name, parse_files
from vzskill.rules import RULES, Context
from vzskill.sources import Access, SourceError, looks_like_regex

__all__ = ["Finding", "CheckReport", "check", "flatten", "describe_codecs"]


@dataclass
class CheckReport:
    """Result of :func:`check`. ``exit_code``: 0 ok (warnings allowed) / 1 errors / 2 could not run."""

    files: list[str]
    parsed: list[ParsedFile]
    findings: list[Finding] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    concat_dim: Any = None  # the resolved value: None (no concat) | "time" | ["member", "time"]
    concat_reason: str = ""  # why (one line, e.g. "time: its values differ between files")
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

    def to_dict(self) -> dict[str, Any]:
        names = dict(zip(self.files, _unique_names(self.files), strict=True)) if self.files else {}
        return jsonable({
            "ok": self.ok,
            "exit_code": self.exit_code,
            "fatal": self.fatal,
            "n_files": len(self.files),
            "concat_dim": self.concat_dim,
            "concat_reason": self.concat_reason,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
            "odd_files": self.odd_files,
            "odd_file_names": [display_name(u) for u in self.odd_files],
            "failed": self.failed,
            "groups": [{"size": len(g), "files": g, "file_names": [names.get(u, display_name(u)) for u in g]} for g in self.groups],
            "variables": _variables_json(self.variables),
            "files": self.files,
        })

    def format_table(self) -> str:
        lines = []
        head = f"vzskill check: {len(self.files)} file(s), concat_dim={self.concat_dim!r}"
        if self.concat_reason:
            head += f" ({self.concat_reason})"
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
            lines += ["", "Variables (values shared by most files):"] + _variable_lines(self.variables)
        if self.groups:
            lines += ["", "Consistent groups of files:"] + _group_lines(self.files, self.groups)
        if self.failed:
            lines.append(f"  not parsed ({len(self.failed)}): " + ", ".join(display_name(u) for u in self.failed))
        return "\n".join(lines)




def _variable_lines(variables: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
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
        for name, info in variables.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _group_lines(files: list[str], groups: list[list[str]]) -> list[str]:
    all_names = dict(zip(files, _unique_names(files), strict=True))
    lines = []
    for i, g in enumerate(groups, 1):
        names = [all_names.get(u, display_name(u)) for u in g]
        shown = ", ".join(names[:8]) + (f", ... (+{len(names) - 8})" if len(names) > 8 else "")
        lines.append(f"  group {i} ({len(g)} file{'s' if len(g) != 1 else ''}): {shown}")
    return lines


def _variables_json(variables: dict[str, dict[str, Any]]) -> Any:
    """``variables`` for JSON (:func:`vzskill.jsonable.jsonable`); a NaN / inf fill value keeps zarr's spelling
    (:func:`vzskill.jsonable.fill_value`: "NaN", "Infinity", "-Infinity"; null would read as "no fill value")."""
    out = {}
    for name, info in variables.items():
        info = dict(info)
        if info.get("fill_value") is not None:
            info["fill_value"] = fill_value(info["fill_value"])
        out[name] = info
    return jsonable(out)


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



# --------------------------------------------------------------------------- the check


def check(
    urls_or_parsed: Any,
    *,
    concat_dim: str | Sequence[str] | None = None,
    access: Access | None = None,
    registry: Any = None,
    loadable_variables: Iterable[str] | None = None,
    decode_times: bool | None = None,
    drop_variables: Iterable[str] | None = None,
    group: str | None = None,
    parallel: Any = None,
    workers: int | None = None,
    combine: str = "nested",
    coords: Any = "minimal",
    data_vars: Any = "minimal",
) -> CheckReport:
    """Preflight ``urls_or_parsed``: URLs/paths or :class:`ParsedFile` s, a flat list or a nested grid.

    Parameters
    ----------
    urls_or_parsed
        The files; a nested list (``[[m0t0, m0t1], [m1t0, m1t1]]``) with one ``concat_dim`` per level
        for an N-D grid. ``ParsedFile`` objects are reused (no second parse).
    concat_dim
        ``None`` (default) infers it: none for one file, else the dimension whose coordinate values
        differ between files (see :func:`vzskill.layout.infer_concat_dim`); a name or a list of names
        (one per grid level) is used as given.
    parallel, workers
        How the files are parsed (:func:`vzskill.parse.parse_files`: ``parallel=`` executor choice,
        ``workers=`` how many at once).
    coords, data_vars
        The values the combine step will use. Default ``'minimal'``: what :func:`vzskill.virtualize`
        uses. Pass ``coords='different'`` / ``data_vars='all'`` (xarray's own defaults, which
        broadcast virtual coordinates) to check a plain ``xr.concat`` / ``xr.combine_nested``.

    Returns
    -------
    CheckReport
        Never raises for bad inputs: everything ends up in the report (``fatal`` + exit code 2 when the
        check itself could not run).
    """
    items = flatten(urls_or_parsed) if urls_or_parsed is not None else []
    report = CheckReport(files=[], parsed=[], concat_dim=concat_dim)
    if not items:
        report.fatal = "no input files -> pass one or more paths or URLs"
        return report
    try:
        registry = _registry(registry)
        if all(isinstance(i, ParsedFile) for i in items):
            parsed = list(items)
        elif any(isinstance(i, ParsedFile) for i in items):
            raise TypeError("mix of ParsedFile objects and URLs -> pass one kind")
        else:
            parsed = parse_files(
                items, registry, loadable_variables=loadable_variables, decode_times=decode_times,
                drop_variables=drop_variables, group=group, parallel=parallel, access=access, workers=workers,
            )
        report.parsed = parsed
        report.files = [p.url for p in parsed]
        _analyse(report, urls_or_parsed, concat_dim, combine=combine, coords=coords, data_vars=data_vars,
                 registry=registry, access=access)
    except Exception as exc:  # the check itself could not run
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.fatal = msg if " -> " in msg else f"{type(exc).__name__}: {msg}"
        if not report.files:
            report.files = [str(i.url if isinstance(i, ParsedFile) else i) for i in items]
    return report


def _registry(registry: Any) -> Any:
    """A mapping becomes an ``ObjectStoreRegistry`` (regex keys refused: the registry matches plain prefixes)."""
    if not isinstance(registry, Mapping):
        return registry
    bad = [k for k in registry if looks_like_regex(k)]
    if bad:
        raise SourceError(
            f"registry key {bad[0]!r} looks like a regular expression; ObjectStoreRegistry matches plain "
            "URL prefixes only -> use a key like 's3://bucket', 'https://host' or 'file:///data/dir'"
        )
    from obspec_utils.registry import ObjectStoreRegistry

    return ObjectStoreRegistry(dict(registry))


def _inferred_by_coords(datasets: list[Any], file_dims: list[str]) -> list[str]:
    """Dimensions whose loaded 1-D index coordinate differs between files (what combine_by_coords concatenates)."""
    out = []
    for d in file_dims:
        values = []
        for ds in datasets:
            coord = ds.variables.get(d)
            if coord is None or coord.dims != (d,) or is_virtual(coord):
                break
            values.append(np.asarray(coord.values))
        else:
            if any(v.shape != values[0].shape or not np.array_equal(v, values[0]) for v in values[1:]):
                out.append(d)
    return out


def _near_misses(dims: list[str], file_dims: list[str]) -> list[Finding]:
    """A given concat_dim that is not a dimension: an error when a near-identical one exists (the analysis
    continues with the one meant, ``dims`` is updated); a warning for a flat list (a new dimension)."""
    findings = []
    dims_text = ", ".join(file_dims)
    for pos, cd in enumerate(list(dims)):
        if cd in file_dims:
            continue
        close = [d for d in file_dims if d.lower() == cd.lower()] or difflib.get_close_matches(cd, file_dims, n=1, cutoff=0.75)
        if close:
            fix = f"did you mean {close[0]!r}? (pass concat_dim={close[0]!r})"
            findings.append(Finding(
                "error", None, None, "concat_dim",
                f"concat_dim {cd!r} is not a dimension of the files (dimensions: {dims_text}): the concat would "
                f"silently create a new dimension {cd!r} -> {fix}", fix))
            dims[pos] = close[0]
        elif len(dims) == 1:
            fix = f"fine for stacking files along a new dimension (e.g. ensemble members); otherwise pass one of: {dims_text}"
            findings.append(Finding(
                "warning", None, None, "concat_dim",
                f"concat_dim {cd!r} is not a dimension of the files (dimensions: {dims_text}); the combine creates "
                f"a new dimension {cd!r} -> {fix}", fix))
    return findings


def _resolve_concat(report: CheckReport, like: Any, shape: tuple[int, ...], concat_dim: Any, combine: str,
                    file_dims: list[str]) -> tuple[list[str], list[Finding]]:
    """The concat dims the rules use (and findings about them); sets ``report.concat_dim`` / ``concat_reason``."""
    good = [p for p in report.parsed if p.ok]
    datasets = [p.dataset for p in good]
    if combine == "by_coords":
        dims = _inferred_by_coords(datasets, file_dims) if len(good) > 1 else []
        report.concat_dim = dims[0] if len(dims) == 1 else (dims or None)
        report.concat_reason = "by_coords: " + (", ".join(dims) + " (values differ between files)" if dims else "nothing to concatenate")
        return dims, []
    try:
        if len(shape) > 1:
            grid = nest([p.dataset if p.ok else xr.Dataset() for p in report.parsed], like)
            choice = infer_concat_dim(grid, concat_dim)
        else:
            choice = infer_concat_dim(datasets, concat_dim)  # type: ignore[arg-type]
    except LayoutError as exc:
        report.concat_dim = None
        if len(good) < len(report.parsed):  # the parse errors come first: a file missing may be why
            report.concat_reason = "not resolved: some files could not be parsed"
            return [], []
        msg = str(exc)
        report.concat_reason = "not resolved"
        return [], [Finding("error", None, None, "concat_dim", msg, msg.split(" -> ", 1)[-1])]
    dims = list(choice.dims)
    findings = _near_misses(dims, file_dims) if concat_dim is not None and (len(good) > 1 or len(dims) > 1) else []
    report.concat_dim = choice.value
    report.concat_reason = choice.reason
    return dims, findings


def _analyse(report: CheckReport, like: Any, concat_dim: Any, *, combine: str, coords: Any, data_vars: Any,
             registry: Any, access: Access | None) -> None:
    parsed = report.parsed
    try:
        shape = grid_shape(like) if combine == "nested" and isinstance(like, (list, tuple)) else (len(parsed),)
    except LayoutError as exc:
        msg = str(exc)
        report.findings.append(Finding("error", None, None, "grid", msg, msg.split(" -> ", 1)[-1]))
        shape = (len(parsed),)
        concat_dim = None if concat_dim is None or isinstance(concat_dim, str) else list(concat_dim)[-1]
        like = [p for p in parsed]
    positions = [tuple(int(x) for x in pos) for pos in np.ndindex(*shape)] if shape else [(0,)]
    good_at = [i for i, p in enumerate(parsed) if p.ok]
    good = [parsed[i] for i in good_at]
    file_dims: list[str] = []
    for p in good:
        for d in p.dataset.dims:  # type: ignore[union-attr]
            if str(d) not in file_dims:
                file_dims.append(str(d))
    concat_dims, findings = _resolve_concat(report, like, shape, concat_dim, combine, file_dims)
    report.findings.extend(findings)
    if (registry is None or not hasattr(registry, "resolve")) and good:
        from vzskill.parse import _registry_for  # the rules that read files (FITS headers, sizes) need credentials

        registry = _registry_for([p.url for p in good], access)
    ctx = Context(
        parsed=parsed, good=good, names=_unique_names([p.url for p in good]) if good else [],
        infos=[describe_file(p.dataset, concat_dims) for p in good],  # type: ignore[arg-type]
        file_dims=file_dims, concat_dims=concat_dims, positions=[positions[i] for i in good_at],
        shape=shape if shape else (1,), combine=combine, coords=coords, data_vars=data_vars,
        registry=registry if registry is not None and hasattr(registry, "resolve") else None, access=access,
    )
    for rule in RULES:
        report.findings.extend(rule(ctx))
    report.variables = summarize(ctx)
    report.groups = consistent_groups(ctx)
    order = {u: i for i, u in enumerate(report.files)}
    report.findings.sort(key=lambda f: (SEVERITIES.index(f.severity), order.get(f.file, -1) if f.file else -1))
