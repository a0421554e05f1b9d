#!/usr/bin/env python
"""Run the vzskill benchmarks: ratios measured in one run (JSON on stdout, a table on stderr).

    python benchmarks/run.py --quick                 # every benchmark, small sizes (< 60 s)
    python benchmarks/run.py                         # full sizes (see benchmarks/README.md for the runtime)
    python benchmarks/run.py --quick --only read     # one or more: preflight,parallel,read,scale,distributed,remote
    python benchmarks/run.py --markdown results.md   # also write the results table as markdown

Data is generated once and cached under $VZSKILL_BENCH_DATA (default /tmp/vzskill-bench);
generation time is reported separately and is not part of any measurement.
Exit code: 0 when every benchmark ran (missed targets are reported, not failures), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ICECHUNK_LOG", "error")

from benchmarks import common  # noqa: E402

ORDER = ("preflight", "parallel", "read", "scale", "distributed", "remote")


def _module(name: str):
    import importlib

    return importlib.import_module(f"benchmarks.bench_{name}")


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def human_table(report: dict) -> str:
    lines = [f"vzskill benchmarks ({report['mode']}) - {report['machine']['date_utc']} - "
             f"{report['machine']['cores']} cores, load {report['machine']['loadavg_at_start']}"]
    for name, res in report["benchmarks"].items():
        lines.append("")
        if "error" in res or "skipped" in res:
            lines.append(f"[{name}] {'ERROR' if 'error' in res else 'SKIPPED'}: {res.get('error') or res.get('skipped')}")
            continue
        lines.append(f"[{name}] {json.dumps(res.get('params', {}))}  ({res.get('runtime_s', 0):.1f} s)")
        for k, v in res.get("results", {}).items():
            lines.append(f"    {k:<40} median {v['median_s']:.3f} s  (min {v['min_s']:.3f}, max {v['max_s']:.3f}, n={v['n']})")
        for p in res.get("points", []):
            lines.append(f"    n={p['n_files']:<6} refs={p['nrefs']:<7} total {p['total_s']:.2f} s  "
                         + " ".join(f"{k} {v:.2f}" for k, v in p["stages_s"].items())
                         + f"  cpu {p['total_cpu_s']:.2f} s  peak RSS {p['peak_rss_mb']:.0f} MB (+{p['rss_growth_mb']:.0f})"
                         f"  {p['us_per_file']:.0f} us/file")
        for k, v in res.get("ratios", {}).items():
            lines.append(f"    ratio {k:<58} {_fmt(v)}")
        for k, t in res.get("targets", {}).items():
            lines.append(f"    target {k}: {_fmt(t['value'])} ({t['target']}) -> {'MET' if t['met'] else 'MISSED'}")
        if "overlap_demo" in res:
            lines.append(f"    overlap demo: {res['overlap_demo']['conclusion']}")
    lines.append("")
    lines.append(f"data generation: {json.dumps({k: round(v, 1) for k, v in report['generation_s'].items()})} s; "
                 f"total runtime {report['runtime_s']:.1f} s")
    return "\n".join(lines)


def markdown_table(report: dict) -> str:
    m = report["machine"]
    rows = [f"Run: `{report['command']}` - {m['date_utc']} - {report['mode']} mode, {report['runtime_s']:.0f} s "
            f"(+ data generation {sum(report['generation_s'].values()):.0f} s)",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gb']} GB, load average at start {m['loadavg_at_start']}; "
            f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v),
            "", "| benchmark | measurement | value | target | met |", "|---|---|---|---|---|"]
    for name, res in report["benchmarks"].items():
        if "error" in res or "skipped" in res:
            rows.append(f"| {name} | {'error' if 'error' in res else 'skipped'}: {res.get('error') or res.get('skipped')} | | | |")
            continue
        targets = {k: t for k, t in res.get("targets", {}).items()}
        for k, v in res.get("results", {}).items():
            rows.append(f"| {name} | {k}: median s | {v['median_s']:.3f} | | |")
        for p in res.get("points", []):
            rows.append(f"| {name} | n={p['n_files']} ({p['nrefs']} refs): wall s / cpu s / commit cpu s / peak RSS MB | "
                        f"{p['total_s']:.2f} / {p['total_cpu_s']:.2f} / {p['stages_cpu_s']['commit']:.3f} / "
                        f"{p['peak_rss_mb']:.0f} | | |")
        for k, v in res.get("ratios", {}).items():
            rows.append(f"| {name} | {k} | {_fmt(v)} | | |")
        for k, t in targets.items():
            rows.append(f"| {name} | **{k}** | **{_fmt(t['value'])}** | {t['target']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, every benchmark in < 60 s")
    ap.add_argument("--only", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}")
    ap.add_argument("--reps", type=int, default=None, help="override the repetitions of every benchmark")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the results table (markdown) here")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON report here")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)} -> choose from {', '.join(ORDER)}")
    common.quiet_warnings()
    t_start = time.perf_counter()
    report: dict = {
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only != ",".join(ORDER) else "") + (f" --reps {args.reps}" if args.reps else ""),
        "mode": "quick" if args.quick else "full",
        "machine": common.machine_info(),
        "benchmarks": {},
    }
    failed = False
    try:
        for name in [n for n in ORDER if n in names]:
            common.log(f"[{name}] running ...")
            t0 = time.perf_counter()
            try:
                kwargs = {"quick": args.quick}
                if args.reps:
                    kwargs["reps"] = args.reps
                res = _module(name).run(**kwargs)
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                failed = True
                res = {"name": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                       "traceback": traceback.format_exc()}
                common.log(res["traceback"])
            res["runtime_s"] = time.perf_counter() - t0 - float(res.get("generation_s") or 0.0)
            report["benchmarks"][name] = res
    finally:
        common.close_dask()
    report["generation_s"] = dict(common.GENERATION)
    report["runtime_s"] = time.perf_counter() - t_start - sum(common.GENERATION.values())
    common.log("")
    common.log(human_table(report))
    text = json.dumps(report, indent=1, default=str)
    print(text, flush=True)
    if args.json_out:
        args.json_out.write_text(text)
    if args.markdown:
        args.markdown.write_text(markdown_table(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
