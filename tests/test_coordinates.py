"""vzskill.coordinates.virtual_dataset equals VirtualiZarr's ``ManifestStore.to_virtual_dataset()``.

Real files: the session sample archives (NetCDF4 series and variants, NetCDF3, bounds, FITS) and
the real-world corpus shipped in the installed packages. Every variable (values, dtype, attrs,
encoding, loaded or virtual, index or not) and the dataset's attrs must be the same; the fast path
must really be taken for the sample series (else the speed-up is gone and nobody notices), and
VirtualiZarr's path must decide whatever the fast path does not cover.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import xarray as xr

from vzskill import coordinates
from vzskill.coordinates import virtual_dataset
from vzskill.formats import detect_kind, make_parser
from vzskill.parse import _registry_for
from vzskill.reading import prefetch


def _store(path: Path, prefetched: bool = False):
    url = path.resolve().as_uri()
    registry = _registry_for([url], None)
    if prefetched:
        registry = prefetch(url, registry).registry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_parser(detect_kind(url))(url=url, registry=registry)


def _same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        import numpy as np

        return bool(np.array_equal(a, b, equal_nan=True))


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a, b)
    assert a.attrs == b.attrs and a.encoding == b.encoding
    assert list(a.variables) == list(b.variables) and list(a.coords) == list(b.coords)
    assert list(a.xindexes) == list(b.xindexes)
    for name in a.variables:
        va, vb = a[name].variable, b[name].variable
        assert type(va) is type(vb) and type(va._data) is type(vb._data) and va.dtype == vb.dtype, name
        assert va.encoding.keys() == vb.encoding.keys(), name
        assert all(_same_value(va.encoding[k], vb.encoding[k]) for k in va.encoding), (name, va.encoding, vb.encoding)


def _samples(data_dir: Path) -> list[Path]:
    return ([data_dir / "series" / "temp_000.nc", data_dir / "bounds" / "with_bounds.nc",
             data_dir / "fits" / "image.fits"] + sorted((data_dir / "variants").glob("*.nc")))


def test_sample_archives_equal_virtualizarr(data_dir):
    fast = 0
    for path in _samples(data_dir):
        store = _store(path, prefetched=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = store.to_virtual_dataset()
            got = virtual_dataset(store)
        _assert_same(expected, got)
        try:
            coordinates._fast(store._group, store._registry, None)
            fast += 1
        except coordinates._Unplain:
            pass
    assert fast >= len(_samples(data_dir)) - 2  # other_time_units / scale_factor may take VirtualiZarr's path


def test_the_sample_series_takes_the_fast_path_and_reads_from_the_block(data_dir):
    url = (data_dir / "series" / "temp_000.nc").resolve().as_uri()
    pre = prefetch(url, _registry_for([url], None))
    store = make_parser("hdf5")(url=url, registry=pre.registry)
    before = pre.served
    ds = coordinates._fast(store._group, store._registry, None)
    assert pre.served - before == 3  # time, lat, lon: one read each, from the first block
    assert set(ds.xindexes) == {"time", "lat", "lon"} and str(ds.time.dtype).startswith("datetime64")


def test_explicit_loadable_variables_take_virtualizarr_path(data_dir):
    store = _store(data_dir / "series" / "temp_000.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_same(store.to_virtual_dataset(loadable_variables=["time", "temperature"]),
                     virtual_dataset(store, loadable_variables=["time", "temperature"]))


@pytest.mark.parametrize("decode_times", [False, True])
def test_decode_times_is_passed(data_dir, decode_times):
    store = _store(data_dir / "series" / "temp_000.nc")
    _assert_same(store.to_virtual_dataset(decode_times=decode_times), virtual_dataset(store, decode_times=decode_times))


def test_corpus_files_equal_virtualizarr_or_fail_alike(corpus_files):
    compared = 0
    for cf in corpus_files:
        if cf.kind not in ("hdf5", "netcdf3", "fits"):
            continue
        try:
            store = _store(cf.path)
        except Exception:  # noqa: BLE001 - the parser refuses it: nothing to compare
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = store.to_virtual_dataset()
            except Exception as exc:  # noqa: BLE001 - VirtualiZarr refuses it: so must the fast path
                with pytest.raises(type(exc)):
                    virtual_dataset(store)
                continue
            try:
                got = coordinates._fast(store._group, store._registry, None)
            except coordinates._Unplain:
                continue  # VirtualiZarr's own path: the same call (strings, compounds, times in data vars)
            _assert_same(expected, got)
        compared += 1
    assert compared >= 20
