"""Task single_file_no_time: one real NetCDF4 file without a time dimension: xarray's test file bears.nc
(an OPeNDAP sample: int16/int32/float32/float64 and a char variable on dims i, j), copied into NetCDF4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import local_task


def bears_nc() -> Path:
    """xarray's tests/data/bears.nc (NetCDF3) in the installed xarray."""
    import xarray

    return Path(xarray.__file__).parent / "tests" / "data" / "bears.nc"


def to_netcdf4(source: Path, target: Path) -> Path:
    """Copy dims, variables (raw values, chars as chars) and attributes into a NetCDF4 file, 2-D variables zlib-chunked."""
    import netCDF4

    target.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(source) as src, netCDF4.Dataset(target, "w", format="NETCDF4") as dst:
        src.set_auto_maskandscale(False)
        dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
        for name, dim in src.dimensions.items():
            dst.createDimension(name, len(dim))
        for name, var in src.variables.items():
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
            out = dst.createVariable(name, var.datatype, var.dimensions, zlib=len(var.dimensions) > 1, fill_value=fill)
            out.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            var.set_auto_chartostring(False)
            out.set_auto_chartostring(False)
            out[:] = var[:]
    return target


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out single_file_no_time: inputs/bears.nc (NetCDF4, dims i 2, j 3, l 3; no time)."""
    path = to_netcdf4(bears_nc(), task_dir / "inputs" / "bears.nc")
    return local_task(task_dir, "single_file_no_time", [path], repo="output/bears.icechunk")
