"""``vzskill demo``: sample files -> a repository -> the values read back and compared with the files."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vzskill.cli_output import PROG, CLIError, _emit_json, _Progress


def _demo_dir(args: argparse.Namespace) -> Path:
    if args.dir:
        root = Path(args.dir).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root
    import tempfile

    return Path(tempfile.mkdtemp(prefix="vzskill-demo-"))


def cmd_demo(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    import shutil

    import icechunk
    import numpy as np
    import xarray as xr

    from vzskill import fixtures
    from vzskill.repo import open_location, storage_for
    from vzskill.write import virtualize

    root = _demo_dir(args)
    data_dir, repo_dir = root / "data", root / "repo"
    if repo_dir.exists():
        if icechunk.Repository.exists(storage_for(repo_dir)):
            shutil.rmtree(repo_dir)  # the demo's own repository from an earlier run
        elif any(repo_dir.iterdir()):
            raise CLIError(f"{repo_dir} exists and is not a vzskill demo repository -> pass another --dir")
    with _Progress(None if not args.json else False) as progress:
        progress("make sample files", 0, args.files)
        files = fixtures.make_series(data_dir, args.files)
        progress("make sample files", args.files, args.files)
        result = virtualize([str(f) for f in files], str(repo_dir), concat_dim="time", message="vzskill demo", progress=progress)

        progress("read back + compare", 0, 1)
        repo = open_location(repo_dir)
        stored = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3, chunks=None)
        direct = xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], dim="time")
        compared: dict[str, bool] = {}
        for name in [*fixtures.DATA_VARS, "time", "lat", "lon"]:
            a, b = stored[name].values, direct[name].values
            compared[name] = bool(a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b))
        lat_dims = tuple(map(str, stored["lat"].dims))
        progress("read back + compare", 1, 1)
    equal = all(compared.values()) and lat_dims == ("lat",)
    seconds = round(time.perf_counter() - t0, 2)
    summary = {
        "equal": equal,
        "compared": compared,
        "files": [str(f) for f in files],
        "repo": str(repo_dir),
        "snapshot_id": result.snapshot_id,
        "branch": result.branch,
        "variables": result.variables,
        "dims": result.dims,
        "nrefs": result.nrefs,
        "seconds": seconds,
    }
    if args.json:
        _emit_json(summary)
    else:
        print(f"vzskill demo: {len(files)} NetCDF4 files in {data_dir}")
        print(f"  virtualized into icechunk repo {repo_dir} (branch main, snapshot {result.snapshot_id})")
        print(f"  {', '.join(result.variables)}: dims {result.dims}, {result.nrefs} virtual chunk references")
        status = "EQUAL" if equal else "DIFFERENT: " + ", ".join(k for k, v in compared.items() if not v)
        print(f"  read back through icechunk vs direct h5netcdf read: {status}")
        print(f"  done in {seconds} s")
    if not equal:
        sys.stderr.write(f"{PROG} demo: values read back differ from the source files ({', '.join(k for k, v in compared.items() if not v) or 'lat dims'})\n")
        return 1
    return 0
