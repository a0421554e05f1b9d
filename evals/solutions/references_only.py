"""Reference solution for references_only: examples.md "References only: prove nothing was copied"
(loadable_variables=[] for every file; several all-virtual files combine with coords="minimal",
compat="override", the gotcha "All-virtual datasets"), then every chunk of every array checked."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['References only: prove nothing was copied', 'All-virtual datasets: `coords="minimal", compat="override"`']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """All five arrays virtual (coordinates too), one commit, proven chunk by chunk."""
    import icechunk
    import numpy as np
    import virtualizarr as vz
    import xarray as xr
    import zarr
    from virtualizarr.parsers import HDFParser

    import vzskill
    from vzskill.registry import build_registry

    paths = sorted((Path(task_dir).resolve() / "inputs" / "archive").glob("temp_*.nc"))
    urls = [f"file://{p}" for p in paths]
    registry = build_registry(urls)
    parts = [vz.open_virtual_dataset(u, registry=registry, parser=HDFParser(), loadable_variables=[]) for u in urls]
    combined = xr.concat(parts, dim="time", coords="minimal", compat="override")
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, urls)
    with repo.transaction("main", message="references only") as store:
        combined.vz.to_icechunk(store)

    session = repo.readonly_session("main")
    group = zarr.open_group(session.store, mode="r")
    for name, array in group.arrays():                   # every chunk of every array
        for chunk in np.ndindex(*array.cdata_shape):
            assert session.chunk_type(f"/{name}", list(chunk)) == icechunk.ChunkType.virtual, (name, chunk)
    assert set(session.all_virtual_chunk_locations()) == set(urls)


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
