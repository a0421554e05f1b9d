"""3. Read throughput: the same files read through (a) an icechunk virtual store, (b)
``xr.open_mfdataset(engine="h5netcdf")`` and (c) VirtualiZarr ManifestStores (no icechunk).

For each path and repetition: open from scratch (new Repository object / new file handles) then
(1) read the whole variable, (2) read one chunk (single-chunk slice), (3) read a point time
series (touches one chunk per time step). Reported as speed ratios h5netcdf_time / path_time
(>= 1.0 means the path is at least as fast as h5netcdf), open included and excluded.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

NAME = "read"
OPS = ("whole", "slice", "series")


def run(quick: bool = False, n_files: int | None = None, reps: int | None = None) -> dict:
    common.quiet_warnings()
    import dask
    import icechunk
    import numpy as np
    import xarray as xr
    from virtualizarr.parsers import HDFParser

    from vzskill.containers import open_repo

    n_files = n_files or (4 if quick else 24)
    reps = reps or (3 if quick else 5)
    nt, ny, nx, chunks = 8, 128, 256, (1, 64, 128)
    t0 = time.perf_counter()
    paths = common.read_files(n_files, nt, ny, nx, chunks)
    gen = time.perf_counter() - t0
    urls = common.urls_for(paths)
    registry = common.registry_for(paths)

    # the icechunk virtual store (written once; its cost is the preflight/scale benchmarks' subject)
    repo_dir = Path(common.scratch_dir()) / f"read-repo-{n_files}"
    import shutil

    shutil.rmtree(repo_dir, ignore_errors=True)
    repo = common.new_repo(paths, repo_dir)
    session = repo.writable_session("main")
    common.open_vmf(paths, registry=registry).vz.to_icechunk(session.store)
    session.commit("read benchmark")
    storage = icechunk.local_filesystem_storage(str(repo_dir))

    k = n_files * nt // 2  # a time step in the middle
    sl = {"time": k, "lat": slice(0, chunks[1]), "lon": slice(0, chunks[2])}
    pt = {"lat": ny // 3, "lon": nx // 3}

    def open_icechunk():
        r = open_repo(storage)
        return xr.open_dataset(r.readonly_session("main").store, engine="zarr", consolidated=False,
                               zarr_format=3, chunks=None)

    def open_h5netcdf():
        return xr.open_mfdataset(paths, engine="h5netcdf", combine="nested", concat_dim="time",
                                 coords="minimal", compat="override", data_vars="minimal", parallel=False)

    def open_manifeststore():
        parser = HDFParser()
        dss = [xr.open_dataset(parser(u, registry), engine="zarr", consolidated=False, zarr_format=3, chunks={})
               for u in urls]
        return xr.concat(dss, dim="time", coords="minimal", compat="override", data_vars="minimal")

    openers = {"h5netcdf": open_h5netcdf, "icechunk": open_icechunk, "manifeststore": open_manifeststore}
    reference = None

    def case(opener):
        def f() -> dict[str, float]:
            nonlocal reference
            out: dict[str, float] = {}
            with dask.config.set(scheduler="threads"):
                for op in OPS:
                    t0 = time.perf_counter()
                    ds = opener()
                    t1 = time.perf_counter()
                    if op == "whole":
                        vals = ds["tas"].values
                    elif op == "slice":
                        vals = ds["tas"].isel(sl).values
                    else:
                        vals = ds["tas"].isel(pt).values
                    t2 = time.perf_counter()
                    ds.close()
                    out[f"open_{op}"] = t1 - t0
                    out[f"read_{op}"] = t2 - t1
                    out[op] = t2 - t0
                    if op == "whole":
                        if reference is None:
                            reference = vals
                        else:
                            np.testing.assert_array_equal(vals, reference)
            out["total"] = sum(out[op] for op in OPS)
            return out
        return f

    samples = common.interleaved({k: case(v) for k, v in openers.items()}, reps, log=common.log)
    summary = common.summarize(samples)

    def ratio(path: str, key: str) -> float:
        return statistics.median(a[key] / b[key] for a, b in zip(samples["h5netcdf"], samples[path], strict=True))

    ratios = {}
    for path in ("icechunk", "manifeststore"):
        for op in OPS:
            ratios[f"{path}_{op}_speed_vs_h5netcdf(open+read)"] = ratio(path, op)
            ratios[f"{path}_{op}_speed_vs_h5netcdf(read only)"] = ratio(path, f"read_{op}")
    raw_mb = n_files * nt * ny * nx * 4 / 2**20
    throughput = {p: raw_mb / summary[p]["stages_median_s"]["read_whole"] for p in openers}
    ic_whole = ratios["icechunk_whole_speed_vs_h5netcdf(open+read)"]
    ic_slice = ratios["icechunk_slice_speed_vs_h5netcdf(open+read)"]
    return {
        "name": NAME,
        "params": {"n_files": n_files, "reps": reps, "shape_per_file": [nt, ny, nx], "chunks": list(chunks),
                   "raw_mb": raw_mb, "codec": "zlib 1 + shuffle", "h5netcdf": "open_mfdataset (dask threads)",
                   "icechunk": "open_dataset(chunks=None)", "manifeststore": "parse + open_dataset(chunks={}) + concat"},
        "generation_s": gen,
        "results": summary,
        "whole_read_mb_per_s": throughput,
        "ratios": ratios,
        "targets": {
            "icechunk whole read >= 1.0x h5netcdf": {"value": ic_whole, "target": ">= 1.0", "met": ic_whole >= 1.0},
            "icechunk single-chunk read >= 1.0x h5netcdf": {"value": ic_slice, "target": ">= 1.0", "met": ic_slice >= 1.0},
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
