"""Reference solution for kerchunk_migration: references/kerchunk.md "References written by kerchunk itself
-> Icechunk" (the registry reaches the reference file AND the data files; containers cover the data URLs)."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['References written by kerchunk itself -> Icechunk']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """KerchunkJSONParser -> to_icechunk; the references keep pointing at inputs/data/*.nc."""
    import icechunk
    import virtualizarr as vz
    from virtualizarr.parsers import KerchunkJSONParser

    import vzskill
    from vzskill.registry import build_registry

    root = Path(task_dir).resolve()
    refs_url = f"file://{root}/inputs/refs/archive.json"
    data_urls = [f"file://{p}" for p in sorted((root / "inputs" / "data").glob("temp_*.nc"))]  # the files it points at

    registry = build_registry([refs_url, *data_urls])         # the references AND the data
    vds = vz.open_virtual_dataset(refs_url, registry=registry, parser=KerchunkJSONParser())
    storage = icechunk.local_filesystem_storage(str(root / "output" / "archive.icechunk"))
    repo = vzskill.create_repo(storage, data_urls)
    with repo.transaction("main", message="migrated from kerchunk") as store:
        vds.vz.to_icechunk(store)
    session = repo.readonly_session("main")
    assert session.chunk_type("/temperature", [0, 0, 0]) == icechunk.ChunkType.virtual
    assert set(session.all_virtual_chunk_locations()) == set(data_urls)


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
