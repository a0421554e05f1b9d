"""Independent ground truth for the corpus test: no vzskill code on either side.

The source is read with its own format library (h5py for HDF5/NetCDF4, netCDF4 for NetCDF3,
astropy for FITS) and the repository with icechunk + zarr directly (containers authorized from
the repository's own config), so a verify() bug cannot hide itself.

Values are compared *raw* first (stored values: no CF decoding); when they differ, both sides are
CF-decoded with :func:`xarray.decode_cf` (the repo may hold a loaded, re-encoded coordinate, e.g.
a time axis rewritten as int64 "days since ..."): equal decoded values count as equal. FITS
images with BSCALE/BZERO are compared against ``BZERO + BSCALE * stored`` in float64 (the
VirtualiZarr FITS parser exposes the physical values) with rtol 1e-12.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NETCDF_DIM_ONLY = b"This is a netCDF dimension but not a netCDF variable"


@dataclass
class SourceVar:
    values: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    scaled: bool = False  # FITS: values already scaled to physical float64
    error: str | None = None  # this variable could not be read by the format's own library


@dataclass
class Comparison:
    """Result of comparing every repository array with the source."""

    compared: list[str] = field(default_factory=list)  # array names with equal values
    n_values: int = 0  # values compared and equal
    differ: list[str] = field(default_factory=list)  # "name: how"
    missing_in_repo: list[str] = field(default_factory=list)  # source variables not in the repo
    extra_in_repo: list[str] = field(default_factory=list)  # repo arrays with no source counterpart
    error: str | None = None  # the repository (or source) could not be read

    @property
    def equal(self) -> bool:
        return self.error is None and not self.differ and not self.extra_in_repo and self.n_values > 0


# ----------------------------------------------------------------------------- sources


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.size == 1:
        return v.reshape(()).item()
    return v


def _h5_vars(path: Path) -> dict[str, SourceVar]:
    import h5py

    out: dict[str, SourceVar] = {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():  # root group only: virtualize(group=None) reads the root
            if not isinstance(obj, h5py.Dataset):
                continue
            name_attr = obj.attrs.get("NAME")
            if isinstance(name_attr, bytes) and name_attr.startswith(NETCDF_DIM_ONLY):
                continue  # a bare netCDF dimension, not a variable
            attrs = {k: _attr(v) for k, v in obj.attrs.items() if k not in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME")}
            out[name] = SourceVar(obj[()] if obj.shape != () else np.asarray(obj[()]), attrs)
    return out


def _nc3_vars(path: Path) -> dict[str, SourceVar]:
    import netCDF4

    out: dict[str, SourceVar] = {}
    with netCDF4.Dataset(path, "r") as ds:
        ds.set_auto_maskandscale(False)
        ds.set_auto_chartostring(False)
        for name, var in ds.variables.items():
            out[name] = SourceVar(np.asarray(var[...]), {k: _attr(var.getncattr(k)) for k in var.ncattrs()})
    return out


def fits_hdu_names(hdul: Any) -> list[str]:
    """HDU names as the VirtualiZarr FITS parser gives them (``EXTNAME`` or index; repeats get ``_index``)."""
    names: list[str] = []
    for index, hdu in enumerate(hdul):
        name = hdu.name or str(index)
        names.append(f"{name}_{index}" if name in names else name)
    return names


def _fits_vars(path: Path) -> dict[str, SourceVar]:
    from astropy.io import fits

    out: dict[str, SourceVar] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, do_not_scale_image_data=True) as hdul:
            for name, hdu in zip(fits_hdu_names(hdul), hdul):
                try:
                    if hdu.header.get("NAXIS", 0) == 0 or hdu.data is None:
                        continue
                except Exception as exc:  # noqa: BLE001 - e.g. a truncated data part: only matters if the repo holds it
                    out[name] = SourceVar(np.zeros(0), error=f"{type(exc).__name__}: {exc}")
                    continue
                h = hdu.header
                if getattr(hdu, "columns", None) is not None:  # a table: the converted column values
                    names = list(hdu.columns.names)
                    try:
                        out[name] = SourceVar(np.rec.fromarrays([np.asarray(hdu.data[n]) for n in names], names=names))
                    except Exception as exc:  # noqa: BLE001 - multi-dim / variable-length columns
                        out[name] = SourceVar(np.zeros(0), error=f"table not comparable: {type(exc).__name__}: {exc}")
                    continue
                data = np.asarray(hdu.data)
                if "BSCALE" in h or "BZERO" in h:
                    data = float(h.get("BZERO", 0)) + float(h.get("BSCALE", 1)) * data.astype("float64")
                    out[name] = SourceVar(data, scaled=True)
                else:
                    out[name] = SourceVar(data)
    return out


def opens_cleanly(path: Path, kind: str) -> bool:
    """The format's own library opens the file and reads every data part (raw): a valid file."""
    try:
        if kind == "hdf5":
            import h5py

            with h5py.File(path, "r") as f:
                f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
        elif kind == "netcdf3":
            _nc3_vars(path)
        elif kind == "fits":
            from astropy.io import fits

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with fits.open(path, do_not_scale_image_data=True) as hdul:
                    for hdu in hdul:
                        _ = hdu.data
        else:
            return False
        return True
    except Exception:  # noqa: BLE001
        return False


def source_variables(path: Path, kind: str) -> dict[str, SourceVar]:
    """Every variable of the file's root group, read by the format's own library."""
    if kind == "hdf5":
        return _h5_vars(path)
    if kind == "netcdf3":
        return _nc3_vars(path)
    if kind == "fits":
        return _fits_vars(path)
    raise ValueError(f"no independent reader for {kind}")


# ----------------------------------------------------------------------------- repository


def open_repo_readonly(repo_path: Path) -> Any:
    """A read-only icechunk session on main, every declared container authorized (icechunk API only)."""
    import icechunk

    storage = icechunk.local_filesystem_storage(os.fspath(repo_path))
    config = icechunk.Repository.fetch_config(storage)
    prefixes = list(config.virtual_chunk_containers or {}) if config is not None else []
    auth = {p: icechunk.credentials.LocalFileSystemAccess for p in prefixes if p.startswith("file://")}
    repo = icechunk.Repository.open(storage, authorize_virtual_chunk_access=auth or None)
    return repo.readonly_session(branch="main")


def repo_arrays(repo_path: Path) -> dict[str, Any]:
    """Root-level zarr arrays of the repository's main branch."""
    import zarr

    session = open_repo_readonly(repo_path)
    group = zarr.open_group(session.store, mode="r")
    return {name: arr for name, arr in group.arrays()}


def read_all(repo_path: Path) -> int:
    """Read every root array of the repository (raises what zarr/icechunk raise); the number of values."""
    return sum(int(np.asarray(arr[...]).size) for arr in repo_arrays(repo_path).values())


def repo_is_untouched(repo_path: Path) -> tuple[bool, str]:
    """(True, "") when nothing was written: no repository, or main holds only the initial snapshot and no arrays."""
    import icechunk
    import zarr

    if not repo_path.exists():
        return True, ""
    storage = icechunk.local_filesystem_storage(os.fspath(repo_path))
    if not icechunk.Repository.exists(storage):
        return True, ""
    repo = icechunk.Repository.open(storage)
    snaps = list(repo.ancestry(branch="main"))
    if len(snaps) > 1:
        return False, f"main has {len(snaps) - 1} commit(s) after the initial snapshot"
    try:
        members = list(zarr.open_group(repo.readonly_session(branch="main").store, mode="r").array_keys())
    except Exception:  # noqa: BLE001 - initial snapshot without a root group: nothing written
        members = []
    if members:
        return False, f"main holds arrays {members[:3]}"
    return True, ""


# ----------------------------------------------------------------------------- comparison


def _values_equal(a: np.ndarray, b: np.ndarray, *, rtol: float = 0.0) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.names or b.dtype.names:
        if set(a.dtype.names or ()) != set(b.dtype.names or ()):
            return False
        return all(_values_equal(np.asarray(a[n]), np.asarray(b[n]), rtol=rtol) for n in a.dtype.names)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        try:
            return bool(np.allclose(a.astype(np.result_type(a.dtype, b.dtype, np.float64)),
                                    b.astype(np.result_type(a.dtype, b.dtype, np.float64)),
                                    rtol=rtol, atol=0.0, equal_nan=True))
        except (TypeError, ValueError):
            return False
    if a.dtype.kind in "OSUa" or b.dtype.kind in "OSUa":
        def norm(x: np.ndarray) -> np.ndarray:
            flat = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in x.ravel().tolist()]
            return np.array(flat, dtype=object).reshape(x.shape)
        return bool(np.array_equal(norm(a), norm(b)))
    try:
        return bool(np.array_equal(a, b))
    except (TypeError, ValueError):
        return False


def _decoded_equal(name: str, src: SourceVar, repo_values: np.ndarray, repo_attrs: dict[str, Any], dims: tuple[str, ...]) -> bool:
    import xarray as xr

    try:
        a = xr.decode_cf(xr.Dataset({name: (dims, src.values, src.attrs)}))[name].values
        b = xr.decode_cf(xr.Dataset({name: (dims, repo_values, {k: v for k, v in repo_attrs.items() if k != "_ARRAY_DIMENSIONS"})}))[name].values
    except Exception:  # noqa: BLE001 - not CF-decodable: raw comparison stands
        return False
    if a.dtype.kind == "M" and b.dtype.kind == "M":
        return bool(np.array_equal(a.astype("datetime64[ns]"), b.astype("datetime64[ns]"), equal_nan=True))
    return _values_equal(np.asarray(a), np.asarray(b))


def compare(source: Path, kind: str, repo_path: Path, *, dropped: list[str] | None = None) -> Comparison:
    """Compare every root array of ``repo_path`` with ``source`` read by its own library."""
    out = Comparison()
    try:
        src = source_variables(source, kind)
    except Exception as exc:  # noqa: BLE001
        out.error = f"source unreadable by its own library: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return out
    try:
        arrays = repo_arrays(repo_path)
        loaded = {name: (np.asarray(arr[...]), dict(arr.attrs), tuple(getattr(arr.metadata, "dimension_names", None) or ()))
                  for name, arr in arrays.items()}
    except Exception as exc:  # noqa: BLE001
        out.error = f"repository unreadable with zarr: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return out
    dropped_set = set(dropped or ())
    out.missing_in_repo = sorted(n for n in src if n not in loaded and n not in dropped_set)
    for name, (values, attrs, dims) in sorted(loaded.items()):
        if name not in src:
            out.extra_in_repo.append(name)
            continue
        s = src[name]
        if s.error:
            out.differ.append(f"{name}: in the repo, but its own library cannot read it: {s.error}")
            continue
        sv = np.asarray(s.values)
        if values.shape != sv.shape:
            out.differ.append(f"{name}: shape {values.shape} in repo, {sv.shape} in source")
            continue
        dims = dims if len(dims) == values.ndim else tuple(f"d{i}" for i in range(values.ndim))
        if _values_equal(values, sv, rtol=1e-12 if s.scaled else 0.0) or _decoded_equal(name, s, values, attrs, dims):
            out.compared.append(name)
            out.n_values += int(values.size)
        else:
            out.differ.append(f"{name}: values differ ({values.dtype} in repo vs {sv.dtype} in source)")
    return out
