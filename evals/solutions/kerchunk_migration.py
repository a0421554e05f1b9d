"""Reference solution for kerchunk_migration: examples.md "Migrating kerchunk references to Icechunk"
(the registry reaches the reference file and the data files; containers cover the data URLs)."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['Migrating kerchunk references to Icechunk']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """KerchunkJSONParser -> to_icechunk; the references keep pointing at inputs/data/*.nc."""
    import icechunk
    import virtualizarr as vz
    import vzskill
    from virtualizarr.parsers import KerchunkJSONParser

    root = Path(task_dir).resolve()
    refs_url = f"file://{root}/inputs/refs/archive.json"
    data_urls = [f"file://{root}/inputs/data/temp_000.nc"]   # any file below the data root they point to

    registry = vzskill.build_registry([refs_url, *data_urls])
    vds = vz.open_virtual_dataset(refs_url, registry=registry, parser=KerchunkJSONParser())
    storage = icechunk.local_filesystem_storage(str(root / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, data_urls)
    with repo.transaction("main", message="migrated from kerchunk") as store:
        vds.vz.to_icechunk(store)
    session = repo.readonly_session("main")
    assert all(url.startswith(f"file://{root}/inputs/data/") for url in session.all_virtual_chunk_locations())


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
