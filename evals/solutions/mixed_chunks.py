"""Reference solution for mixed_chunks: troubleshooting.md "Mixed chunk shapes", "Fix, one array"
(the check names the odd file; write file by file in order, the odd file loaded so that its chunks are
stored in the repository, every other file's chunks virtual), then verify with the files passed."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Mixed chunk shapes', '**Fix, one array:**', 'Appending along time', '`loadable_variables` must be a list']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """One array along time; the differently chunked file stored in the repository, the rest virtual."""
    import icechunk
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    import vzskill
    from vzskill import check, verify
    from vzskill.registry import build_registry

    data = Path(task_dir).resolve() / "inputs" / "archive"
    files = [f"file://{p}" for p in sorted(data.glob("temp_*.nc"))]   # in time order
    odd = {f.file for f in check(files).findings if f.kind == "chunks"}   # the files the findings name
    assert len(odd) == 1, odd

    registry = build_registry(files)
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, files)
    for i, file_url in enumerate(files):
        loaded = ["time", "lat", "lon", "temperature", "precipitation"] if file_url in odd else None
        step = vz.open_virtual_dataset(file_url, registry=registry, parser=HDFParser(), loadable_variables=loaded)
        with repo.transaction("main", message=file_url.rsplit("/", 1)[-1]) as store:
            step.vz.to_icechunk(store, append_dim="time" if i else None)
    assert verify(vzskill.open_repo(storage), files).ok  # the stored chunks are compared with the odd file too


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
