"""Shared helpers: cached data sets, interleaved timing (medians + paired ratios), RSS, repos.

Timing rule (the machine is shared and noisy): every comparison runs its cases A, B, ... in the
same process, interleaved (A B C, B C A, C A B, ...), several repetitions; we report the median
of each case and the median of the per-repetition ratios (paired), never a number from another run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

# icechunk's Rust WARN lines ("LocalFileSystem storage is not safe for concurrent commits", ...)
# would drown the report on stderr; read at icechunk import time, inherited by workers.
os.environ.setdefault("ICECHUNK_LOG", "error")

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("VZSKILL_BENCH_DATA", "/tmp/vzskill-bench"))

# --------------------------------------------------------------------------------------------
# data sets (generated once, cached under DATA_ROOT; generation time is reported separately)
# --------------------------------------------------------------------------------------------

GENERATION: dict[str, float] = {}  # data set -> seconds spent generating it in this run (0 = cached)


def _cached(name: str, params: dict[str, Any], build: Callable[[Path], None]) -> Path:
    """``DATA_ROOT/name`` built by ``build(dir)`` unless a marker with the same params exists."""
    dest = DATA_ROOT / name
    marker = dest / ".complete.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        GENERATION.setdefault(name, 0.0)
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    t0 = time.perf_counter()
    build(dest)
    GENERATION[name] = GENERATION.get(name, 0.0) + time.perf_counter() - t0
    marker.write_text(json.dumps(params))
    return dest


def tiny_files(n: int) -> list[Path]:
    """``n`` tiny NetCDF4 files (1 time step, 4x4 grid, one float32 variable ``tas`` in 4 zlib
    chunks of 2x2, so 4 virtual refs per file). Written with netCDF4-C (about 3 ms a file).
    The cache holds the largest ``n`` asked so far; smaller requests use its first files."""
    have = sorted((DATA_ROOT / "tiny").glob("tiny_*.nc")) if (DATA_ROOT / "tiny" / ".complete.json").exists() else []
    if len(have) >= n:
        GENERATION.setdefault("tiny", 0.0)
        return have[:n]
    import netCDF4

    def build(dest: Path) -> None:
        lat = np.linspace(-1.5, 1.5, 4, dtype="f4")
        lon = np.linspace(0.0, 3.0, 4, dtype="f4")
        base = np.arange(16, dtype="f4").reshape(1, 4, 4)
        for i in range(n):
            with netCDF4.Dataset(dest / f"tiny_{i:05d}.nc", "w") as nc:
                nc.createDimension("time", 1)
                nc.createDimension("lat", 4)
                nc.createDimension("lon", 4)
                t = nc.createVariable("time", "i4", ("time",))
                t.units = "days since 2000-01-01"
                t.calendar = "standard"
                t[:] = [i]
                nc.createVariable("lat", "f4", ("lat",))[:] = lat
                nc.createVariable("lon", "f4", ("lon",))[:] = lon
                v = nc.createVariable("tas", "f4", ("time", "lat", "lon"), chunksizes=(1, 2, 2),
                                      zlib=True, complevel=1, fill_value=np.float32(-9999.0))
                v.units = "K"
                v[:] = base + np.float32(i)

    dest = _cached("tiny", {"n": n, "v": 1}, build)
    return sorted(dest.glob("tiny_*.nc"))[:n]


def series_files(n: int) -> list[Path]:
    """``n`` files of the vzskill sample series (vzskill.fixtures layout: 4 time steps, 20x30 grid,
    two float32 variables in (1, 10, 15) zlib+shuffle chunks = 32 refs a file)."""
    from vzskill.fixtures import make_series

    def build(dest: Path) -> None:
        make_series(dest, n, name="temp")

    if n > 1000:
        raise ValueError("series_files: at most 1000 files (3-digit names)")
    # one cache per size (names sort correctly; a smaller request can reuse a bigger cache)
    for cand in sorted((DATA_ROOT).glob("series_*")):
        marker = cand / ".complete.json"
        if marker.exists() and json.loads(marker.read_text()).get("n", 0) >= n:
            GENERATION.setdefault(f"series_{n}", 0.0)
            return sorted(cand.glob("temp_*.nc"))[:n]
    dest = _cached(f"series_{n}", {"n": n, "v": 1}, build)
    return sorted(dest.glob("temp_*.nc"))


def read_files(n: int, nt: int = 8, ny: int = 128, nx: int = 256, chunks: tuple[int, int, int] = (1, 64, 128)) -> list[Path]:
    """``n`` files with a bigger variable for read throughput: ``tas(time=nt, lat=ny, lon=nx)``
    float32, chunks ``chunks``, zlib level 1 + shuffle (netCDF4-C)."""
    import netCDF4

    params = {"n": n, "nt": nt, "ny": ny, "nx": nx, "chunks": list(chunks), "v": 1}

    def build(dest: Path) -> None:
        lat = np.linspace(-89.5, 89.5, ny)
        lon = np.linspace(0.0, 359.0, nx)
        for i in range(n):
            rng = np.random.default_rng(i)
            data = (280 + 20 * np.cos(np.deg2rad(lat))[None, :, None] + rng.normal(0, 1, (nt, ny, nx))).astype("f4")
            with netCDF4.Dataset(dest / f"read_{i:04d}.nc", "w") as nc:
                nc.createDimension("time", nt)
                nc.createDimension("lat", ny)
                nc.createDimension("lon", nx)
                t = nc.createVariable("time", "i4", ("time",))
                t.units = "hours since 2000-01-01"
                t.calendar = "standard"
                t[:] = np.arange(i * nt, (i + 1) * nt)
                nc.createVariable("lat", "f8", ("lat",))[:] = lat
                nc.createVariable("lon", "f8", ("lon",))[:] = lon
                v = nc.createVariable("tas", "f4", ("time", "lat", "lon"), chunksizes=chunks,
                                      zlib=True, complevel=1, shuffle=True, fill_value=np.float32(-9999.0))
                v.units = "K"
                v[:] = data

    name = f"read_{n}x{nt}x{ny}x{nx}_c{'x'.join(map(str, chunks))}"
    dest = _cached(name, params, build)
    return sorted(dest.glob("read_*.nc"))


# --------------------------------------------------------------------------------------------
# virtualization helpers (plain VirtualiZarr + icechunk; vzskill only for registry/containers)
# --------------------------------------------------------------------------------------------


def registry_for(paths: Iterable[Path | str]):
    from vzskill.registry import build_registry

    return build_registry([str(p) for p in paths])


def urls_for(paths: Iterable[Path | str]) -> list[str]:
    return [Path(p).resolve().as_uri() for p in paths]


def new_repo(paths: Iterable[Path | str], where: Path | None = None):
    """A fresh icechunk repository on local disk (under ``where`` or a temp dir) whose virtual
    chunk containers cover ``paths``, authorized for reading."""
    import icechunk

    from vzskill.containers import create_repo

    where = Path(where) if where is not None else Path(tempfile.mkdtemp(prefix="repo-", dir=scratch_dir()))
    return create_repo(icechunk.local_filesystem_storage(str(where)), [str(p) for p in paths])


def scratch_dir() -> Path:
    d = DATA_ROOT / "scratch"
    d.mkdir(parents=True, exist_ok=True)
    return d


def open_vmf(paths: list[Path], parallel: Any = False, registry=None):
    """The plain VirtualiZarr call the skill documents (nested along time, 1-D coords kept)."""
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    urls = urls_for(paths)
    return vz.open_virtual_mfdataset(
        urls,
        registry=registry if registry is not None else registry_for(paths),
        parser=HDFParser(),
        combine="nested",
        concat_dim="time",
        coords="minimal",
        compat="override",
        parallel=parallel,
    )


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


def quiet_warnings() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from zarr.errors import ZarrUserWarning

        warnings.filterwarnings("ignore", category=ZarrUserWarning)
    except Exception:  # pragma: no cover
        pass


def interleaved(cases: dict[str, Callable[[], float | dict[str, float]]], reps: int, *, warmup: bool = True,
                log: Callable[[str], None] | None = None) -> dict[str, list[float | dict[str, float]]]:
    """Run every case ``reps`` times, rotating the order each repetition (A B C, B C A, ...).

    A case returns the seconds it measured (it times only its own work, not its setup), or a dict
    of named stage seconds with a ``"total"`` key. With ``warmup`` each case runs once first
    (imports, page cache, worker start-up), unrecorded.
    """
    names = list(cases)
    if warmup:
        for name in names:
            cases[name]()
    out: dict[str, list[Any]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            out[name].append(cases[name]())
            if log:
                v = out[name][-1]
                log(f"    rep {r + 1}/{reps} {name}: {v['total'] if isinstance(v, dict) else v:.3f} s")
    return out


def total(sample: float | dict[str, float]) -> float:
    return float(sample["total"]) if isinstance(sample, dict) else float(sample)


def summarize(samples: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Median (and min/max) per case; stage medians when cases return dicts."""
    res: dict[str, dict[str, Any]] = {}
    for name, vals in samples.items():
        tot = [total(v) for v in vals]
        entry: dict[str, Any] = {"median_s": statistics.median(tot), "min_s": min(tot), "max_s": max(tot), "n": len(tot)}
        if vals and isinstance(vals[0], dict):
            entry["stages_median_s"] = {k: statistics.median(float(v[k]) for v in vals) for k in vals[0]}
        res[name] = entry
    return res


def paired_ratio(samples: dict[str, list[Any]], num: str, den: str, key: str = "total") -> float:
    """Median over repetitions of num/den (same repetition = same machine state); ``key`` picks a
    stage of dict samples (``"cpu"`` = process CPU seconds, robust to other load on the machine)."""
    def get(v: Any) -> float:
        return total(v) if key == "total" else float(v[key])

    return statistics.median(get(a) / get(b) for a, b in zip(samples[num], samples[den], strict=True))


class Timer:
    """Wall and process-CPU seconds of a block: ``with Timer() as t: ...; t.sample`` ->
    ``{"total": wall, "cpu": cpu}``. CPU time (all threads of this process) is what a shared,
    loaded machine disturbs least; wall time is what a user waits."""

    def __enter__(self) -> "Timer":
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample = {"total": time.perf_counter() - self._w, "cpu": time.process_time() - self._c}


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far: ``VmHWM`` of /proc/self/status (per address
    space, so unlike ``ru_maxrss`` it does not inherit the parent's peak across fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:  # pragma: no cover
        return float("nan")


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Exponent k of y ~ x**k (least squares on logs): 1 = linear, 2 = quadratic."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.maximum(np.asarray(ys, float), 1e-9))
    return float(np.polyfit(lx, ly, 1)[0])


def linear_slope(xs: list[float], ys: list[float]) -> float:
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


# --------------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    from importlib.metadata import version

    pkgs = {}
    for p in ("virtualizarr", "icechunk", "zarr", "xarray", "obstore", "obspec-utils", "h5py", "h5netcdf",
              "netCDF4", "numpy", "dask", "distributed"):
        try:
            pkgs[p] = version(p)
        except Exception:
            pkgs[p] = None
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        import psutil

        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        pass
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gb": mem_gb,
        "loadavg_at_start": load,
        "packages": pkgs,
    }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# one dask.distributed LocalCluster per run (start-up is paid once, reported once)
# --------------------------------------------------------------------------------------------

_CLUSTER: dict[str, Any] = {}


def _warm_worker(*_: object) -> int:
    """Import the stack in a worker (what a cold worker pays once)."""
    import virtualizarr  # noqa: F401
    import xarray  # noqa: F401
    from virtualizarr.parsers import HDFParser  # noqa: F401

    import vzskill.registry  # noqa: F401

    return os.getpid()


def dask_client(workers: int = 2):
    """A shared ``dask.distributed`` Client on a LocalCluster (``workers`` processes, 1 thread
    each). Not set as the default scheduler: code that wants it uses ``client.as_current()``."""
    if "client" not in _CLUSTER:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        from dask.distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster, set_as_default=False)
        client.run(_warm_worker)
        _CLUSTER.update(cluster=cluster, client=client, startup_s=time.perf_counter() - t0, workers=workers)
    return _CLUSTER["client"]


def dask_startup_s() -> float | None:
    return _CLUSTER.get("startup_s")


def close_dask() -> None:
    if "client" in _CLUSTER:
        _CLUSTER.pop("client").close()
        _CLUSTER.pop("cluster").close()
        _CLUSTER.clear()
