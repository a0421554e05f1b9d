"""1. Preflight cost: ``vzskill.write.virtualize`` (parse once -> check -> combine -> write, one
commit) vs the plain VirtualiZarr path (``open_virtual_mfdataset`` -> ``to_icechunk`` -> commit)
on the same files, into fresh repositories (repository creation is outside the timed part).

Also isolated: the check's own analysis on already-parsed files (``check(parsed)``), and
``virtualize(check=False)`` (what the wrapper costs without the check).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

NAME = "preflight"


def run(quick: bool = False, n_files: int | None = None, reps: int | None = None) -> dict:
    common.quiet_warnings()
    try:
        from vzskill import check
        from vzskill.parse import parse_files
        from vzskill.write import virtualize
    except ImportError as exc:  # the other helpers' modules are not there yet
        return {"name": NAME, "skipped": f"vzskill.check / vzskill.write not importable: {exc}"}

    n_files = n_files or (12 if quick else 200)
    reps = reps or (2 if quick else 5)
    t0 = time.perf_counter()
    paths = common.series_files(n_files)
    gen = time.perf_counter() - t0
    urls = common.urls_for(paths)
    registry = common.registry_for(paths)
    dirs: list[Path] = []

    def fresh_repo(storage: bool = False):
        """A new empty repository (created outside the timed part). ``storage=True`` returns its
        icechunk Storage (what ``virtualize`` opens itself: a few ms, counted against vzskill)."""
        import icechunk

        where = Path(common.scratch_dir()) / f"preflight-{len(dirs)}"
        shutil.rmtree(where, ignore_errors=True)
        dirs.append(where)
        repo = common.new_repo(paths, where)
        return icechunk.local_filesystem_storage(str(where)) if storage else repo

    def plain() -> float:
        repo = fresh_repo()
        with common.Timer() as t:
            vds = common.open_vmf(paths, registry=registry)
            session = repo.writable_session("main")
            vds.vz.to_icechunk(session.store)
            session.commit("plain")
        return t.sample

    def vzskill_check() -> float:
        repo = fresh_repo(storage=True)
        with common.Timer() as t:
            res = virtualize(urls, repo, concat_dim="time", check=True, registry=registry)
        assert res.n_files == n_files
        return t.sample

    def vzskill_nocheck() -> float:
        repo = fresh_repo(storage=True)
        with common.Timer() as t:
            virtualize(urls, repo, concat_dim="time", check=False, registry=registry)
        return t.sample

    cases = {"plain_open_virtual_mfdataset": plain, "vzskill_virtualize_check": vzskill_check,
             "vzskill_virtualize_nocheck": vzskill_nocheck}
    try:
        samples = common.interleaved(cases, reps, log=common.log)
        # the check's analysis alone, on already-parsed files (no parsing, no writing)
        parsed = parse_files(urls, registry)
        analysis = []
        for _ in range(reps):
            t = time.perf_counter()
            report = check(parsed, concat_dim="time", registry=registry, combine="nested", coords="minimal",
                           data_vars="minimal")
            analysis.append(time.perf_counter() - t)
        assert report.ok, report.format_table()
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    summary = common.summarize(samples)
    import statistics

    ratio = common.paired_ratio(samples, "vzskill_virtualize_check", "plain_open_virtual_mfdataset")
    cpu_ratio = common.paired_ratio(samples, "vzskill_virtualize_check", "plain_open_virtual_mfdataset", "cpu")
    check_s = statistics.median(analysis)
    return {
        "name": NAME,
        "params": {"n_files": n_files, "reps": reps, "file": "vzskill.fixtures series layout (32 refs/file)"},
        "generation_s": gen,
        "results": summary,
        "check_analysis_only_s": check_s,
        "ratios": {
            "vzskill_check+virtualize_over_plain": ratio,
            "vzskill_check+virtualize_over_plain(cpu)": cpu_ratio,
            "vzskill_nocheck_over_plain": common.paired_ratio(samples, "vzskill_virtualize_nocheck", "plain_open_virtual_mfdataset"),
            "vzskill_nocheck_over_plain(cpu)": common.paired_ratio(samples, "vzskill_virtualize_nocheck", "plain_open_virtual_mfdataset", "cpu"),
            "check_analysis_share_of_plain": check_s / summary["plain_open_virtual_mfdataset"]["median_s"],
        },
        "targets": {
            "check + virtualize <= 1.05x plain (wall)": {"value": ratio, "target": "<= 1.05", "met": ratio <= 1.05},
            "check + virtualize <= 1.05x plain (cpu)": {"value": cpu_ratio, "target": "<= 1.05", "met": cpu_ratio <= 1.05},
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
