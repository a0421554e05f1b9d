"""Reference solution for mixed_chunks.

What the skill shows: SKILL.md "Default path" (the check names the odd file and suggests
loadable_variables), "Appending along time" (first write, then append_dim="time", one file at a time)
and the loadable_variables gotcha (an explicit list must name the dimension coordinates too). Combining
them: append the files in order, loading the odd file's variables so its chunks are stored natively.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Default path: doctor -> check -> virtualize -> verify', 'Appending along time', '`loadable_variables` must be a list']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """One array along time; the differently chunked file stored in the repository, the rest virtual."""
    import icechunk
    import virtualizarr as vz
    import vzskill
    from virtualizarr.parsers import HDFParser
    from vzskill.check import check

    data = Path(task_dir).resolve() / "inputs" / "archive"
    paths = sorted(data.glob("temp_*.nc"))
    urls = [f"file://{p}" for p in paths]
    report = check(paths)
    odd = {f.file.rsplit("/", 1)[-1] for f in report.findings if f.severity == "error" and "chunks" in f.message}
    assert len(odd) == 1, [f.message for f in report.findings]

    registry = vzskill.build_registry(urls)
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, urls)
    for i, url in enumerate(urls):
        loaded = ["time", "lat", "lon", "temperature", "precipitation"] if url.rsplit("/", 1)[-1] in odd else None
        step = vz.open_virtual_dataset(url, registry=registry, parser=HDFParser(), loadable_variables=loaded)
        with repo.transaction("main", message=url.rsplit("/", 1)[-1]) as store:
            if i == 0:
                step.vz.to_icechunk(store)                          # first write: no append_dim
            else:
                step.vz.to_icechunk(store, append_dim="time")


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
