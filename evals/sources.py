"""The expected values of an eval task: its source files read by each format's own library.

A task's ``sources`` entry (task.json) names the files (relative to the task folder) and the
``engine`` that reads them; nothing here goes through vzskill or VirtualiZarr:

| engine | reads with | the entry also gives |
|---|---|---|
| ``h5netcdf`` (default), ``scipy`` | xarray | ``concat_dim`` or a ``grid`` + ``concat_dims``; ``group`` |
| ``fits`` | astropy ``fits.getdata`` | ``variable``, ``dims`` |
| ``eccodes`` | eccodes, message by message | ``fields`` (repository name -> eccodes shortName) |
| ``tifffile`` | tifffile ``imread``, stacked along the first dim | ``variable``, ``dims``, ``coords`` (dates) |
| ``pyhdf`` | pyhdf ``SD`` | ``dims`` (SDS name -> its dims) |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _open_source_file(path: Path, engine: str, group: str | None = None) -> Any:
    import xarray as xr

    return xr.open_dataset(path, engine=engine, group=group).load()


def _fits(spec: dict[str, Any], task_dir: Path) -> Any:
    import xarray as xr
    from astropy.io import fits

    path = task_dir / spec["files"][0]
    return xr.Dataset({spec.get("variable", "PRIMARY"): (spec["dims"], fits.getdata(path, 0))})


def _grib_messages(path: Path) -> list[dict[str, Any]]:
    """Every message of a GRIB file decoded by eccodes: shortName, valid time, 2-D values, the grid's axes."""
    import eccodes
    import numpy as np

    messages = []
    with open(path, "rb") as fh:
        while (handle := eccodes.codes_grib_new_from_file(fh)) is not None:
            try:
                ny, nx = eccodes.codes_get(handle, "Nj"), eccodes.codes_get(handle, "Ni")
                date, hhmm = eccodes.codes_get(handle, "validityDate"), eccodes.codes_get(handle, "validityTime")
                when = np.datetime64(f"{str(date)[:4]}-{str(date)[4:6]}-{str(date)[6:]}T{hhmm // 100:02d}:{hhmm % 100:02d}", "ns")
                messages.append({
                    "name": eccodes.codes_get(handle, "shortName"), "time": when,
                    "values": eccodes.codes_get_values(handle).reshape(ny, nx),
                    "latitude": eccodes.codes_get_array(handle, "latitudes").reshape(ny, nx)[:, 0],
                    "longitude": eccodes.codes_get_array(handle, "longitudes").reshape(ny, nx)[0, :],
                })
            finally:
                eccodes.codes_release(handle)
    return messages


def _eccodes(spec: dict[str, Any], task_dir: Path) -> Any:
    """Fields stacked along time in file then message order; coordinates from the first field's messages."""
    import numpy as np
    import xarray as xr

    messages = [m for f in spec["files"] for m in _grib_messages(task_dir / f)]
    data: dict[str, Any] = {}
    first = None
    for name, short in spec["fields"].items():
        mine = [m for m in messages if m["name"] == short]
        assert mine, f"no {short!r} messages in the source files"
        first = first or mine
        data[name] = (("time", "latitude", "longitude"), np.stack([m["values"] for m in mine]))
    assert first is not None, "no fields named in the task's source entry"
    coords = {"time": [m["time"] for m in first], "latitude": first[0]["latitude"], "longitude": first[0]["longitude"]}
    return xr.Dataset(data, coords=coords)


def _tifffile(spec: dict[str, Any], task_dir: Path) -> Any:
    import numpy as np
    import tifffile
    import xarray as xr

    images = [tifffile.imread(task_dir / f) for f in spec["files"]]
    values = images[0] if len(spec["dims"]) == images[0].ndim else np.stack(images)
    coords = {dim: np.array(dates, dtype="datetime64[ns]") for dim, dates in spec.get("coords", {}).items()}
    return xr.Dataset({spec.get("variable", "0"): (spec["dims"], values)}, coords=coords)


def _pyhdf(spec: dict[str, Any], task_dir: Path) -> Any:
    import xarray as xr
    from pyhdf.SD import SD, SDC

    handle = SD(str(task_dir / spec["files"][0]), SDC.READ)
    try:
        data = {}
        for name, dims in spec["dims"].items():
            sds = handle.select(name)
            data[name] = (dims, sds.get())
            sds.endaccess()
    finally:
        handle.end()
    return xr.Dataset(data)


READERS = {"fits": _fits, "eccodes": _eccodes, "tifffile": _tifffile, "pyhdf": _pyhdf}


def source_dataset(spec: dict[str, Any], task_dir: Path) -> Any:
    """The expected dataset: the source files opened with their format's reader and combined."""
    import xarray as xr

    engine = spec.get("engine", "h5netcdf")
    if engine in READERS:
        return READERS[engine](spec, task_dir)
    options: dict[str, Any] = {"data_vars": "minimal", "coords": "minimal", "compat": "override", "combine_attrs": "override"}
    if "grid" in spec:
        grid = [[_open_source_file(task_dir / f, engine) for f in row] for row in spec["grid"]]
        return xr.combine_nested(grid, concat_dim=spec["concat_dims"], **{**options, "data_vars": "all"})
    parts = [_open_source_file(task_dir / f, engine, spec.get("group")) for f in spec["files"]]
    return parts[0] if len(parts) == 1 else xr.concat(parts, dim=spec.get("concat_dim", "time"), **options)
