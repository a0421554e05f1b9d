"""Realistic sample archives, generated on demand (demo, tests, docs, benchmarks).

All files follow one layout so that the variants differ from the series in exactly one
property:

* ``temperature(time, lat, lon)`` float32, ``precipitation(time, lat, lon)`` float32,
  1-D coordinates ``time`` (CF ``days since 2024-01-01``), ``lat``, ``lon``;
* HDF5 chunks ``(1, 10, 15)``, zlib level 4 + shuffle (NetCDF4 via h5netcdf);
* values are deterministic per file index, so any read-back can be compared exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

NY, NX = 20, 30
N_TIME = 4
CHUNKS = (1, 10, 15)
TIME_UNITS = "days since 2024-01-01"
DATA_VARS = ("temperature", "precipitation")


def sample_dataset(index: int, n_time: int = N_TIME, ny: int = NY, nx: int = NX, dtype: str = "float32") -> xr.Dataset:
    """The ``index``-th slice of the time series as an in-memory dataset (decoded times)."""
    rng = np.random.default_rng(1000 + index)
    days = np.arange(index * n_time, (index + 1) * n_time)
    time = np.datetime64("2024-01-01", "ns") + days.astype("timedelta64[D]")
    lat = np.linspace(-47.5, 47.5, ny).astype("float64")
    lon = np.linspace(0.0, 348.0, nx).astype("float64")
    base = 15 + 10 * np.cos(np.deg2rad(lat))[None, :, None]
    temperature = (base + rng.normal(0, 2, (n_time, ny, nx))).astype(dtype)
    precipitation = rng.gamma(0.5, 2.0, (n_time, ny, nx)).astype(dtype)
    ds = xr.Dataset(
        {
            "temperature": (("time", "lat", "lon"), temperature, {"units": "degC", "standard_name": "air_temperature"}),
            "precipitation": (("time", "lat", "lon"), precipitation, {"units": "mm/day", "standard_name": "precipitation_amount"}),
        },
        coords={
            "time": ("time", time, {"standard_name": "time", "axis": "T"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"title": "vzskill sample archive", "source": f"file index {index}", "Conventions": "CF-1.8"},
    )
    return ds


def encoding_for(
    ds: xr.Dataset,
    *,
    chunks: tuple[int, ...] = CHUNKS,
    complevel: int | None = 4,
    shuffle: bool = True,
    time_units: str = TIME_UNITS,
    scale_factor: float | None = None,
) -> dict[str, dict[str, Any]]:
    """NetCDF4 encoding: chunking + zlib for data variables, CF units for time."""
    enc: dict[str, dict[str, Any]] = {}
    for name in ds.data_vars:
        e: dict[str, Any] = {"chunksizes": chunks, "_FillValue": np.float32(-9999.0) if ds[name].dtype == np.float32 else -9999.0}
        if complevel:
            e.update(zlib=True, complevel=complevel, shuffle=shuffle)
        if scale_factor is not None:
            e.update(scale_factor=scale_factor, add_offset=0.0, dtype="int16", _FillValue=np.int16(-32767))
        enc[str(name)] = e
    enc["time"] = {"units": time_units, "calendar": "standard", "dtype": "int32"}
    return enc


def write_file(path: str | os.PathLike[str], index: int, *, fmt: str = "NETCDF4", **encoding: Any) -> Path:
    """Write the ``index``-th slice of the series to ``path`` (``fmt='NETCDF3_CLASSIC'`` for NetCDF3)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = encoding.pop("dtype", "float32")
    ds = sample_dataset(index, dtype=dtype)
    if fmt == "NETCDF3_CLASSIC":
        enc = {"time": {"units": encoding.get("time_units", TIME_UNITS), "calendar": "standard", "dtype": "int32"}}
        enc.update({str(v): {"_FillValue": np.float32(-9999.0)} for v in ds.data_vars})
        ds.to_netcdf(path, format="NETCDF3_CLASSIC", engine="scipy", encoding=enc)
    else:
        ds.to_netcdf(path, engine="h5netcdf", encoding=encoding_for(ds, **encoding))
    return path


def make_series(dest: str | os.PathLike[str], n_files: int = 3, *, name: str = "temp", start: int = 0, **encoding: Any) -> list[Path]:
    """``n_files`` consecutive files ``{name}_000.nc`` ... in ``dest`` (same layout, consecutive times)."""
    dest = Path(dest)
    return [write_file(dest / f"{name}_{i:03d}.nc", i, **dict(encoding)) for i in range(start, start + n_files)]


# Variants: each continues the series in time (index = n_files) but differs in one property.
VARIANTS: dict[str, dict[str, Any]] = {
    "other_chunks": {"chunks": (1, 20, 30)},
    "other_level": {"complevel": 9},
    "no_shuffle": {"shuffle": False},
    "no_compression": {"complevel": None},
    "float64": {"dtype": "float64"},
    "other_time_units": {"time_units": "hours since 2024-01-05"},
    "scale_factor": {"scale_factor": 0.01},
}


def make_variant(dest: str | os.PathLike[str], kind: str, index: int = 3) -> Path:
    """One deliberately inconsistent file, ``{kind}.nc``; ``kind`` in :data:`VARIANTS` or ``'netcdf3'``."""
    dest = Path(dest)
    if kind == "netcdf3":
        return write_file(dest / "netcdf3.nc", index, fmt="NETCDF3_CLASSIC")
    if kind not in VARIANTS:
        raise ValueError(f"unknown variant {kind!r} -> one of {', '.join([*VARIANTS, 'netcdf3'])}")
    return write_file(dest / f"{kind}.nc", index, **dict(VARIANTS[kind]))


def make_variants(dest: str | os.PathLike[str], index: int = 3) -> dict[str, Path]:
    """Every variant of :data:`VARIANTS` plus NetCDF3 classic, keyed by kind."""
    return {kind: make_variant(dest, kind, index) for kind in [*VARIANTS, "netcdf3"]}


def make_ensemble(dest: str | os.PathLike[str], members: int = 2, n_files: int = 2) -> list[list[Path]]:
    """``members`` x ``n_files`` grid of files ``ens{m}/temp_{t}.nc`` (nested combine, ensemble x time)."""
    dest = Path(dest)
    grid = []
    for m in range(members):
        row = []
        for t in range(n_files):
            path = dest / f"ens{m}" / f"temp_{t:03d}.nc"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds = sample_dataset(t)
            ds["temperature"] = ds["temperature"] + np.float32(m)
            ds.attrs["member"] = m
            ds.to_netcdf(path, engine="h5netcdf", encoding=encoding_for(ds))
            row.append(path)
        grid.append(row)
    return grid


def make_grouped(path: str | os.PathLike[str]) -> Path:
    """A NetCDF4 file with two groups, ``/surface`` and ``/upper`` (for ``HDFParser(group=)`` and datatrees)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    surface = sample_dataset(0)
    upper = sample_dataset(1)
    upper = upper.assign_coords(time=surface.time)
    surface.to_netcdf(path, engine="h5netcdf", group="surface", mode="w", encoding=encoding_for(surface))
    upper.to_netcdf(path, engine="h5netcdf", group="upper", mode="a", encoding=encoding_for(upper))
    return path


def make_with_bounds(path: str | os.PathLike[str]) -> Path:
    """A file with ``time_bnds`` and a scalar ``crs`` variable (what ``drop_variables`` is for)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = sample_dataset(0)
    t = ds.time.values
    ds["time_bnds"] = (("time", "nv"), np.stack([t, t + np.timedelta64(1, "D")], axis=1))
    ds["time"].attrs["bounds"] = "time_bnds"
    ds["crs"] = ((), np.int32(0), {"grid_mapping_name": "latitude_longitude"})
    enc = encoding_for(ds.drop_vars(["time_bnds", "crs"]))
    enc["time_bnds"] = {"units": TIME_UNITS, "dtype": "int32"}
    ds.to_netcdf(path, engine="h5netcdf", encoding=enc)
    return path


def make_fits(path: str | os.PathLike[str], shape: tuple[int, int] = (64, 48)) -> Path:
    """A FITS image (primary HDU, float32) with deterministic values."""
    from astropy.io import fits

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.arange(shape[0] * shape[1], dtype=">f4").reshape(shape) / 7.0
    fits.PrimaryHDU(data).writeto(path, overwrite=True)
    return path


def make_bad_inputs(dest: str | os.PathLike[str]) -> dict[str, Path]:
    """Files that cannot be virtualized as they are, keyed by kind.

    ``corrupt`` (HDF5 signature, garbage after), ``truncated`` (a valid file cut in half),
    ``text`` (a text file named .nc), ``empty`` (0 bytes), ``lzf`` (h5py LZF filter),
    ``vlen_int`` (variable-length int array), ``object_ref`` (HDF5 object references).
    """
    import h5py

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    good = write_file(dest / "_good.nc", 0)
    raw = good.read_bytes()
    out["truncated"] = dest / "truncated.nc"
    out["truncated"].write_bytes(raw[: len(raw) // 2])
    out["corrupt"] = dest / "corrupt.nc"
    out["corrupt"].write_bytes(raw[:8] + bytes(range(256)) * 64)
    out["text"] = dest / "text.nc"
    out["text"].write_text("this is not a netCDF file\n")
    out["empty"] = dest / "empty.nc"
    out["empty"].write_bytes(b"")
    good.unlink()

    out["lzf"] = dest / "lzf.nc"
    with h5py.File(out["lzf"], "w") as f:
        f.create_dataset("x", data=np.arange(400, dtype="f4").reshape(20, 20), chunks=(10, 10), compression="lzf")
    out["vlen_int"] = dest / "vlen_int.nc"
    with h5py.File(out["vlen_int"], "w") as f:
        f.create_dataset("values", data=np.arange(10, dtype="f4"))
        ragged = f.create_dataset("ragged", (3,), dtype=h5py.vlen_dtype(np.int32))
        for i in range(3):
            ragged[i] = np.arange(i + 1, dtype=np.int32)
    out["object_ref"] = dest / "object_ref.nc"
    with h5py.File(out["object_ref"], "w") as f:
        target = f.create_dataset("values", data=np.arange(10, dtype="f4"))
        refs = f.create_dataset("refs", (1,), dtype=h5py.ref_dtype)
        refs[0] = target.ref
    return out


def make_all(dest: str | os.PathLike[str], n_files: int = 3) -> dict[str, Any]:
    """Everything above under ``dest``: ``series``, ``variants``, ``ensemble``, ``grouped``, ``bounds``, ``fits``, ``bad``."""
    dest = Path(dest)
    return {
        "series": make_series(dest / "series", n_files),
        "variants": make_variants(dest / "variants", index=n_files),
        "ensemble": make_ensemble(dest / "ensemble"),
        "grouped": make_grouped(dest / "grouped" / "groups.nc"),
        "bounds": make_with_bounds(dest / "bounds" / "with_bounds.nc"),
        "fits": make_fits(dest / "fits" / "image.fits"),
        "bad": make_bad_inputs(dest / "bad"),
    }
