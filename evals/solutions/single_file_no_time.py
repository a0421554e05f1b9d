"""Reference solution for single_file_no_time: SKILL.md "Default path" (check -> virtualize -> verify); one file
has no concat dimension ("What the helpers decide for you")."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Default path: doctor -> check -> virtualize -> verify', '**Concat dimension**']


def solve(task_dir: Path) -> None:
    """check([file]) -> virtualize([file], repo) -> verify; no dimension added."""
    import vzskill
    from vzskill import check, verify

    root = Path(task_dir).resolve()
    paths = [root / "inputs" / "bears.nc"]
    report = check(paths)
    assert report.ok, report.format_table()
    location = root / "output" / "bears.icechunk"
    result = vzskill.virtualize(paths, location)
    assert "time" not in result.dims, result.dims
    verified = verify(vzskill.open_repo(vzskill.storage_for(str(location))))
    assert verified.ok, verified.format_table()


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
