"""5. Distributed writes of virtual refs with icechunk fork sessions on dask.distributed.

Coordinator: write file 0 + grow the time axis to its final length, commit ("skeleton");
open a writable session, ``fork()`` it once per batch of files; dask workers parse their batch
and write it into its own time region with ``vds.vz.to_icechunk(fork.store, region=...)``;
the forks come back pickled, ``session.merge(*forks)``, one commit. Checked: the result equals
the serial write (values, coordinates, attributes, the set of virtual chunk locations).

Also demonstrated: ``merge`` does not detect overlaps - two forks that write the same chunk
merge without any error and the fork merged last silently wins.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

NAME = "distributed"


# ---- the pattern (same code as benchmarks/distributed_example.py / ADVICE.md) ----------------

def write_batch(fork, urls: list[str], start: int):
    """Worker: parse ``urls`` and write their refs into time region [start, start + n)."""
    import virtualizarr as vz
    import zarr
    from virtualizarr.parsers import HDFParser

    from vzskill.registry import build_registry

    vds = vz.open_virtual_mfdataset(urls, registry=build_registry(urls), parser=HDFParser(), decode_times=False,
                                    combine="nested", concat_dim="time", coords="minimal", compat="override")
    stop = start + vds.sizes["time"]
    # xarray region writes silently skip index coordinates, so the time values are written here,
    # raw, in the files' own CF units - which must be the store's units (vzskill check verifies it).
    time_arr = zarr.open_array(fork.store, path="time", mode="r+")
    if vds["time"].attrs.get("units") != time_arr.attrs.get("units"):
        raise ValueError(f"{urls[0]}: time units {vds['time'].attrs.get('units')!r} differ from the store's "
                         f"{time_arr.attrs.get('units')!r} -> run `vzskill check` and fix the time encoding first")
    time_arr[start:stop] = vds["time"].values
    vds = vds.drop_vars([n for n, v in vds.variables.items() if "time" not in v.dims])  # lat/lon: in the skeleton
    vds.attrs = {}  # global attributes come from the skeleton; a fork must not rewrite them
    vds.vz.to_icechunk(fork.store, region={"time": slice(start, stop)})
    return fork


def write_skeleton(repo, urls: list[str], registry) -> int:
    """Coordinator: file 0 written normally, every time-dimensioned array grown to the final length."""
    import virtualizarr as vz
    import zarr
    from virtualizarr.parsers import HDFParser

    first = vz.open_virtual_dataset(urls[0], registry=registry, parser=HDFParser())
    nt = first.sizes["time"]
    session = repo.writable_session("main")
    first.vz.to_icechunk(session.store)
    group = zarr.open_group(session.store, mode="r+")
    for _, arr in group.arrays():
        dims = arr.metadata.dimension_names or ()
        if dims and dims[0] == "time":
            arr.resize((nt * len(urls), *arr.shape[1:]))
    session.commit("skeleton: file 0, time axis at full length")
    return nt


def distributed_write(client, repo, urls: list[str], registry, n_batches: int) -> str:
    nt = write_skeleton(repo, urls, registry)
    rest = urls[1:]
    size = -(-len(rest) // n_batches)
    batches = [rest[i:i + size] for i in range(0, len(rest), size)]
    starts = [nt * (1 + i * size) for i in range(len(batches))]
    session = repo.writable_session("main")
    forks = [session.fork() for _ in batches]
    futures = client.map(write_batch, forks, batches, starts, pure=False)
    session.merge(*client.gather(futures))
    return session.commit(f"{len(urls)} files, {len(batches)} forks merged")


def serial_write(repo, urls: list[str], registry) -> str:
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    vds = vz.open_virtual_mfdataset(urls, registry=registry, parser=HDFParser(), combine="nested",
                                    concat_dim="time", coords="minimal", compat="override")
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    return session.commit(f"{len(urls)} files, serial")


# ---- checks --------------------------------------------------------------------------------------

def read_all(repo):
    import xarray as xr

    session = repo.readonly_session("main")
    ds = xr.open_dataset(session.store, engine="zarr", consolidated=False, zarr_format=3, chunks=None).load()
    return ds, sorted(session.all_virtual_chunk_locations())


def overlap_demo(paths: list[Path]) -> dict:
    """Two forks write *different* files into the *same* chunk(s); merge raises nothing."""
    import numpy as np
    import xarray as xr

    from vzskill.fixtures import sample_dataset

    urls = common.urls_for(paths[:3])
    registry = common.registry_for(paths[:3])
    out = {}
    for order in ("a_then_b", "b_then_a"):
        where = Path(common.scratch_dir()) / f"overlap-{order}"
        shutil.rmtree(where, ignore_errors=True)
        repo = common.new_repo(paths[:3], where)
        nt = write_skeleton(repo, urls[:2], registry)  # 2 files long: region [nt, 2nt) is file 1's
        session = repo.writable_session("main")
        fork_a, fork_b = session.fork(), session.fork()
        write_batch(fork_a, [urls[1]], nt)  # the right file for that region
        write_batch(fork_b, [urls[2]], nt)  # a wrong file, same chunks
        error = None
        try:
            session.merge(*((fork_a, fork_b) if order == "a_then_b" else (fork_b, fork_a)))
            session.commit(f"overlap {order}")
        except Exception as exc:  # noqa: BLE001 - the point is to see whether anything is raised
            error = f"{type(exc).__name__}: {exc}"
        ds = xr.open_dataset(repo.readonly_session("main").store, engine="zarr", consolidated=False,
                             zarr_format=3, chunks=None)
        got = ds["temperature"].isel(time=slice(nt, 2 * nt)).values
        got_time = ds["time"].isel(time=slice(nt, 2 * nt)).values
        winner = "none"
        for idx, label in ((1, "fork_a (file 1)"), (2, "fork_b (file 2)")):
            ref = sample_dataset(idx)
            if np.array_equal(got, ref["temperature"].values):
                winner = label
        out[order] = {"error": error, "winner": winner,
                      "time_values": [str(t)[:10] for t in got_time[:1]]}
        shutil.rmtree(where, ignore_errors=True)
    out["conclusion"] = ("merge raised nothing; the fork merged last wins silently" if
                         all(out[o]["error"] is None for o in ("a_then_b", "b_then_a"))
                         and out["a_then_b"]["winner"].startswith("fork_b") and out["b_then_a"]["winner"].startswith("fork_a")
                         else "see details")
    return out


def run(quick: bool = False, n_files: int | None = None, reps: int | None = None, workers: int = 2) -> dict:
    common.quiet_warnings()
    import xarray as xr

    n_files = n_files or (12 if quick else 200)
    reps = reps or (2 if quick else 3)
    t0 = time.perf_counter()
    paths = common.series_files(n_files)
    gen = time.perf_counter() - t0
    urls = common.urls_for(paths)
    registry = common.registry_for(paths)
    client = common.dask_client(workers)

    dirs: dict[str, Path] = {}
    repos: dict[str, object] = {}

    def fresh(name: str):
        where = Path(common.scratch_dir()) / f"dist-{name}"
        shutil.rmtree(where, ignore_errors=True)
        dirs[name], repos[name] = where, common.new_repo(paths, where)
        return repos[name]

    def serial_case() -> float:
        repo = fresh("serial")
        t0 = time.perf_counter()
        serial_write(repo, urls, registry)
        return time.perf_counter() - t0

    def dist_case() -> float:
        repo = fresh("forks")
        t0 = time.perf_counter()
        distributed_write(client, repo, urls, registry, n_batches=2 * workers)
        return time.perf_counter() - t0

    samples = common.interleaved({"serial": serial_case, "dask_forks": dist_case}, reps, warmup=not quick, log=common.log)
    a, locs_a = read_all(repos["serial"])
    b, locs_b = read_all(repos["forks"])
    xr.testing.assert_identical(a, b)
    assert locs_a == locs_b, (len(locs_a), len(locs_b))
    equal = True
    overlap = overlap_demo(paths)
    for d in dirs.values():
        shutil.rmtree(d, ignore_errors=True)
    speed = common.paired_ratio(samples, "serial", "dask_forks")
    return {
        "name": NAME,
        "params": {"n_files": n_files, "reps": reps, "workers": workers, "forks": 2 * workers,
                   "engine": "dask.distributed LocalCluster (processes, 1 thread each)"},
        "generation_s": gen,
        "dask_startup_s": common.dask_startup_s(),
        "results": common.summarize(samples),
        "equal_to_serial": equal,
        "virtual_chunk_locations": len(locs_a),
        "overlap_demo": overlap,
        "ratios": {"speedup_dask_forks_vs_serial": speed},
        "targets": {"fork/merge result equals the serial write": {"value": equal, "target": "True", "met": equal}},
    }


if __name__ == "__main__":
    import json

    try:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
    finally:
        common.close_dask()
