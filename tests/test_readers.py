"""8 readers of one repository while a writer appends: each read sees one committed snapshot, whole.

The writer appends files one commit at a time; every reader loops (open session on ``main`` ->
read the time axis and both variables) until the writer is done. Every state read must be exactly
the first k files (k = time steps / 4), with values equal to a direct read of those files - never a
half-appended state (time extended but references missing, or the reverse).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vzskill import fixtures
from vzskill.containers import open_repo
from vzskill.repo import storage_for
from vzskill.write import virtualize

N_READERS = 8
N_FILES = 6


@pytest.mark.timeout(180)
def test_readers_during_appends_see_only_committed_snapshots(tmp_path: Path) -> None:
    files = fixtures.make_series(tmp_path / "src", N_FILES)
    direct = xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], dim="time")
    repo = tmp_path / "repo"
    virtualize(files[:1], repo)
    done = threading.Event()
    seen: list[list[tuple[str, int]]] = [[] for _ in range(N_READERS)]
    problems: list[str] = []

    def read(i: int, storage: object) -> bool:
        try:
            session = open_repo(storage).readonly_session("main")
            ds = xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None).load()
        except Exception as exc:  # noqa: BLE001 - a reader must never fail mid-write
            problems.append(f"reader {i}: {type(exc).__name__}: {exc}")
            return False
        steps = ds.sizes["time"]
        want = direct.isel(time=slice(0, steps))
        if steps % fixtures.N_TIME or not all(
            np.array_equal(ds[v].values, want[v].values) for v in ("time", "temperature", "precipitation")
        ):
            problems.append(f"reader {i}: snapshot {session.snapshot_id} holds a half state ({steps} steps)")
            return False
        seen[i].append((session.snapshot_id, steps // fixtures.N_TIME))
        return True

    def reader(i: int) -> None:
        storage = storage_for(repo)
        while not done.is_set():
            if not read(i, storage):
                return
        read(i, storage)  # once more after the last commit: it must be there, whole

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(N_READERS)]
    for t in threads:
        t.start()
    try:
        for f in files[1:]:
            virtualize([f], repo, append=True)
    finally:
        done.set()
        for t in threads:
            t.join(60)
    assert not problems, problems
    states = {state for reads in seen for state in reads}
    assert len({snap for snap, _ in states}) == len(states)  # one snapshot = one number of files
    assert all(reads and reads[-1][1] == N_FILES for reads in seen), seen  # every reader ends on the last commit
    assert len(states) >= 3, states  # and read while the writer appended (not only before and after)
