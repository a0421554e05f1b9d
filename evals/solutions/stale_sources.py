"""Reference solution for stale_sources: troubleshooting "Source file changed or deleted after writing"
(verify lists missing and modified sources; re-virtualize the current files with mode="w", one commit)."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Source file changed or deleted after writing']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """verify(storage).stale -> output/stale.txt; the current files rewritten over main in a new commit."""
    import icechunk
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    import vzskill
    from vzskill import verify
    from vzskill.registry import build_registry

    root = Path(task_dir).resolve()
    storage = icechunk.local_filesystem_storage(str(root / "output" / "archive.icechunk"))
    report = verify(storage)
    names = sorted({stale.file.rsplit("/", 1)[-1] for stale in report.stale})
    (root / "output" / "stale.txt").write_text("".join(f"{name}\n" for name in names))

    urls = [f"file://{p}" for p in sorted((root / "inputs" / "archive").glob("temp_*.nc"))]
    current = vz.open_virtual_mfdataset(urls, registry=build_registry(urls), parser=HDFParser(),
                                        combine="nested", concat_dim="time")
    repo = vzskill.open_repo(storage)
    with repo.transaction("main", message="re-virtualized the current files") as store:
        current.vz.to_icechunk(store, mode="w")
    assert verify(storage).ok


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
