"""Concurrent writers on one branch of an icechunk repo on S3 (moto enforces conditional PUTs).

Never on local disk: icechunk's LocalFileSystem storage is not safe for concurrent commits
(commits are lost silently), so these tests only use the S3 backend.

* 8 writers (threads, each its own Repository + writable_session, started by a Barrier):
  without rebase exactly one commit wins, 7 get ConflictError; with
  ``rebase_with=ConflictDetector()`` all 8 land, nothing is lost.
* same chunk: ConflictDetector -> RebaseFailedError listing the conflict; BasicConflictSolver(UseOurs) resolves it.
* two appends along time: not auto-resolvable; recovery = discard, new session, redo the append.
* vzskill: 8 concurrent ``vzskill virtualize --append`` processes (files in shuffled order): every
  one lands (conflicts redone from the new tip, files placed by time), the axis is strictly
  increasing, values equal the files, verify ok.
"""

from __future__ import annotations

import random
import threading

import icechunk
import numpy as np
import pytest
import xarray as xr
import zarr
from virtualizarr import open_virtual_dataset
from virtualizarr.parsers import HDFParser

import vzskill
from vzskill.containers import create_repo, open_repo
from vzskill.registry import build_registry
from vzskill.sources import Access
from tests.plugins.safety import TEST_KEY_ID, TEST_SECRET
from tests.plugins.servers import assert_same_values, local_series, repo_storage

pytestmark = [pytest.mark.s3, pytest.mark.timeout(90)]

N_WRITERS = 8
ROW = 10


def new_grid_repo(endpoint: str, bucket: str, name: str) -> icechunk.Storage:
    """Repo with one int32 array ``grid`` (N_WRITERS x ROW, one chunk per row, fill -1) on main."""
    storage = repo_storage(endpoint, bucket, f"repos/{name}")
    repo = icechunk.Repository.create(storage)
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    root.create_array("grid", shape=(N_WRITERS, ROW), chunks=(1, ROW), dtype="int32", fill_value=-1)
    session.commit("empty grid")
    return storage


def row(i: int) -> np.ndarray:
    return np.arange(ROW, dtype="int32") + 100 * i


def n_snapshots(storage: icechunk.Storage) -> int:
    return len(list(icechunk.Repository.open(storage).ancestry(branch="main")))


def read_grid(storage: icechunk.Storage) -> np.ndarray:
    session = icechunk.Repository.open(storage).readonly_session("main")
    return zarr.open_group(session.store, mode="r")["grid"][:]


def run_writers(storage: icechunk.Storage, write, commit_kwargs: dict) -> list[object]:
    """Start N_WRITERS threads; each writes its part, waits at the barrier, then commits.

    Returns, per writer, the snapshot id or the exception it got.
    """
    barrier = threading.Barrier(N_WRITERS, timeout=30)
    results: list[object] = [None] * N_WRITERS

    def worker(i: int) -> None:
        try:
            repo = icechunk.Repository.open(storage)  # each writer its own Repository object
            session = repo.writable_session("main")
            write(i, session)
            barrier.wait()  # every session is based on the same snapshot; commit together
            results[i] = session.commit(f"writer {i}", **commit_kwargs)
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return results


def write_row(i: int, session: icechunk.Session) -> None:
    zarr.open_group(session.store, mode="r+")["grid"][i, :] = row(i)


def test_without_rebase_exactly_one_commit_wins(s3_endpoint, make_bucket):
    storage = new_grid_repo(s3_endpoint, make_bucket(), "norebase")
    before = n_snapshots(storage)
    results = run_writers(storage, write_row, {})
    winners = [i for i, r in enumerate(results) if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert len(losers) == N_WRITERS - 1
    assert all(isinstance(e, icechunk.ConflictError) for e in losers), losers
    assert all("Failed to commit, expected parent" in str(e) for e in losers)
    assert n_snapshots(storage) == before + 1
    grid = read_grid(storage)
    (w,) = winners
    np.testing.assert_array_equal(grid[w], row(w))
    assert (np.delete(grid, w, axis=0) == -1).all()  # the losers' rows were not written


def test_with_rebase_all_eight_commits_land(s3_endpoint, make_bucket):
    storage = new_grid_repo(s3_endpoint, make_bucket(), "rebase")
    before = n_snapshots(storage)
    results = run_writers(storage, write_row, {"rebase_with": icechunk.ConflictDetector(), "rebase_tries": 50})
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == N_WRITERS
    assert n_snapshots(storage) == before + N_WRITERS  # 0 lost
    grid = read_grid(storage)
    for i in range(N_WRITERS):
        np.testing.assert_array_equal(grid[i], row(i))


def test_with_rebase_eight_virtual_groups(s3_endpoint, s3_data_bucket, make_bucket, series_files):
    """Eight writers each virtualize a file from S3 into their own group; all land, all readable."""
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    urls = [f"s3://{s3_data_bucket}/series/{p.name}" for p in series_files]
    registry = build_registry(urls, access)
    vdss = [open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/groups")
    session = create_repo(storage, urls, access).writable_session("main")
    zarr.group(store=session.store)  # the root group must exist before the writers add groups below it
    session.commit("root group")     # (otherwise every writer creates "/" too: NewNodeConflictsWithExistingNode)
    before = n_snapshots(storage)

    def write_group(i: int, session: icechunk.Session) -> None:
        vdss[i % len(vdss)].vz.to_icechunk(session.store, group=f"writer{i}")

    results = run_writers(storage, write_group, {"rebase_with": icechunk.ConflictDetector(), "rebase_tries": 50})
    assert all(isinstance(r, str) for r in results), results
    assert n_snapshots(storage) == before + N_WRITERS
    session = open_repo(storage, access).readonly_session("main")
    for i in range(N_WRITERS):
        ds = xr.open_zarr(session.store, group=f"writer{i}", consolidated=False, zarr_format=3).load()
        assert_same_values(ds, local_series([series_files[i % len(series_files)]]))


def test_same_chunk_conflict_then_use_ours(s3_endpoint, make_bucket):
    storage = new_grid_repo(s3_endpoint, make_bucket(), "samechunk")
    a = icechunk.Repository.open(storage).writable_session("main")
    b = icechunk.Repository.open(storage).writable_session("main")
    zarr.open_group(a.store, mode="r+")["grid"][0, :] = 1
    zarr.open_group(b.store, mode="r+")["grid"][0, :] = 2
    a.commit("A writes row 0")
    with pytest.raises(icechunk.RebaseFailedError, match=r"Rebase failed on snapshot .*: 1 conflicts found") as info:
        b.commit("B writes row 0", rebase_with=icechunk.ConflictDetector())
    (conflict,) = info.value.conflicts
    assert conflict.conflict_type == icechunk.ConflictType.ChunkDoubleUpdate
    assert conflict.path == "/grid"
    assert [list(c) for c in conflict.conflicted_chunks] == [[0, 0]]
    # resolution: keep our (B's) chunk
    b.rebase(icechunk.BasicConflictSolver(on_chunk_conflict=icechunk.VersionSelection.UseOurs))
    b.commit("B writes row 0 (ours wins)")
    np.testing.assert_array_equal(read_grid(storage)[0], np.full(ROW, 2, dtype="int32"))


@pytest.fixture()
def append_base(s3_endpoint, s3_data_bucket, make_bucket, series_files):
    """Repo on S3 holding the first file of the series (virtual, from S3); the next two to append."""
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    urls = [f"s3://{s3_data_bucket}/series/{p.name}" for p in series_files]
    registry = build_registry(urls, access)
    vdss = [open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/append")
    repo = create_repo(storage, urls, access)
    session = repo.writable_session("main")
    vdss[0].vz.to_icechunk(session.store)
    session.commit("first file")
    return storage, access, vdss


def append_session(storage, access, vds) -> icechunk.Session:
    session = open_repo(storage, access).writable_session("main")
    vds.vz.to_icechunk(session.store, append_dim="time")
    return session


def test_concurrent_appends_cannot_be_auto_resolved(append_base):
    storage, access, vdss = append_base
    a = append_session(storage, access, vdss[1])
    b = append_session(storage, access, vdss[2])  # both based on the same snapshot
    a.commit("append file 1")
    with pytest.raises(icechunk.ConflictError, match="Failed to commit, expected parent"):
        b.commit("append file 2")
    with pytest.raises(icechunk.RebaseFailedError, match="conflicts found") as info:
        b.rebase(icechunk.ConflictDetector())
    kinds = [c.conflict_type for c in info.value.conflicts]
    assert icechunk.ConflictType.ZarrMetadataDoubleUpdate in kinds
    assert "/time" in {c.path for c in info.value.conflicts}
    with pytest.raises(icechunk.RebaseFailedError, match="conflicts found"):
        b.rebase(icechunk.BasicConflictSolver(on_chunk_conflict=icechunk.VersionSelection.UseOurs))


def append_with_retry(storage, access, vds, message: str, tries: int = 5) -> str:
    """The documented recovery: on ConflictError discard the session, open a new one, redo the append."""
    for _ in range(tries):
        session = append_session(storage, access, vds)
        try:
            return session.commit(message)
        except icechunk.ConflictError:
            continue  # session discarded; the append is redone on the new tip of main
    raise RuntimeError(f"{message}: still conflicting after {tries} tries")


def test_concurrent_append_recovery_gives_gap_free_time_axis(append_base, series_files):
    storage, access, vdss = append_base
    b = append_session(storage, access, vdss[2])  # a writer started before the other one committed
    append_with_retry(storage, access, vdss[1], "append file 1")  # the other writer wins
    with pytest.raises(icechunk.ConflictError):
        b.commit("append file 2")
    del b  # discard: a session that lost cannot be reused for the append
    append_with_retry(storage, access, vdss[2], "append file 2")
    ds = xr.open_zarr(open_repo(storage, access).readonly_session("main").store, consolidated=False).load()
    assert_same_values(ds, local_series(series_files))
    steps = np.diff(ds["time"].values).astype("timedelta64[D]").astype(int)
    assert (steps == 1).all() and ds.sizes["time"] == 12  # gap-free, no duplicates
    assert n_snapshots(storage) == 4  # initial, first file, two appends


def test_writers_creating_groups_in_a_repo_without_root_group_conflict(s3_endpoint, s3_data_bucket, make_bucket, series_files):
    """Both writers create "/" implicitly: not rebasable. Fix: commit the root group first (see above)."""
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    urls = [f"s3://{s3_data_bucket}/series/{series_files[0].name}"]
    vds = open_virtual_dataset(urls[0], registry=build_registry(urls, access), parser=HDFParser())
    storage = repo_storage(s3_endpoint, make_bucket(), "repos/noroot")
    create_repo(storage, urls, access)
    a = open_repo(storage, access).writable_session("main")
    b = open_repo(storage, access).writable_session("main")
    vds.vz.to_icechunk(a.store, group="a")
    vds.vz.to_icechunk(b.store, group="b")
    a.commit("group a")
    with pytest.raises(icechunk.RebaseFailedError, match="conflicts found") as info:
        b.commit("group b", rebase_with=icechunk.ConflictDetector())
    assert [(c.conflict_type, c.path) for c in info.value.conflicts] == [
        (icechunk.ConflictType.NewNodeConflictsWithExistingNode, "/")
    ]


# --------------------------------------------------------------------------- vzskill: concurrent CLI appends

N_APPENDERS = 8


def _series_on_s3(s3_client, make_bucket, tmp_path, n: int) -> tuple[list, list[str], str]:
    from vzskill import fixtures

    files = fixtures.make_series(tmp_path / "src", n)
    data = make_bucket()
    for f in files:
        s3_client.upload_file(str(f), data, f"series/{f.name}")
    return files, [f"s3://{data}/series/{f.name}" for f in files], make_bucket()


def _assert_all_landed(s3_endpoint: str, repo_bucket: str, files: list, n_appends: int) -> None:
    from vzskill import verify

    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    storage = repo_storage(s3_endpoint, repo_bucket, "repo")
    assert n_snapshots(storage) == 1 + 1 + n_appends  # initialized, first write, every append: 0 lost
    ds = xr.open_zarr(open_repo(storage, access).readonly_session("main").store, consolidated=False).load()
    assert (np.diff(ds["time"].values) > np.timedelta64(0, "ns")).all()
    assert_same_values(ds, local_series(files))
    report = verify(storage, access=access)
    assert report.ok, report.format_table()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_concurrent_cli_appends_all_land_in_order(s3_endpoint, s3_client, make_bucket, tmp_path):
    """8 `vzskill virtualize --append` processes started together, files in shuffled order: all land
    (conflicts redone from the new tip), the time axis is strictly increasing, verify says ok, and the
    values equal the files. Before: 2 of 6 landed and main's time axis ended out of order."""
    import json
    import os
    import subprocess
    import sys

    files, urls, repo_bucket = _series_on_s3(s3_client, make_bucket, tmp_path, N_APPENDERS + 1)
    cli = [sys.executable, "-m", "vzskill", "virtualize", "--repo", f"s3://{repo_bucket}/repo", "--endpoint", s3_endpoint,
           "--json"]
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    access = Access(endpoint=s3_endpoint, access_key_id=TEST_KEY_ID, secret_access_key=TEST_SECRET)
    vzskill.virtualize(urls[:1], repo_storage(s3_endpoint, repo_bucket, "repo"), access=access)  # the first write
    order = list(range(1, N_APPENDERS + 1))
    random.Random(13).shuffle(order)
    procs = [subprocess.Popen([*cli, "--append", urls[i]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for i in order]
    outcomes = [(*p.communicate(timeout=240), p.returncode) for p in procs]
    assert [code for _, _, code in outcomes] == [0] * N_APPENDERS, [err for _, err, _ in outcomes]
    results = [json.loads(out) for out, _, _ in outcomes]
    assert sum(r["attempts"] > 1 for r in results) >= 1  # they did race (every one on its first try: not a test)
    assert all(not r["skipped"] for r in results)
    _assert_all_landed(s3_endpoint, repo_bucket, files, N_APPENDERS)
