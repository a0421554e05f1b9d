"""Why a parse failed, from the file's own metadata: an unsupported feature (named) or proven damage.

Called by :func:`vzskill.errors.explain` for a parser's failure. The probes of
:mod:`vzskill.features` read the structure with the format's reference library; a valid file
gets an ``unsupported`` problem naming the variable, the feature and the option that works,
and ``corrupt`` is said only when the bytes prove it (h5py/astropy cannot open it, or the file
is shorter than its header says).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from vzskill.errors import REDOWNLOAD, Problem, _problem
from vzskill.features import Feature, Findings, Unreadable, first_line, features, hdf5_truncation

_FORMAT_NAMES = {"hdf5": "HDF5", "netcdf3": "NetCDF3", "fits": "FITS", "kerchunk-json": "Kerchunk JSON"}


def _drop_fix(kind: str, names: Sequence[str]) -> str:
    names = list(dict.fromkeys(names))
    if kind == "hdf5":
        return f"HDFParser(drop_variables={names!r})"
    parser = {"netcdf3": "NetCDF3Parser", "fits": "FITSParser"}.get(kind, "the parser")
    cli = " ".join(f"--drop {n!r}" if " " in n else f"--drop {n}" for n in names)
    return f"drop_variables={names!r} ({cli}; {parser}(skip_variables={names!r}))"


def _corrupt(name: str, kind: str, url: str, registry: Any, reason: str) -> Problem:
    if kind == "hdf5":
        try:
            short = hdf5_truncation(url, registry)
        except Exception:  # noqa: BLE001 - the open failure below still says what h5py saw
            short = None
        if short is not None:
            fix = "re-download it (incomplete transfer), or remove it from the list"
            return _problem("corrupt", f"{name}: truncated HDF5 file ({short[0]} of {short[1]} bytes)", fix)
        reason = reason.replace("Unable to synchronously open file", "").strip().strip("()")
    return _problem("corrupt", f"{name}: corrupt {_FORMAT_NAMES.get(kind, kind)} file ({reason})", REDOWNLOAD)


def explain_parse_failure(exc: BaseException, url: str, name: str, kind: str, registry: Any) -> Problem | None:
    """The :class:`Problem` behind a parser's ``exc``, or None when the metadata show no cause."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy's VerifyWarning on damaged headers
            found = features(kind, url, registry)
    except Unreadable as bad:
        return _corrupt(name, kind, url, registry, str(bad))
    except Exception:  # noqa: BLE001 - the probe could not read it either: let the caller say the exception
        return None
    causes = [f for f in found if f.what != "compact"] or list(found)
    if not causes:
        return None
    problem = describe(causes, name, kind, cause=f"{type(exc).__name__}: {first_line(exc)}")
    if isinstance(found, Findings) and found.leaves_nothing and found.variables:
        if len(found.variables) <= 3:
            dropping = _drop_fix(kind, found.variables)
        else:
            dropping = "dropping " + ", ".join(found.variables[:3]) + ", ..."
        fix = f"skip the file (remove it from the list): it holds no other data, {dropping} leaves nothing"
        return _problem(problem.kind, problem.message.split(" -> ", 1)[0], fix, problem.variable)
    return problem


_SIMPLE = {  # feature -> (what the message says after "variable 'v'", the fix drops every variable alike)
    "vlen": ("is a variable-length (ragged) array, which cannot be virtualized", False),
    "object": ("has an object dtype HDFParser cannot virtualize", False),
    "attribute": ("has attribute '{detail}' with complex or compound values, which Zarr metadata (JSON) cannot hold",
                  True),
    "char_fill": ("is a char (text) variable with a _FillValue, which NetCDF3Parser cannot decode", True),
}


def describe(causes: list[Feature], name: str, kind: str, cause: str = "") -> Problem:
    """One-line ``unsupported`` problem for the first cause (the fix drops every variable of the same feature)."""
    first = causes[0]
    var, what = first.variable, first.what
    same = [f.variable for f in causes if f.what == what] or [var]
    every = [f.variable for f in causes]
    if what == "reference":
        fix = f"{_drop_fix(kind, [var])} (HDFParser(links_and_references=True) works only if the file has dimension scales)"
        return _problem("unsupported", f"{name}: variable '{var}' holds HDF5 object references", fix, var)
    if what in _SIMPLE:
        text, all_alike = _SIMPLE[what]
        return _problem("unsupported", f"{name}: variable '{var}' {text.format(detail=first.detail)}",
                        _drop_fix(kind, same if all_alike else [var]), var)
    if what == "filter":
        fix = f"{_drop_fix(kind, same)}, or rewrite the file with zlib (nccopy -d 4 -s)"
        return _problem("unsupported", f"{name}: variable '{var}' uses the {first.detail} filter, which has no Zarr "
                        "codec", fix, var)
    if what == "external":
        fix = f"{_drop_fix(kind, same)}, or repack the file so the data are inside it (h5repack)"
        return _problem("unsupported", f"{name}: variable '{var}' uses HDF5 external storage (its data are in "
                        f"{first.detail}, outside the file)", fix, var)
    if what == "compact":
        fix = f"{_drop_fix(kind, [var])} and write its values separately, or repack the file (h5repack -l {var}:CONTI)"
        return _problem("unsupported", f"{name}: variable '{var}' uses HDF5 compact storage", fix, var)
    if what in ("binary_table", "hdu_type", "zero_length"):
        feature = {"binary_table": "is a binary table (Zarr cannot record its big-endian columns)",
                   "zero_length": "has a zero-length axis (no chunk can describe it)"}.get(
            what, f"is a {first.detail}, which FITSParser cannot virtualize")
        more = f" ({len(every) - 1} more HDU(s) like it)" if len(every) > 1 else ""
        fix = _drop_fix(kind, every) + (", or skip the file" if len(every) > 1 else "")
        return _problem("unsupported", f"{name}: HDU '{var}' {feature}{more}", fix, var)
    if what == "inlined":
        fix = ("re-create the references fully virtual (loadable_variables=[] before to_kerchunk, or zarr_format=3), "
               "or read them with xr.open_dataset(refs, engine='kerchunk')")
        return _problem("unsupported", f"{name}: Kerchunk references with inlined (loaded) values in '{var}' cannot "
                        "be re-opened by the Kerchunk parser ({cause})", fix, var)
    return _problem("unsupported", f"{name}: variable '{var}' uses {what} {first.detail}".rstrip(),
                    _drop_fix(kind, [var]), var)
