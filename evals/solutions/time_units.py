"""Reference solution for time_units: SKILL.md gotcha "Mixed CF time units" (keep time loaded and decoded,
the default) with the helpers (check warns about the units, virtualize, verify)."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Mixed CF time units give silently wrong times']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """vzskill.virtualize with the defaults; the check's warning about time units is expected."""
    import icechunk

    import vzskill
    from vzskill import check, verify

    paths = sorted((Path(task_dir).resolve() / "inputs" / "archive").glob("temp_*.nc"))
    report = check(paths)
    assert report.ok, [f.message for f in report.findings]
    location = Path(task_dir).resolve() / "output" / "archive.icechunk"
    result = vzskill.virtualize(paths, location)
    assert (result.n_files, result.dims["time"]) == (3, 12)
    repo = vzskill.open_repo(icechunk.local_filesystem_storage(str(location)))
    assert verify(repo).ok


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
