"""The distributed-write example of benchmarks/ADVICE.md, runnable on its own (a few seconds).

    python benchmarks/distributed_example.py

``data_dir`` / ``work_dir`` are what examples.md calls them (sample archive / scratch directory).
Everything between the two ``--- snippet ---`` markers is the block for examples.md, verbatim.
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from vzskill.fixtures import make_series

t_start = time.perf_counter()
data_dir = Path(tempfile.mkdtemp(prefix="vzskill-example-data-"))
work_dir = Path(tempfile.mkdtemp(prefix="vzskill-example-work-"))
make_series(data_dir / "series", 3)

# --- snippet ---
import icechunk
import virtualizarr as vz
import xarray as xr
import zarr
from dask.distributed import Client, LocalCluster
from virtualizarr.parsers import HDFParser

import vzskill

data = data_dir / "series"                  # your archive directory
urls = [f"file://{f}" for f in sorted(data.glob("temp_*.nc"))]
repo = vzskill.create_repo(icechunk.local_filesystem_storage(str(work_dir / "forks")), urls)


def write_files(fork, file_urls, start):
    """On a worker: parse `file_urls` and write their refs into time[start:stop] of `fork`."""
    vds = vz.open_virtual_mfdataset(
        file_urls, registry=build_registry(file_urls), parser=HDFParser(),
        combine="nested", concat_dim="time", coords="minimal", compat="override",
        decode_times=False,                 # raw time numbers, in the files' CF units
    )
    stop = start + vds.sizes["time"]
    # Region writes skip index coordinates (xarray drops them): write the time values yourself.
    time_arr = zarr.open_array(fork.store, path="time", mode="r+")
    assert vds["time"].attrs["units"] == time_arr.attrs["units"], "run `vzskill check` first"
    time_arr[start:stop] = vds["time"].values
    # The refs, into this fork's region only. lat/lon and the global attributes are in the skeleton.
    vds = vds.drop_vars([name for name, var in vds.variables.items() if "time" not in var.dims])
    vds.attrs = {}
    vds.vz.to_icechunk(fork.store, region={"time": slice(start, stop)})
    return fork


# Coordinator: file 0, every time-dimensioned array grown to its final length, committed
# (Session.fork() refuses a session with uncommitted changes).
first = vz.open_virtual_dataset(urls[0], registry=build_registry(urls), parser=HDFParser())
steps = first.sizes["time"]                 # time steps per file (the time chunk size, too)
session = repo.writable_session("main")
first.vz.to_icechunk(session.store)
for name, var in first.variables.items():
    if var.dims[:1] == ("time",):
        arr = zarr.open_array(session.store, path=name, mode="r+")
        arr.resize((steps * len(urls), *arr.shape[1:]))
session.commit("skeleton: file 0 + full time axis")

# Workers: one fork per batch of files, DISJOINT chunk-aligned regions; merge back; one commit.
session = repo.writable_session("main")
batches = [urls[i:i + 1] for i in range(1, len(urls))]
starts = [steps * i for i in range(1, len(urls))]
with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
        Client(cluster) as client:
    forks = client.map(write_files, [session.fork() for _ in batches], batches, starts, pure=False)
    session.merge(*client.gather(forks))
session.commit(f"{len(urls)} files, {len(batches)} forks merged")

ds = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3)
assert ds["temperature"].shape == (12, 20, 30)
# --- snippet ---

# the check examples.md does with its hidden helpers: same values as the source files
files = sorted(data.glob("temp_*.nc"))
src = xr.concat([xr.open_dataset(f, engine="h5netcdf") for f in files], dim="time",
                data_vars="minimal", coords="minimal", compat="override")
for name in ("temperature", "precipitation", "time", "lat", "lon"):
    np.testing.assert_array_equal(ds[name].values, src[name].values, err_msg=name)
assert ds.attrs["title"] == src.attrs["title"]
print(f"distributed example OK in {time.perf_counter() - t_start:.1f} s")
