"""Reference solution for ensemble_grid: examples.md "2-D nested combine: ensemble x time"."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['2-D nested combine: ensemble x time']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """A list of lists (members x time) combined nested along ["ensemble", "time"], one commit."""
    import icechunk
    import virtualizarr as vz
    from virtualizarr.parsers import HDFParser

    import vzskill
    from vzskill.registry import build_registry

    ensemble = Path(task_dir).resolve() / "inputs" / "runs"
    grid = [
        [f"file://{ensemble}/ens{member}/temp_{step:03d}.nc" for step in range(2)]
        for member in range(2)
    ]
    registry = build_registry([url for row in grid for url in row])
    combined = vz.open_virtual_mfdataset(
        grid, registry=registry, parser=HDFParser(), combine="nested",
        concat_dim=["ensemble", "time"], coords="minimal", compat="override",
    )
    assert dict(combined.sizes) == {"ensemble": 2, "time": 8, "lat": 20, "lon": 30}
    storage = icechunk.local_filesystem_storage(str(Path(task_dir) / "output" / "ensemble.icechunk"))
    repo = vzskill.create_repo(storage, [url for row in grid for url in row])
    with repo.transaction("main", message="2 members x 2 files") as store:
        combined.vz.to_icechunk(store)


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
