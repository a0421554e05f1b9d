"""Property: any small NetCDF4 dataset (dtype, 1-3 dims, chunking, zlib level/shuffle or none), written with
h5netcdf and virtualized into a local Icechunk repository (one or two files), reads back equal - or, when
the two files cannot be concatenated (a partial chunk in the middle), nothing is written. One file is
virtualized without any concat dimension (the default, inferred)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import icechunk
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vzskill.containers import open_repo
from vzskill import verify
from vzskill.write import VirtualizeError, virtualize

DTYPES = ["float32", "float64", "int16", "int32", "uint8"]


@st.composite
def datasets(draw: st.DrawFn) -> dict:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, n)) for n in shape)
    dtype = draw(st.sampled_from(DTYPES))
    level = draw(st.sampled_from([None, 1, 4, 9]))
    shuffle = draw(st.booleans()) if level else False
    n_files = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**16))
    return {"shape": shape, "chunks": chunks, "dtype": dtype, "level": level, "shuffle": shuffle,
            "n_files": n_files, "seed": seed}


def _values(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        return rng.normal(0, 100, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def _write(path: Path, data: np.ndarray, spec: dict) -> None:
    dims = [f"d{i}" for i in range(data.ndim)]
    ds = xr.Dataset({"v": (dims, data)})
    enc = {"chunksizes": spec["chunks"], "_FillValue": None}
    if spec["level"]:
        enc.update(zlib=True, complevel=spec["level"], shuffle=spec["shuffle"])
    ds.to_netcdf(path, engine="h5netcdf", encoding={"v": enc})


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(spec=datasets())
def test_roundtrip(spec: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        parts = [_values(spec["shape"], spec["dtype"], spec["seed"] + i) for i in range(spec["n_files"])]
        files = []
        for i, data in enumerate(parts):
            path = root / "src" / f"part_{i}.nc"
            path.parent.mkdir(exist_ok=True)
            _write(path, data, spec)
            files.append(str(path))
        partial = spec["n_files"] == 2 and spec["shape"][0] % spec["chunks"][0] != 0
        event(f"{'partial' if partial else 'roundtrip'}, {spec['n_files']} file(s), {spec['dtype']}, level {spec['level']}")
        if partial:
            with pytest.raises(VirtualizeError, match="partial chunk"):
                virtualize(files, root / "repo", concat_dim="d0")
            assert not (root / "repo").exists()  # nothing written, not even an empty repository
            return
        # one file needs no concat dimension (None = inferred: none); two files are concatenated along d0
        result = virtualize(files, root / "repo", concat_dim="d0" if spec["n_files"] == 2 else None)
        assert result.nrefs >= 1
        repo = open_repo(icechunk.local_filesystem_storage(str(root / "repo")))
        session = repo.readonly_session(branch="main")
        back = xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None,
                            mask_and_scale=False, decode_times=False)
        expected = np.concatenate(parts, axis=0)
        got = back["v"].values
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        assert verify(repo).ok
