"""Reference solution for hdf4_granule: references/formats.md "HDF4"."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['HDF4']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """virtualize([granule], repo) -> verify (compared with pyhdf)."""
    import vzskill

    root = Path(task_dir).resolve()
    granule = root / "inputs" / "granules" / "MOD_L2.A2024001.hdf"
    location = root / "output" / "granule.icechunk"
    vzskill.virtualize([granule], location)
    report = vzskill.verify(location)
    assert report.ok, report.format_table()


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
