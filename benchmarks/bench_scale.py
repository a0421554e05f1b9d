"""4. Scale: N tiny files virtualized and committed, each N in a fresh process (peak RSS).

Stages per point: parse (open_virtual_dataset per file, serial), combine (xr.combine_nested,
the call open_virtual_mfdataset makes), write (to_icechunk), commit. Reported: wall time and
peak RSS per point, the slope (seconds per 1,000 files), and the log-log exponent of every stage
(1 = linear, 2 = quadratic) - nothing may be quadratic.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

NAME = "scale"
STAGES = ("parse", "combine", "write", "commit")


def point(n: int) -> dict:
    """One measurement in *this* process (call it in a fresh process for a clean peak RSS)."""
    common.quiet_warnings()
    import shutil
    import tempfile

    import virtualizarr as vz
    import xarray as xr
    from virtualizarr.parsers import HDFParser

    paths = common.tiny_files(n)
    urls = common.urls_for(paths)
    registry = common.registry_for(paths)
    parser = HDFParser()
    where = Path(tempfile.mkdtemp(prefix=f"scale{n}-", dir=common.scratch_dir()))
    repo = common.new_repo(paths, where)
    # warm the imports/code paths on one file so the baseline includes them
    vz.open_virtual_dataset(urls[0], registry=registry, parser=parser)
    rss0 = common.current_rss_mb()

    wall, cpu = [time.perf_counter()], [time.process_time()]

    def lap() -> None:
        wall.append(time.perf_counter())
        cpu.append(time.process_time())

    vdss = [vz.open_virtual_dataset(u, registry=registry, parser=parser) for u in urls]
    lap()
    vds = xr.combine_nested(vdss, concat_dim=["time"], coords="minimal", compat="override",
                            data_vars="all", join="outer", combine_attrs="override")
    lap()
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    lap()
    snap = session.commit(f"{n} files")
    lap()
    nrefs = sum(len(v.data.manifest) for v in vds.variables.values() if hasattr(v.data, "manifest"))
    assert vds.sizes["time"] == n, vds.sizes
    peak = common.peak_rss_mb()
    shutil.rmtree(where, ignore_errors=True)
    return {
        "n_files": n,
        "nrefs": nrefs,
        "snapshot": snap,
        "stages_s": {k: wall[i + 1] - wall[i] for i, k in enumerate(STAGES)},
        "stages_cpu_s": {k: cpu[i + 1] - cpu[i] for i, k in enumerate(STAGES)},
        "total_s": wall[-1] - wall[0],
        "total_cpu_s": cpu[-1] - cpu[0],
        "rss_baseline_mb": rss0,
        "peak_rss_mb": peak,
    }


def point_subprocess(n: int, timeout: float = 1800) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(common.REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, __file__, "--point", str(n)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(common.REPO_ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"scale point {n} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False, sizes: list[int] | None = None, reps: int | None = None) -> dict:
    sizes = sizes or ([50, 100, 200] if quick else [1000, 5000, 10000])
    reps = reps or 1
    t0 = time.perf_counter()
    common.tiny_files(max(sizes))  # generate once, outside the timed points
    gen = time.perf_counter() - t0
    samples: dict[int, list[dict]] = {n: [] for n in sizes}
    for r in range(reps):
        order = sizes if r % 2 == 0 else sizes[::-1]
        for n in order:
            res = point_subprocess(n)
            samples[n].append(res)
            common.log(f"    scale rep {r + 1}/{reps} n={n}: {res['total_s']:.2f} s, peak {res['peak_rss_mb']:.0f} MB")
    points = []
    for n in sizes:
        s = samples[n]
        med = {k: statistics.median(x["stages_s"][k] for x in s) for k in STAGES}
        med_cpu = {k: statistics.median(x["stages_cpu_s"][k] for x in s) for k in STAGES}
        points.append({
            "n_files": n,
            "nrefs": s[0]["nrefs"],
            "total_s": statistics.median(x["total_s"] for x in s),
            "total_cpu_s": statistics.median(x["total_cpu_s"] for x in s),
            "stages_s": med,
            "stages_cpu_s": med_cpu,
            "peak_rss_mb": statistics.median(x["peak_rss_mb"] for x in s),
            "rss_growth_mb": statistics.median(x["peak_rss_mb"] - x["rss_baseline_mb"] for x in s),
            "us_per_file": 1e6 * statistics.median(x["total_s"] for x in s) / n,
            "reps": len(s),
        })
    xs = [p["n_files"] for p in points]
    # exponents on CPU seconds (robust to other load on the machine); wall exponents for reference
    exps = {k: common.loglog_slope(xs, [p["stages_cpu_s"][k] for p in points]) for k in STAGES}
    exps["total"] = common.loglog_slope(xs, [p["total_cpu_s"] for p in points])
    exps["rss_growth"] = common.loglog_slope(xs, [max(p["rss_growth_mb"], 0.1) for p in points])
    wall_exps = {k: common.loglog_slope(xs, [p["stages_s"][k] for p in points]) for k in STAGES}
    wall_exps["total"] = common.loglog_slope(xs, [p["total_s"] for p in points])
    slope = common.linear_slope(xs, [p["total_s"] for p in points]) * 1000
    commit_vs_refs = common.loglog_slope([p["nrefs"] for p in points], [p["stages_cpu_s"]["commit"] for p in points])
    per_file_ratio = (points[-1]["total_cpu_s"] / points[-1]["n_files"]) / (points[0]["total_cpu_s"] / points[0]["n_files"])
    worst = max((k for k in exps if k not in ("rss_growth", "total")), key=lambda k: exps[k])
    return {
        "name": NAME,
        "params": {"sizes": sizes, "reps": reps, "file": "1 time step, 4x4 grid, tas float32 in 4 zlib chunks (4 refs/file)"},
        "generation_s": gen,
        "points": points,
        "ratios": {
            "seconds_per_1000_files(wall)": slope,
            "per_file_cpu_largest_over_smallest": per_file_ratio,
            "loglog_exponent_total(cpu)": exps["total"],
            f"loglog_exponent_worst_stage({worst},cpu)": exps[worst],
            "loglog_exponent_commit_vs_refs(cpu)": commit_vs_refs,
            "loglog_exponent_peak_rss_growth": exps["rss_growth"],
        },
        "exponents_cpu": exps,
        "exponents_wall": wall_exps,
        "targets": {
            "nothing quadratic (every stage exponent < 1.5)": {"value": max(v for k, v in exps.items() if k != "rss_growth"),
                                                                "target": "< 1.5",
                                                                "met": all(v < 1.5 for k, v in exps.items() if k != "rss_growth")},
        },
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--point":
        print(json.dumps(point(int(sys.argv[2]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
