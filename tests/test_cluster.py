"""Batched writes and parsing on a real dask.distributed LocalCluster (2 worker processes).

Batches: ceil(refs / batch_refs) commits, each marked for resuming; a failure in batch k commits
nothing of it, keeps batches 1..k-1 and the same call again completes. The cluster's result is the
serial one (same values, same references, verify OK).
"""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path
from typing import Any, Iterator

import icechunk
import numpy as np
import pytest
import xarray as xr

from vzskill import fixtures, verify
from vzskill.batches import BATCH_KEY
from vzskill.containers import open_repo
from vzskill.parse import parse_files
from vzskill.repo import storage_for
from vzskill.write import VirtualizeError, count_refs, virtualize

distributed = pytest.importorskip("distributed")

REFS_PER_FILE = 32  # make_series: 2 variables x 4 time steps x 2 x 2 chunks (1, 10, 15) of (4, 20, 30)
pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore")]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six consecutive files (24 time steps); read-only."""
    return fixtures.make_series(tmp_path_factory.mktemp("cluster_src"), 6)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=50)
    with cluster, distributed.Client(cluster, set_as_default=False) as c:
        yield c


def _repo(location: Path) -> icechunk.Repository:
    return open_repo(storage_for(location))  # authorized for the containers it declares


def _data(location: Path) -> xr.Dataset:
    repo = _repo(location)
    return xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False, zarr_format=3, chunks=None)


def _marks(location: Path) -> list[dict[str, Any]]:
    return [s.metadata[BATCH_KEY] for s in _repo(location).ancestry(branch="main") if BATCH_KEY in (s.metadata or {})]


def _copy(files: list[Path], dest: Path) -> list[Path]:
    dest.mkdir()
    return [Path(shutil.copy2(f, dest / f.name)) for f in files]


def test_parsed_files_travel_as_virtualizarr_returns_them(series: list[Path]) -> None:
    """What a worker sends back: the ParsedFile with its ManifestArray dataset, a few KB per small file."""
    parsed = parse_files([str(f) for f in series[:2]])
    for p in parsed:
        blob = pickle.dumps(p)
        back = pickle.loads(blob)
        assert back.url == p.url and count_refs(back.dataset) == count_refs(p.dataset) == REFS_PER_FILE
        for name in ("temperature", "precipitation"):
            assert back.dataset[name].data.manifest.dict() == p.dataset[name].data.manifest.dict()
        assert len(blob) < 20_000


def test_cluster_batches_equal_the_serial_write(tmp_path: Path, series: list[Path], client: Any) -> None:
    serial = virtualize(series, tmp_path / "serial")
    with distributed.get_task_stream(client=client) as tasks:
        batched = virtualize(series, tmp_path / "cluster", dask_scheduler=client.scheduler.address, batch_refs=64)
    assert len(tasks.data) >= 2 and {t["worker"] for t in tasks.data} <= set(client.scheduler_info()["workers"])
    n_refs = REFS_PER_FILE * len(series)
    assert batched.nrefs == serial.nrefs == n_refs
    assert batched.batches == len(batched.snapshots) == math.ceil(n_refs / 64) == 3
    assert len(list(_repo(tmp_path / "cluster").ancestry(branch="main"))) == 3 + 1  # + the repository's first
    assert [m["files"] for m in reversed(_marks(tmp_path / "cluster"))] == [2, 4, 6]
    assert batched.dims == serial.dims and batched.concat_dim == serial.concat_dim == "time"
    assert batched.snapshot_id == _repo(tmp_path / "cluster").lookup_branch("main")
    xr.testing.assert_identical(_data(tmp_path / "cluster").load(), _data(tmp_path / "serial").load())
    report = verify(str(tmp_path / "cluster"), [str(f) for f in series])
    assert report.ok, report.format_table()


def test_failure_in_batch_2_keeps_batch_1_and_the_rerun_completes(tmp_path: Path, series: list[Path],
                                                                 client: Any) -> None:
    files = _copy(series, tmp_path / "src")
    held = tmp_path / "held.nc"

    def delete_after_batch_1(stage: str, done: int, total: int) -> None:
        if stage == "committed" and done == 2 and files[3].exists():
            shutil.move(files[3], held)  # in batch 2 (files 3-4), parsed already: the guard must see it go

    urls = [str(f) for f in files]
    with pytest.raises(VirtualizeError) as err:
        virtualize(urls, tmp_path / "repo", parallel=client, batch_refs=64, progress=delete_after_batch_1)
    text = str(err.value)
    assert "\n" not in text and files[3].name in text and "disappeared" in text
    assert "batch 2 not committed" in text and "batches 1-1 are committed (files 1-2 of 6" in text
    assert "rerun the same command to resume from file 3" in text
    assert [m["batch"] for m in _marks(tmp_path / "repo")] == [1]
    assert _data(tmp_path / "repo").sizes["time"] == 8

    shutil.move(held, files[3])
    again = virtualize(urls, tmp_path / "repo", parallel=client, batch_refs=64)
    assert again.resumed_files == 2 and again.n_files == 4 and again.batches == 2 and again.appended is False
    assert [m["batch"] for m in reversed(_marks(tmp_path / "repo"))] == [1, 2, 3]
    stored = _data(tmp_path / "repo")
    assert stored.sizes["time"] == 24 and bool(np.all(np.diff(stored["time"].values) > np.timedelta64(0)))
    assert verify(str(tmp_path / "repo"), urls).ok
    done = virtualize(urls, tmp_path / "repo", batch_refs=64)  # complete: nothing parsed, nothing committed
    assert done.batches == 0 and done.snapshots == [] and done.resumed_files == 6
    assert done.snapshot_id == _repo(tmp_path / "repo").lookup_branch("main") == again.snapshot_id


def test_batches_parse_window_by_window(tmp_path: Path) -> None:
    """Never every parsed file at once: the first batch commits before the last files are parsed."""
    files = fixtures.make_series(tmp_path / "src", 24)
    events: list[tuple[str, int]] = []
    result = virtualize(files, tmp_path / "repo", batch_refs=4 * REFS_PER_FILE,
                        progress=lambda stage, done, total: events.append((stage, done)))
    assert result.batches == 6 and result.nrefs == 24 * REFS_PER_FILE
    first_commit = events.index(("committed", 4))
    parsed_before = max(done for stage, done in events[:first_commit] if stage == "parse")
    assert parsed_before < 24
    assert verify(str(tmp_path / "repo"), [str(f) for f in files]).ok


def test_a_file_above_batch_refs_is_committed_alone_and_said(tmp_path: Path, series: list[Path]) -> None:
    result = virtualize(series[:3], tmp_path / "repo", batch_refs=10)
    assert result.batches == 3 and result.nrefs == 3 * REFS_PER_FILE
    assert any(f"{REFS_PER_FILE} references, more than batch_refs=10" in w for w in result.warnings)


@pytest.mark.parametrize("kwargs, needle", [
    ({"batch_refs": 0}, "batch_refs=0: need at least 1"),
    ({"batch_refs": 64, "combine": "by_coords"}, "use combine='nested'"),
    ({"batch_refs": 64, "concat_dim": ["member", "time"]}, "along ONE dimension"),
    ({"dask_scheduler": "tcp://127.0.0.1:1", "parallel": "threads"}, "drop one of them"),
])
def test_arguments_batches_cannot_follow_are_one_line(tmp_path: Path, series: list[Path], kwargs: dict[str, Any],
                                                      needle: str) -> None:
    with pytest.raises(VirtualizeError, match="^[^\n]*$") as err:
        virtualize(series[:2], tmp_path / "repo", **kwargs)
    assert needle in str(err.value)
    assert not (tmp_path / "repo").exists()


def test_cli_batches_on_the_cluster(tmp_path: Path, series: list[Path], client: Any,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from vzskill.cli import main

    argv = ["virtualize", *map(str, series), "--repo", str(tmp_path / "repo"), "--dask-scheduler",
            client.scheduler.address, "--batch-refs", "96", "--json"]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: the virtualize parser has no --dask-scheduler yet (cli.py)
        pytest.skip(f"vzskill virtualize has no --dask-scheduler/--batch-refs yet (exit {exc.code})")
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["batches"] == 2 and len(out["snapshots"]) == 2 and out["batch_refs"] == 96
