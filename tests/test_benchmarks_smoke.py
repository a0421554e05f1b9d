"""Smoke test: the benchmark scripts still run and print their ratios (no timing asserted).

Runs ``benchmarks/run.py --quick --only read --reps 1`` in a subprocess, with its data cache in
tmp_path. The real measurements are run by hand: see benchmarks/README.md.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_run_quick_read_prints_ratios(tmp_path):
    env = dict(os.environ, VZSKILL_BENCH_DATA=str(tmp_path), ICECHUNK_LOG="error")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "read", "--reps", "1"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    read = report["benchmarks"]["read"]
    assert "error" not in read, read.get("traceback")
    assert set(read["results"]) == {"h5netcdf", "icechunk", "manifeststore"}
    for path in ("icechunk", "manifeststore"):
        for op in ("whole", "slice", "series"):
            ratio = read["ratios"][f"{path}_{op}_speed_vs_h5netcdf(open+read)"]
            assert ratio > 0 and ratio == ratio  # a number, not NaN
    assert {t["target"] for t in read["targets"].values()} == {">= 1.0"}
    assert "target icechunk whole read" in proc.stderr  # the human table
    assert report["machine"]["packages"]["icechunk"]
