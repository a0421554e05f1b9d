"""Reference solution for fits_image: examples.md "FITS files" (FITSParser) written to a repository."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['FITS files']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """FITSParser -> virtual PRIMARY(PRIMARY_y, PRIMARY_x) -> one commit; compared with astropy."""
    import icechunk
    import numpy as np
    import virtualizarr as vz
    import xarray as xr
    from astropy.io import fits
    from virtualizarr.parsers import FITSParser

    import vzskill
    from vzskill.registry import build_registry

    path = Path(task_dir).resolve() / "inputs" / "images" / "frame.fits"
    url = f"file://{path}"
    registry = build_registry([url])
    vds = vz.open_virtual_dataset(url, registry=registry, parser=FITSParser())
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "frame.icechunk"))
    repo = vzskill.create_repo(storage, [url])
    with repo.transaction("main", message="frame.fits") as store:
        vds.vz.to_icechunk(store)
    ds = xr.open_zarr(vzskill.open_repo(storage).readonly_session("main").store, consolidated=False, zarr_format=3)
    np.testing.assert_array_equal(ds["PRIMARY"].values, fits.getdata(path))


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
