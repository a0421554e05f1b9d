"""troubleshooting.md (+ references/troubleshooting-*.md) vs reality: every documented message is
re-triggered and matched, every fix runs.

troubleshooting.md holds the quick index of every message, the set-up and the entries on combining
and parsing; the other entries live in ``references/troubleshooting-*.md`` by domain (:data:`DOCS`).
Each document is parsed: an entry starts at ``<a id="ID"></a>`` and ends at the next entry or ``##``
heading; the entries of references/troubleshooting-remote.md (``## Remote sources (S3, HTTP)``) are
tested in tests/test_backend_*.py. Each line of an entry's ```text blocks is one documented message,
``Type: message`` (``<...>`` = a run-specific value, ``…`` = an elision).

For every entry ID there is a trigger here (:data:`TRIGGERS`) that provokes the real failure and
returns what was raised (exceptions, or warnings turned into exceptions), and a fix (:data:`FIXES`)
that runs the documented fix and checks its result. ``test_messages_match_reality`` asserts that
each documented line matches one raised exception (type name + message pattern) and that each raised
exception is documented; silent-wrong-data triggers assert the wrong result themselves.

Two entries quote messages this stack cannot produce (pip on Python 3.11, icechunk 1.x); they carry a
``<!-- message-from: ... -->`` marker and are listed in :data:`NOT_REPRODUCIBLE` with the check that
replaces the message comparison.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import shutil
import site
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import icechunk
import numpy as np
import pytest
import virtualizarr as vz
import xarray as xr
from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import LocalStore
from virtualizarr.manifests import ManifestArray
from virtualizarr.parsers import HDFParser, KerchunkJSONParser, NetCDF3Parser

import vzskill
import vzskill.parse
from tests.plugins.docs_links import broken_links
from vzskill import doctor, fixtures
from vzskill.containers import add_containers, repository_config, source_prefixes
from vzskill.registry import build_registry, check_registry

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "troubleshooting.md"
REMOTE_DOC = ROOT / "references" / "troubleshooting-remote.md"
REMOTE_HEADING = "## Remote sources (S3, HTTP)"
#: The documents whose entries are triggered here: the index document, then every reference file
#: ``references/troubleshooting-*.md`` except the remote one.
DOCS = (DOC, *sorted(p for p in (ROOT / "references").glob("troubleshooting-*.md") if p != REMOTE_DOC))

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")


# --------------------------------------------------------------------------------------------
# Parsing the document
# --------------------------------------------------------------------------------------------

ANCHOR = re.compile(r'^<a id="(?P<id>[^"]+)"></a>\s*$', re.M)
TEXT_BLOCK = re.compile(r"(?P<before>(?:^[^\n]*\n)?)^```text\n(?P<body>.*?)^```\s*$", re.M | re.S)
MESSAGE_FROM = re.compile(r"<!--\s*message-from:\s*(?P<source>.*?)\s*-->")


@dataclass
class Entry:
    id: str
    title: str
    text: str
    doc: str = "troubleshooting.md"  # the file holding the entry, relative to the repository root
    messages: list[str] = field(default_factory=list)  # documented "Type: message" lines
    message_from: list[str] = field(default_factory=list)  # sources of messages not reproducible here


def parse_docs() -> dict[str, Entry]:
    """The entries of every document in :data:`DOCS` (an id is unique across them)."""
    entries: dict[str, Entry] = {}
    for path in DOCS:
        name = path.relative_to(ROOT).as_posix()
        for entry_id, entry in parse_doc(path.read_text(encoding="utf-8"), name).items():
            assert entry_id not in entries, f"entry id {entry_id!r} in {name} and {entries[entry_id].doc}"
            entries[entry_id] = entry
    return entries


def parse_doc(text: str | None = None, name: str = "troubleshooting.md") -> dict[str, Entry]:
    text = DOC.read_text(encoding="utf-8") if text is None else text
    local = text.split(REMOTE_HEADING, 1)[0]
    anchors = list(ANCHOR.finditer(local))
    entries: dict[str, Entry] = {}
    for i, anchor in enumerate(anchors):
        end = anchors[i + 1].start() if i + 1 < len(anchors) else len(local)
        body = local[anchor.end():end]
        body = re.split(r"^## ", body, maxsplit=1, flags=re.M)[0]  # an entry ends at the next section
        title = re.search(r"^### (.*)$", body, re.M)
        entry = Entry(anchor["id"], title.group(1) if title else "", body, name)
        for block in TEXT_BLOCK.finditer(body):
            marker = MESSAGE_FROM.search(block["before"])
            if marker:
                entry.message_from.append(marker["source"])
                continue
            entry.messages.extend(line for line in block["body"].splitlines() if line.strip())
        assert anchor["id"] not in entries, f"duplicate entry id {anchor['id']!r}"
        entries[anchor["id"]] = entry
    return entries


def message_pattern(line: str) -> tuple[str, re.Pattern[str]]:
    """``"pkg.Type: message <x> … more"`` -> (``"Type"``, regex with placeholders as wildcards)."""
    type_name, sep, message = line.partition(": ")
    assert sep and re.fullmatch(r"[A-Za-z_][\w.]*", type_name), f"not a 'Type: message' line: {line!r}"
    parts = re.split(r"(<[^<>]*>|…)", message)
    regex = "".join(".*?" if (p == "…" or (p.startswith("<") and p.endswith(">"))) else re.escape(p) for p in parts)
    return type_name.rsplit(".", 1)[-1], re.compile(regex, re.S)


def matches(line: str, exc: BaseException) -> bool:
    type_name, pattern = message_pattern(line)
    return type(exc).__name__ == type_name and pattern.search(str(exc)) is not None


ENTRIES = parse_docs()


# --------------------------------------------------------------------------------------------
# Shared context (small local data, no servers)
# --------------------------------------------------------------------------------------------


class Ctx:
    def __init__(self, data_dir: Path, work: Path) -> None:
        self.data = data_dir
        self.work = work
        self.root = data_dir.as_uri()
        self.prefix = self.root + "/"
        self.registry = ObjectStoreRegistry({self.root: LocalStore(prefix=data_dir)})
        self.expected = [fixtures.sample_dataset(i) for i in range(4)]
        self.series = [self.open(f"series/temp_{i:03d}.nc") for i in range(3)]
        self.urls = [self.url(f"series/temp_{i:03d}.nc") for i in range(3)]
        self._n = 0

    def url(self, rel: str) -> str:
        return (self.data / rel).as_uri()

    def open(self, rel: str, parser: Any = None, **kwargs: Any) -> xr.Dataset:
        return vz.open_virtual_dataset(self.url(rel), registry=self.registry, parser=parser or HDFParser(), **kwargs)

    def storage(self, name: str | None = None) -> icechunk.Storage:
        self._n += 1
        return icechunk.local_filesystem_storage(str(self.work / f"{name or 'repo'}-{self._n}"))

    def config(self, prefix: str | None = None, root: Path | None = None) -> icechunk.RepositoryConfig:
        config = icechunk.RepositoryConfig.default()
        root = root or self.data
        config.set_virtual_chunk_container(
            icechunk.VirtualChunkContainer(prefix or root.as_uri() + "/", icechunk.local_filesystem_store(str(root)))
        )
        return config

    def creds(self, prefix: str | None = None) -> dict[str, Any]:
        return icechunk.containers_credentials({prefix or self.prefix: icechunk.credentials.LocalFileSystemAccess})

    def repo(self, root: Path | None = None, **kwargs: Any) -> icechunk.Repository:
        root = root or self.data
        prefix = root.as_uri() + "/"
        return icechunk.Repository.create(self.storage(), self.config(root=root), self.creds(prefix), **kwargs)

    def write(self, repo: icechunk.Repository, ds: xr.Dataset, **kwargs: Any) -> str:
        session = repo.writable_session("main")
        ds.vz.to_icechunk(session.store, **kwargs)
        return session.commit("write")

    @staticmethod
    def read(repo: icechunk.Repository, group: str | None = None) -> xr.Dataset:
        return xr.open_zarr(repo.readonly_session("main").store, group=group, consolidated=False)

    def concat(self, datasets: list[xr.Dataset]) -> xr.Dataset:
        return xr.concat(datasets, dim="time", coords="minimal", compat="override")


@pytest.fixture(scope="module")
def ctx(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Ctx:
    return Ctx(data_dir, tmp_path_factory.mktemp("troubleshooting"))


def raised(fn: Callable[[], Any], *warning_types: type[Warning]) -> BaseException:
    """Run ``fn``; return the exception it raises (``warning_types`` are turned into errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for category in warning_types:
            warnings.simplefilter("error", category)
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - we want whatever was raised
            return exc
    raise AssertionError(f"{getattr(fn, '__name__', fn)} raised nothing")


@contextlib.contextmanager
def without_package(name: str, overlay: Path) -> Iterator[None]:
    """``import name`` fails for real: site-packages is replaced by a directory of symlinks without it."""
    saved_path = list(sys.path)
    saved_modules = {k: v for k, v in sys.modules.items() if k == name or k.startswith(name + ".")}
    for key in saved_modules:
        del sys.modules[key]
    overlay.mkdir(parents=True, exist_ok=True)
    site_dirs = site.getsitepackages()
    for site_dir in site_dirs:
        for entry in os.listdir(site_dir):
            if entry != name and not entry.startswith(name + "-") and not (overlay / entry).exists():
                (overlay / entry).symlink_to(os.path.join(site_dir, entry))
    sys.path[:] = [str(overlay) if p in site_dirs else p for p in sys.path]
    sys.path_importer_cache.clear()
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.path_importer_cache.clear()
        sys.modules.update(saved_modules)


TRIGGERS: dict[str, Callable[[Ctx], list[BaseException]]] = {}
FIXES: dict[str, Callable[[Ctx], None]] = {}


def trigger(entry_id: str):
    def deco(fn):
        assert entry_id not in TRIGGERS
        TRIGGERS[entry_id] = fn
        return fn
    return deco


def fix(entry_id: str):
    def deco(fn):
        assert entry_id not in FIXES
        FIXES[entry_id] = fn
        return fn
    return deco


# --------------------------------------------------------------------------------------------
# Combining files
# --------------------------------------------------------------------------------------------


@trigger("mixed-chunks")
def _(c: Ctx):
    return [raised(lambda: c.concat([c.series[0], c.open("variants/other_chunks.nc")]))]


@fix("mixed-chunks")
def _(c: Ctx):
    repo = c.repo()
    session = repo.writable_session("main")
    c.concat(c.series).vz.to_icechunk(session.store, group="chunks_1x10x15")
    c.open("variants/other_chunks.nc").vz.to_icechunk(session.store, group="chunks_1x20x30")
    session.commit("groups")
    np.testing.assert_array_equal(c.read(repo, "chunks_1x20x30")["temperature"].values, c.expected[3]["temperature"].values)
    assert c.read(repo, "chunks_1x10x15").sizes["time"] == 12
    report = vzskill.check([c.url("series/temp_000.nc"), c.url("variants/other_chunks.nc")])
    assert not report.ok and "uses chunks (1, 20, 30)" in report.findings[0].message


@trigger("mixed-codecs")
def _(c: Ctx):
    return [raised(lambda: c.concat([c.series[0], c.open(f"variants/{k}.nc")])) for k in ("other_level", "no_shuffle", "no_compression")]


@fix("mixed-codecs")
def _(c: Ctx):
    repo = c.repo()
    session = repo.writable_session("main")
    c.concat(c.series).vz.to_icechunk(session.store, group="zlib4")
    c.open("variants/other_level.nc").vz.to_icechunk(session.store, group="zlib9")
    session.commit("groups")
    np.testing.assert_array_equal(c.read(repo, "zlib9")["precipitation"].values, c.expected[3]["precipitation"].values)


@trigger("mixed-dtypes")
def _(c: Ctx):
    return [raised(lambda: c.concat([c.series[0], c.open("variants/float64.nc")]))]


@fix("mixed-dtypes")
def _(c: Ctx):
    repo = c.repo()
    c.write(repo, c.open("variants/float64.nc"), group="float64")
    got = c.read(repo, "float64")["temperature"]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.values, fixtures.sample_dataset(3, dtype="float64")["temperature"].values)


@trigger("virtual-and-loaded")
def _(c: Ctx):
    loaded = c.open("series/temp_001.nc", loadable_variables=["time", "lat", "lon", "temperature"])
    return [raised(lambda: c.concat([c.series[0], loaded]))]


@fix("virtual-and-loaded")
def _(c: Ctx):
    loaded = [c.open(f"series/temp_{i:03d}.nc", loadable_variables=["time", "lat", "lon", "temperature"]) for i in range(2)]
    combined = c.concat(loaded)
    assert isinstance(combined["precipitation"].data, ManifestArray) and isinstance(combined["temperature"].data, np.ndarray)
    repo = c.repo()
    c.write(repo, combined)
    got = c.read(repo)
    for var in ("temperature", "precipitation"):
        np.testing.assert_array_equal(got[var].values, xr.concat(c.expected[:2], dim="time")[var].values)


@trigger("by-coords-concat-dim")
def _(c: Ctx):
    return [raised(lambda: vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="by_coords", concat_dim="time"))]


@fix("by-coords-concat-dim")
def _(c: Ctx):
    combined = vz.open_virtual_mfdataset(c.urls[::-1], registry=c.registry, parser=HDFParser(), combine="by_coords")
    np.testing.assert_array_equal(combined["time"].values, np.concatenate([e["time"].values for e in c.expected[:3]]))


@trigger("by-coords-no-index")
def _(c: Ctx):
    return [
        raised(lambda: vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="by_coords", loadable_variables=lv))
        for lv in ([], ["time"])
    ]


@fix("by-coords-no-index")
def _(c: Ctx):
    for lv in (None, ["time", "lat", "lon"]):
        combined = vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="by_coords", loadable_variables=lv)
        assert combined.sizes["time"] == 12


@trigger("concat-dim-name")
def _(c: Ctx):
    wrong = vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="nested", concat_dim="Time")
    assert dict(wrong.sizes) == {"Time": 3, "time": 12, "lat": 20, "lon": 30}  # silently wrong
    return []


@fix("concat-dim-name")
def _(c: Ctx):
    right = vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="nested", concat_dim="time")
    assert dict(right.sizes) == {"time": 12, "lat": 20, "lon": 30}
    report = vzskill.check(c.urls, concat_dim="Time")
    assert not report.ok and "did you mean 'time'?" in report.findings[0].message


@trigger("lat-2d")
def _(c: Ctx):
    virt = [c.open(f"series/temp_{i:03d}.nc", loadable_variables=[]) for i in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broadcast = xr.concat(virt, dim="time")
    assert broadcast["lat"].dims == ("time", "lat")  # silently wrong
    return [raised(lambda: xr.concat(virt, dim="time"), UserWarning)]  # the only hint


@fix("lat-2d")
def _(c: Ctx):
    virt = [c.open(f"series/temp_{i:03d}.nc", loadable_variables=[]) for i in range(2)]
    fixed = c.concat(virt)
    assert fixed["lat"].dims == ("lat",) and fixed["temperature"].dims == ("time", "lat", "lon")
    repo = c.repo()
    c.write(repo, fixed)
    got = c.read(repo)
    np.testing.assert_array_equal(got["lat"].values, c.expected[0]["lat"].values)
    np.testing.assert_array_equal(got["time"].values, np.concatenate([e["time"].values for e in c.expected[:2]]))


def _shifted_pair(c: Ctx, **open_kwargs: Any) -> tuple[list[xr.Dataset], list[str]]:
    """temp_000.nc and a copy of temp_001.nc whose lat is shifted by 2.5 degrees (another grid)."""
    import h5py

    shifted = c.work / "temp_001_shifted.nc"
    if not shifted.exists():
        shutil.copy(c.data / "series" / "temp_001.nc", shifted)
        with h5py.File(shifted, "r+") as f:
            f["lat"][...] = f["lat"][...] + 2.5
    urls = [c.url("series/temp_000.nc"), shifted.as_uri()]
    registry = ObjectStoreRegistry({c.root: LocalStore(prefix=c.data), c.work.as_uri(): LocalStore(prefix=c.work)})
    return [vz.open_virtual_dataset(u, registry=registry, parser=HDFParser(), **open_kwargs) for u in urls], urls


@trigger("override-unchecked")
def _(c: Ctx):
    pair, urls = _shifted_pair(c, loadable_variables=[])
    combined = c.concat(pair)  # no error, no warning
    repo = icechunk.Repository.create(c.storage(), _config_for(c, c.work), _creds_for(c, c.work))
    c.write(repo, combined)
    got = c.read(repo)
    shifted_lat = c.expected[1]["lat"].values + 2.5
    np.testing.assert_array_equal(got["lat"].values, c.expected[0]["lat"].values)  # silently the first file's
    assert not np.array_equal(got["lat"].values, shifted_lat)
    loaded, _ = _shifted_pair(c)
    return [raised(lambda: xr.concat(loaded, dim="time", coords="minimal", compat="override", join="exact"))]


def _config_for(c: Ctx, extra: Path) -> icechunk.RepositoryConfig:
    config = c.config()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(extra.as_uri() + "/", icechunk.local_filesystem_store(str(extra))))
    return config


def _creds_for(c: Ctx, extra: Path) -> dict[str, Any]:
    return icechunk.containers_credentials({c.prefix: icechunk.credentials.LocalFileSystemAccess,
                                            extra.as_uri() + "/": icechunk.credentials.LocalFileSystemAccess})


@fix("override-unchecked")
def _(c: Ctx):
    _, urls = _shifted_pair(c)
    report = vzskill.check(urls)
    assert [f.kind for f in report.findings if f.severity == "error"] == ["coordinate_values"]
    assert "temp_001_shifted.nc" in report.findings[0].message
    same_grid = xr.concat(c.series[:2], dim="time", coords="minimal", compat="override", join="exact")
    np.testing.assert_array_equal(same_grid["lat"].values, c.expected[0]["lat"].values)


def _mixed_units_times(c: Ctx, **open_kwargs: Any) -> np.ndarray:
    pair = [c.open("series/temp_000.nc", **open_kwargs), c.open("variants/other_time_units.nc", **open_kwargs)]
    repo = c.repo()
    c.write(repo, c.concat(pair))
    return c.read(repo)["time"].values


@trigger("mixed-time-units")
def _(c: Ctx):
    expected_times = np.concatenate([c.expected[0]["time"].values, c.expected[3]["time"].values])
    for kwargs in ({"loadable_variables": []}, {"decode_times": False}):
        times = _mixed_units_times(c, **kwargs)
        assert not (times == expected_times).all(), kwargs  # silently wrong
        assert (times[:4] == expected_times[:4]).all()  # only the second file's times are off
    return []


@fix("mixed-time-units")
def _(c: Ctx):
    expected_times = np.concatenate([c.expected[0]["time"].values, c.expected[3]["time"].values])
    np.testing.assert_array_equal(_mixed_units_times(c), expected_times)
    report = vzskill.check([c.url("series/temp_000.nc"), c.url("variants/other_time_units.nc")])
    assert any(f.kind == "time_units" for f in report.findings)
    risky = vzskill.check([c.url("series/temp_000.nc"), c.url("variants/other_time_units.nc")], loadable_variables=[])
    assert not risky.ok


@trigger("decode-times-virtual")
def _(c: Ctx):
    vds = c.open("series/temp_000.nc", loadable_variables=[], decode_times=True)
    assert isinstance(vds["time"].data, ManifestArray) and vds["time"].dtype == np.int32  # not decoded
    return []


@fix("decode-times-virtual")
def _(c: Ctx):
    vds = c.open("series/temp_000.nc", loadable_variables=["time", "lat", "lon"])
    np.testing.assert_array_equal(vds["time"].values, c.expected[0]["time"].values)
    assert c.open("series/temp_000.nc", decode_times=None)["time"].dtype.kind == "M"  # None decodes too


# --------------------------------------------------------------------------------------------
# Repositories, containers, registries
# --------------------------------------------------------------------------------------------


@trigger("no-containers")
def _(c: Ctx):
    bare = icechunk.Repository.create(c.storage())
    return [raised(lambda: c.series[0].vz.to_icechunk(bare.writable_session("main").store))]


@fix("no-containers")
def _(c: Ctx):
    storage = c.storage()
    repo = vzskill.create_repo(storage, [c.data / "series" / "temp_000.nc"])
    c.write(repo, c.series[0])
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)
    np.testing.assert_array_equal(c.read(vzskill.open_repo(storage))["temperature"].values, c.expected[0]["temperature"].values)


@trigger("repo-exists")
def _(c: Ctx):
    storage = c.storage()
    icechunk.Repository.create(storage)
    return [
        raised(lambda: icechunk.Repository.create(storage)),
        raised(lambda: icechunk.Repository.open(icechunk.local_filesystem_storage(str(c.work / "never-created")))),
    ]


@fix("repo-exists")
def _(c: Ctx):
    storage = c.storage()
    first = vzskill.create_repo(storage, [c.data / "series" / "temp_000.nc"])
    c.write(first, c.series[0])
    again = vzskill.create_repo(storage, [c.data / "series" / "temp_000.nc"])  # exists: opened, authorized
    np.testing.assert_array_equal(c.read(again)["temperature"].values, c.expected[0]["temperature"].values)
    other = c.storage()
    for _ in range(2):  # a script run twice
        icechunk.Repository.open_or_create(other, c.config())
    assert list(icechunk.Repository.fetch_config(other).virtual_chunk_containers) == [c.prefix]
    assert isinstance(raised(lambda: icechunk.Repository.open(c.storage())), KeyError)


@trigger("container-store")
def _(c: Ctx):
    config = icechunk.RepositoryConfig.default()
    return [
        raised(lambda: config.set_virtual_chunk_container(icechunk.VirtualChunkContainer("s3://my-bucket/", icechunk.local_filesystem_store(str(c.data))))),
        raised(lambda: config.set_virtual_chunk_container(icechunk.VirtualChunkContainer("file:///", icechunk.local_filesystem_store("/")))),
    ]


@fix("container-store")
def _(c: Ctx):
    config = repository_config([c.data / "series" / "temp_000.nc", c.data / "bad" / "lzf.nc"])
    assert list(config.virtual_chunk_containers) == [c.prefix]
    repo = icechunk.Repository.create(c.storage(), config, c.creds())
    c.write(repo, c.series[0])
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)


@trigger("prefix-slash")
def _(c: Ctx):
    return [raised(lambda: c.config(prefix=c.root))]


@fix("prefix-slash")
def _(c: Ctx):
    assert list(c.config(prefix=c.prefix).virtual_chunk_containers) == [c.prefix]


@trigger("prefix-mismatch-write")
def _(c: Ctx):
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer("file:///data/archive/", icechunk.local_filesystem_store("/data/archive")))
    repo = icechunk.Repository.create(c.storage(), config)
    return [raised(lambda: c.series[0].vz.to_icechunk(repo.writable_session("main").store))]


@fix("prefix-mismatch-write")
def _(c: Ctx):
    assert source_prefixes([c.data / "series" / "temp_000.nc", c.data / "variants" / "float64.nc"]) == [c.prefix]
    repo = c.repo()
    c.write(repo, c.series[0])
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)


def _unvalidated_repo(c: Ctx) -> tuple[icechunk.Storage, icechunk.Repository]:
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer("file:///data/archive/", icechunk.local_filesystem_store("/data/archive")))
    storage = c.storage()
    repo = icechunk.Repository.create(storage, config)
    c.write(repo, c.series[0], validate_containers=False)
    return storage, repo


@trigger("prefix-mismatch-read")
def _(c: Ctx):
    _, repo = _unvalidated_repo(c)
    return [raised(lambda: c.read(repo)["temperature"].values)]


@fix("prefix-mismatch-read")
def _(c: Ctx):
    storage, _ = _unvalidated_repo(c)
    repo = add_containers(storage, [c.data / "series" / "temp_000.nc"])
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)


def _unauthorized_repo(c: Ctx) -> tuple[icechunk.Storage, icechunk.Repository]:
    storage = c.storage()
    repo = icechunk.Repository.create(storage, c.config())
    c.write(repo, c.series[0])
    return storage, repo


@trigger("unauthorized")
def _(c: Ctx):
    storage, writer = _unauthorized_repo(c)
    return [
        raised(lambda: c.read(writer)["temperature"].values),  # the writing Repository object too
        raised(lambda: c.read(icechunk.Repository.open(storage))["temperature"].values),
        raised(lambda: icechunk.Repository.open(storage, authorize_virtual_chunk_access={c.prefix: None}), DeprecationWarning),
    ]


@fix("unauthorized")
def _(c: Ctx):
    storage, _ = _unauthorized_repo(c)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        repo = icechunk.Repository.open(storage, authorize_virtual_chunk_access=c.creds())
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)
    np.testing.assert_array_equal(c.read(vzskill.open_repo(storage))["temperature"].values, c.expected[0]["temperature"].values)


@trigger("registry-key")
def _(c: Ctx):
    keys = [c.root + r"/.*\.nc", "file:///data/archive"]
    return [
        raised(lambda k=k: vz.open_virtual_dataset(c.url("series/temp_000.nc"), registry=ObjectStoreRegistry({k: LocalStore(prefix=c.data)}), parser=HDFParser()))
        for k in keys
    ]


@fix("registry-key")
def _(c: Ctx):
    vds = vz.open_virtual_dataset(c.url("series/temp_000.nc"), registry=ObjectStoreRegistry({c.root: LocalStore(prefix=c.data)}), parser=HDFParser())
    assert set(vds.data_vars) == {"temperature", "precipitation"}
    with pytest.raises(vzskill.SourceError, match="looks like a regular expression"):
        check_registry({c.root + r"/.*\.nc": LocalStore(prefix=c.data)}, [c.url("series/temp_000.nc")])
    with pytest.raises(vzskill.SourceError, match=re.escape(f"register the store under {c.root + '/series'!r}")):
        check_registry({"file:///data/archive": LocalStore(prefix=c.data)}, [c.url("series/temp_000.nc")])
    registry = build_registry([c.url("series/temp_000.nc")])
    vds = vz.open_virtual_dataset(c.url("series/temp_000.nc"), registry=registry, parser=HDFParser())
    np.testing.assert_array_equal(vds["lat"].values, c.expected[0]["lat"].values)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@trigger("wrong-parser")
def _(c: Ctx):
    return [
        raised(lambda: c.open("variants/netcdf3.nc", parser=HDFParser())),
        raised(lambda: c.open("series/temp_000.nc", parser=NetCDF3Parser())),
    ]


@fix("wrong-parser")
def _(c: Ctx):
    from vzskill.parse import parser_for

    for rel, name, index in (("variants/netcdf3.nc", "NetCDF3Parser", 3), ("series/temp_000.nc", "HDFParser", 0)):
        parser = parser_for(c.url(rel), c.registry)
        assert type(parser).__name__ == name
        repo = c.repo()
        c.write(repo, c.open(rel, parser=parser))
        np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[index]["temperature"].values)


@trigger("vlen-references")
def _(c: Ctx):
    return [
        raised(lambda: c.open("bad/vlen_int.nc")),
        raised(lambda: c.open("bad/vlen_int.nc", drop_variables=["ragged"])),  # drops after parsing: no help
        raised(lambda: c.open("bad/object_ref.nc")),
        raised(lambda: c.open("bad/object_ref.nc", parser=HDFParser(links_and_references=True))),
    ]


@fix("vlen-references")
def _(c: Ctx):
    for rel, var in (("bad/vlen_int.nc", "ragged"), ("bad/object_ref.nc", "refs")):
        vds = c.open(rel, parser=HDFParser(drop_variables=[var]))
        assert list(vds.data_vars) == ["values"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session = icechunk.Repository.create(c.storage(), c.config(), c.creds())
            ws = session.writable_session("main")
            vds.vz.to_icechunk(ws.store)
            ws.commit("x")
        np.testing.assert_array_equal(c.read(session)["values"].values, np.arange(10, dtype="f4"))
        report = vzskill.check([c.url(rel)])
        assert f"HDFParser(drop_variables=['{var}'])" in report.findings[0].message


@trigger("lzf")
def _(c: Ctx):
    return [raised(lambda: c.open("bad/lzf.nc")), raised(lambda: c.open("bad/lzf.nc", loadable_variables=[]))]


@fix("lzf")
def _(c: Ctx):
    vds = c.open("bad/lzf.nc", parser=HDFParser(drop_variables=["x"]))
    assert "x" not in vds.variables
    report = vzskill.check([c.url("bad/lzf.nc")])
    assert "uses the LZF filter, which has no Zarr codec" in report.findings[0].message


@trigger("loadable-tuple")
def _(c: Ctx):
    return [raised(lambda: c.open("series/temp_000.nc", loadable_variables=("time", "lat", "lon")))]


@fix("loadable-tuple")
def _(c: Ctx):
    vds = c.open("series/temp_000.nc", loadable_variables=["time", "lat", "lon"])
    assert isinstance(vds["temperature"].data, ManifestArray) and not isinstance(vds["lat"].data, ManifestArray)


@trigger("missing-file")
def _(c: Ctx):
    return [
        raised(lambda: c.open("series/temp_099.nc")),
        raised(lambda: LocalStore(prefix="relative/dir")),
        raised(lambda: c.open("grouped/groups.nc", parser=HDFParser(group="nope"))),
    ]


@fix("missing-file")
def _(c: Ctx):
    import h5py

    with h5py.File(c.data / "grouped" / "groups.nc") as f:
        assert sorted(f.keys()) == ["surface", "upper"]
    vds = c.open("grouped/groups.nc", parser=HDFParser(group="upper"))
    repo = c.repo()
    c.write(repo, vds)
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[1]["temperature"].values)
    LocalStore(prefix=(c.work / "relative" / "dir").resolve(), mkdir=True)
    assert (c.work / "relative" / "dir").is_dir()
    parsed = vzskill.parse.parse_files([c.url("series/temp_000.nc"), c.url("series/temp_099.nc")], c.registry)
    assert parsed[0].ok and "temp_099.nc: file not found" in parsed[1].error


@trigger("datatree-loadable")
def _(c: Ctx):
    return [raised(lambda: vz.open_virtual_datatree(c.url("grouped/groups.nc"), registry=c.registry, parser=HDFParser(), loadable_variables=["time"]))]


@fix("datatree-loadable")
def _(c: Ctx):
    tree = vz.open_virtual_datatree(c.url("grouped/groups.nc"), registry=c.registry, parser=HDFParser())
    assert set(tree.children) == {"surface", "upper"}
    np.testing.assert_array_equal(tree["upper"]["time"].values, c.expected[0]["time"].values)
    assert isinstance(tree["upper"]["temperature"].data, ManifestArray)


# --------------------------------------------------------------------------------------------
# Writing and appending
# --------------------------------------------------------------------------------------------


@trigger("write-twice")
def _(c: Ctx):
    repo = c.repo()
    c.write(repo, c.series[0])
    return [raised(lambda: c.series[1].vz.to_icechunk(repo.writable_session("main").store))]


@fix("write-twice")
def _(c: Ctx):
    repo = c.repo()
    c.write(repo, c.series[0])
    c.write(repo, c.series[1], append_dim="time")
    assert c.read(repo).sizes["time"] == 8
    c.write(repo, c.series[2], mode="w")
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[2]["temperature"].values)


@trigger("append-empty")
def _(c: Ctx):
    repo = c.repo()
    return [raised(lambda: c.series[0].vz.to_icechunk(repo.writable_session("main").store, append_dim="time"))]


@fix("append-empty")
def _(c: Ctx):
    repo = c.repo()
    session = repo.writable_session("main")
    c.series[0].vz.to_icechunk(session.store)
    c.series[1].vz.to_icechunk(session.store, append_dim="time")
    session.commit("first write, then append")
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.concat([e for e in c.expected[:2]])["temperature"].values)


@trigger("append-wrong-dim")
def _(c: Ctx):
    repo = c.repo()
    c.write(repo, c.series[0])
    return [raised(lambda: c.series[1].vz.to_icechunk(repo.writable_session("main").store, append_dim="Time"))]


@fix("append-wrong-dim")
def _(c: Ctx):
    repo = c.repo()
    c.write(repo, c.series[0])
    c.write(repo, c.series[1], append_dim="time")
    np.testing.assert_array_equal(c.read(repo)["time"].values, np.concatenate([e["time"].values for e in c.expected[:2]]))


@trigger("append-mismatch")
def _(c: Ctx):
    repo = c.repo()
    snapshot = c.write(repo, c.concat(c.series))
    session = repo.writable_session("main")
    errors = [
        raised(lambda k=k: c.open(f"variants/{k}.nc").vz.to_icechunk(session.store, append_dim="time"))
        for k in ("other_chunks", "no_shuffle", "float64")
    ]
    assert repo.lookup_branch("main") == snapshot  # nothing committed ...
    assert session.has_uncommitted_changes  # ... but the session holds a partial append (see partial-append)
    return errors


def _partial_append(c: Ctx) -> tuple[icechunk.Repository, str]:
    repo = c.repo()
    good = c.write(repo, c.concat(c.series))
    session = repo.writable_session("main")
    with pytest.raises(ValueError, match="inconsistent chunk shapes"):
        c.open("variants/other_chunks.nc").vz.to_icechunk(session.store, append_dim="time")
    session.commit("after a failed append")
    return repo, good


@trigger("partial-append")
def _(c: Ctx):
    repo, _ = _partial_append(c)
    return [raised(lambda: c.read(repo))]


@fix("partial-append")
def _(c: Ctx):
    repo, good = _partial_append(c)
    repo.reset_branch("main", good)
    np.testing.assert_array_equal(c.read(repo)["time"].values, np.concatenate([e["time"].values for e in c.expected[:3]]))
    with pytest.raises(ValueError):
        with repo.transaction("main", message="append") as store:
            c.open("variants/other_chunks.nc").vz.to_icechunk(store, append_dim="time")
    assert repo.lookup_branch("main") == good
    session = repo.writable_session("main")
    with pytest.raises(ValueError):
        c.open("variants/float64.nc").vz.to_icechunk(session.store, append_dim="time")
    session.discard_changes()
    assert not session.has_uncommitted_changes


@fix("append-mismatch")
def _(c: Ctx):
    repo = c.repo()
    c.write(repo, c.concat(c.series))
    c.write(repo, c.open("variants/no_shuffle.nc"), group="no_shuffle")
    assert c.read(repo).sizes["time"] == 12
    np.testing.assert_array_equal(c.read(repo, "no_shuffle")["temperature"].values, c.expected[3]["temperature"].values)
    report = vzskill.check([*c.urls, c.url("variants/no_shuffle.nc")])
    assert not report.ok and any(f.kind == "codecs" for f in report.findings)


def _conflicting(c: Ctx) -> tuple[icechunk.Repository, icechunk.Session]:
    repo = c.repo()
    c.write(repo, c.series[0])
    first, second = repo.writable_session("main"), repo.writable_session("main")
    c.series[1].vz.to_icechunk(first.store, append_dim="time")
    first.commit("writer 1")
    c.series[1].vz.to_icechunk(second.store, append_dim="time")
    return repo, second


@trigger("conflict")
def _(c: Ctx):
    _, second = _conflicting(c)
    exc = raised(lambda: second.commit("writer 2"))
    assert isinstance(exc, icechunk.IcechunkError)  # on 2.x (not on 1.x)
    return [exc]


@fix("conflict")
def _(c: Ctx):
    repo, second = _conflicting(c)
    with pytest.raises(icechunk.ConflictError):
        second.commit("writer 2")
    for _ in range(5):
        session = repo.writable_session("main")
        c.series[2].vz.to_icechunk(session.store, append_dim="time")
        try:
            session.commit("append")
            break
        except icechunk.ConflictError:
            continue
    np.testing.assert_array_equal(c.read(repo)["time"].values, np.concatenate([e["time"].values for e in c.expected[:3]]))


def _small_history(c: Ctx) -> icechunk.Repository:
    repo = c.repo()
    c.write(repo, c.series[0])
    return repo


@trigger("commit-empty")
def _(c: Ctx):
    repo = _small_history(c)
    return [raised(lambda: repo.writable_session("main").commit("Base version"))]


@fix("commit-empty")
def _(c: Ctx):
    repo = _small_history(c)
    snapshot = repo.writable_session("main").commit("Base version", allow_empty=True)
    repo.create_branch("experiment", repo.lookup_branch("main"))
    assert repo.lookup_branch("experiment") == snapshot


@trigger("diff-identical")
def _(c: Ctx):
    repo = _small_history(c)
    tip = repo.lookup_branch("main")
    return [raised(lambda: repo.diff(from_snapshot_id=tip, to_snapshot_id=tip))]


@fix("diff-identical")
def _(c: Ctx):
    repo = _small_history(c)
    child, parent = list(repo.ancestry(branch="main"))[:2]
    diff = repo.diff(from_snapshot_id=parent.id, to_snapshot_id=child.id)
    assert not diff.is_empty() and "/temperature" in diff.new_arrays


@trigger("ancestry-positional")
def _(c: Ctx):
    repo = _small_history(c)
    return [raised(lambda: list(repo.ancestry("main")))]


@fix("ancestry-positional")
def _(c: Ctx):
    repo = _small_history(c)
    assert [s.message for s in repo.ancestry(branch="main")] == ["write", "Repository initialized"]


@trigger("to-icechunk-session")
def _(c: Ctx):
    repo = c.repo()
    return [raised(lambda: c.series[0].vz.to_icechunk(repo.writable_session("main")))]


@fix("to-icechunk-session")
def _(c: Ctx):
    repo = c.repo()
    session = repo.writable_session("main")
    c.series[0].vz.to_icechunk(session.store)
    session.commit("x")
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)


@trigger("read-only-store")
def _(c: Ctx):
    repo = _small_history(c)
    session = repo.writable_session("main")
    c.series[1].vz.to_icechunk(session.store, append_dim="time")
    session.commit("appended")
    return [
        raised(lambda: c.series[2].vz.to_icechunk(session.store, append_dim="time")),
        raised(lambda: c.series[2].vz.to_icechunk(repo.readonly_session("main").store, append_dim="time")),
    ]


@fix("read-only-store")
def _(c: Ctx):
    repo = _small_history(c)
    for ds in c.series[1:]:
        session = repo.writable_session("main")
        ds.vz.to_icechunk(session.store, append_dim="time")
        session.commit("append")
    np.testing.assert_array_equal(c.read(repo)["time"].values, np.concatenate([e["time"].values for e in c.expected[:3]]))


def _stale_setup(c: Ctx, name: str) -> tuple[Path, ObjectStoreRegistry, icechunk.Repository, icechunk.Storage, dict[str, xr.Dataset]]:
    sources = c.work / name
    sources.mkdir()
    shutil.copy(c.data / "series" / "temp_000.nc", sources / "a.nc")
    shutil.copy(c.data / "series" / "temp_001.nc", sources / "b.nc")
    synced_at = datetime.now(timezone.utc) - timedelta(minutes=30)
    for f in ("a.nc", "b.nc"):
        os.utime(sources / f, (synced_at.timestamp() - 3600, synced_at.timestamp() - 3600))
    local = ObjectStoreRegistry({sources.as_uri(): LocalStore(prefix=sources)})
    prefix = sources.as_uri() + "/"
    storage = c.storage()
    repo = icechunk.Repository.create(storage, c.config(root=sources), c.creds(prefix))
    session = repo.writable_session("main")
    written = {}
    for f in ("a", "b"):
        written[f] = vz.open_virtual_dataset((sources / f"{f}.nc").as_uri(), registry=local, parser=HDFParser())
        written[f].vz.to_icechunk(session.store, group=f, last_updated_at=synced_at)
    session.commit("two sources")
    (sources / "a.nc").rename(sources / "a_moved.nc")  # moved
    shutil.copy(c.data / "series" / "temp_002.nc", sources / "b.nc")  # rewritten in place
    return sources, local, repo, storage, written


@trigger("stale-source")
def _(c: Ctx):
    _, _, repo, _, _ = _stale_setup(c, "stale-trigger")
    return [raised(lambda: c.read(repo, "a")["temperature"].values), raised(lambda: c.read(repo, "b")["temperature"].values)]


@fix("stale-source")
def _(c: Ctx):
    sources, local, repo, storage, written = _stale_setup(c, "stale-fix")
    report = vzskill.verify(storage)
    assert not report.ok
    assert {Path(s.file).name: s.reason for s in report.stale} == {"a.nc": "missing", "b.nc": "modified"}
    moved = written["a"].vz.rename_paths(lambda old: old.replace("/a.nc", "/a_moved.nc"))
    b = vz.open_virtual_dataset((sources / "b.nc").as_uri(), registry=local, parser=HDFParser())  # re-virtualized
    session = repo.writable_session("main")
    moved.vz.to_icechunk(session.store, group="a", mode="w")
    b.vz.to_icechunk(session.store, group="b", mode="w")
    session.commit("re-virtualized")
    np.testing.assert_array_equal(c.read(repo, "a")["temperature"].values, c.expected[0]["temperature"].values)
    np.testing.assert_array_equal(c.read(repo, "b")["temperature"].values, c.expected[2]["temperature"].values)


# --------------------------------------------------------------------------------------------
# Versions and environment
# --------------------------------------------------------------------------------------------

#: Entries whose ```text messages cannot be produced on this stack, and what is tested instead.
NOT_REPRODUCIBLE = {
    "python-311": "pip on Python 3.11 (no 3.11 venv is built in tests): the fix test checks Python >= 3.12, "
    "icechunk >= 2 and `vzskill doctor --json`",
    "spec-version": "icechunk 1.x is not installable on Python 3.12: the fix test checks that spec_version=1 "
    "creates a v1 repository that icechunk 2 reads",
}


@trigger("python-311")
def _(c: Ctx):
    problem = doctor.stack_problem({"icechunk": "1.1.21", "virtualizarr": "2.5.1"}, python=(3, 11, 7))
    assert problem and "Python 3.11.7 is too old" in problem
    return []


@fix("python-311")
def _(c: Ctx):
    assert sys.version_info >= (3, 12)
    assert doctor.parse_version(icechunk.__version__) >= (2,)
    assert doctor.parse_version(vz.__version__) >= (2, 6)
    exe = Path(sys.executable).with_name("vzskill")
    result = subprocess.run([str(exe), "doctor", "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["python"] == sys.version.split()[0]
    installed = {check["name"]: check["installed"] for check in report["checks"]}
    assert installed["icechunk"] == icechunk.__version__ and installed["virtualizarr"] == vz.__version__


@trigger("spec-version")
def _(c: Ctx):
    repo = c.repo()
    assert repo.spec_version == icechunk.SpecVersion.v2  # the default: unreadable by icechunk 1.x
    return []


@fix("spec-version")
def _(c: Ctx):
    storage = c.storage()
    repo = icechunk.Repository.create(storage, c.config(), c.creds(), spec_version=1)
    c.write(repo, c.series[0])
    reopened = icechunk.Repository.open(storage, authorize_virtual_chunk_access=c.creds())
    assert reopened.spec_version == icechunk.SpecVersion.v1
    np.testing.assert_array_equal(c.read(reopened)["temperature"].values, c.expected[0]["temperature"].values)
    c.write(reopened, c.series[1], append_dim="time")  # 2.x also appends to it
    assert c.read(icechunk.Repository.open(storage, authorize_virtual_chunk_access=c.creds())).sizes["time"] == 8


@trigger("process-pool")
def _(c: Ctx):
    # The deadlock itself is never run (it hangs for good); its precondition is: icechunk and obstore
    # have been used in this process (Rust runtimes with background threads) before the pool forks.
    repo = c.repo()
    c.write(repo, c.series[0])
    assert c.read(repo)["temperature"].values.shape == (4, 20, 30)
    assert multiprocessing.get_start_method(allow_none=True) in (None, "fork", "forkserver", "spawn")
    return []


@fix("process-pool")
def _(c: Ctx):
    repo = c.repo()  # make sure icechunk/obstore are live in this process
    c.write(repo, c.series[0])
    c.read(repo)["temperature"].values
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        combined = vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="nested", concat_dim="time", parallel=pool)
        parsed = vzskill.parse.parse_files(c.urls, c.registry, parallel=pool)
    assert combined.sizes["time"] == 12
    assert [p.ok for p in parsed] == [True, True, True]


@trigger("executor-class")
def _(c: Ctx):
    from concurrent.futures import ThreadPoolExecutor

    return [raised(lambda: vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="nested", concat_dim="time", parallel=ThreadPoolExecutor), DeprecationWarning)]


@fix("executor-class")
def _(c: Ctx):
    from concurrent.futures import ThreadPoolExecutor

    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=2) as pool:
        warnings.simplefilter("error", DeprecationWarning)
        combined = vz.open_virtual_mfdataset(c.urls, registry=c.registry, parser=HDFParser(), combine="nested", concat_dim="time", parallel=pool)
    np.testing.assert_array_equal(combined["time"].values, np.concatenate([e["time"].values for e in c.expected[:3]]))


@trigger("virtualize-accessor")
def _(c: Ctx):
    return [raised(lambda: c.series[0].virtualize.nbytes, DeprecationWarning)]


@fix("virtualize-accessor")
def _(c: Ctx):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert c.series[0].vz.nbytes > 0


def _import(statement: str) -> Callable[[], None]:
    def run() -> None:
        for name in ("virtualizarr.registry",):
            sys.modules.pop(name, None)
        exec(statement, {})
    return run


@trigger("registry-import")
def _(c: Ctx):
    return [
        raised(_import("from virtualizarr.readers.common import ObjectStoreRegistry")),
        raised(_import("from obspec_utils import ObjectStoreRegistry")),
        raised(_import("from virtualizarr.registry import ObjectStoreRegistry"), DeprecationWarning),
    ]


@fix("registry-import")
def _(c: Ctx):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from obspec_utils.registry import ObjectStoreRegistry as Registry
    assert Registry({c.root: LocalStore(prefix=c.data)}).resolve(c.url("series/temp_000.nc"))[1] == "series/temp_000.nc"


@trigger("obspec-cache")
def _(c: Ctx):
    def first_import() -> None:
        sys.modules.pop("obspec_utils.cache", None)
        exec("from obspec_utils.cache import CachingReadableStore", {})
    return [raised(first_import, DeprecationWarning)]


@fix("obspec-cache")
def _(c: Ctx):
    from obspec_utils.wrappers import CachingReadableStore

    cached = ObjectStoreRegistry({c.root: CachingReadableStore(LocalStore(prefix=c.data), max_size=100_000_000)})
    vds = vz.open_virtual_dataset(c.url("series/temp_000.nc"), registry=cached, parser=HDFParser())
    np.testing.assert_array_equal(vds["lat"].values, c.expected[0]["lat"].values)


def _both_registry(c: Ctx) -> ObjectStoreRegistry:
    return ObjectStoreRegistry({c.root: LocalStore(prefix=c.data), c.work.as_uri(): LocalStore(prefix=c.work)})


@trigger("kerchunk-reopen")
def _(c: Ctx):
    refs = c.work / "refs-v2.json"
    c.series[0].vz.to_kerchunk(refs, format="json")
    return [raised(lambda: vz.open_virtual_dataset(refs.as_uri(), registry=_both_registry(c), parser=KerchunkJSONParser()))]


@fix("kerchunk-reopen")
def _(c: Ctx):
    refs3 = c.work / "refs-v3.json"
    c.series[0].vz.to_kerchunk(refs3, format="json", zarr_format=3)
    vds = vz.open_virtual_dataset(refs3.as_uri(), registry=_both_registry(c), parser=KerchunkJSONParser())
    repo = c.repo()
    c.write(repo, vds)
    np.testing.assert_array_equal(c.read(repo)["temperature"].values, c.expected[0]["temperature"].values)
    refs = c.work / "refs-v2-engine.json"
    c.series[0].vz.to_kerchunk(refs, format="json")
    np.testing.assert_array_equal(xr.open_dataset(str(refs), engine="kerchunk")["temperature"].values, c.expected[0]["temperature"].values)


@trigger("kerchunk-missing")
def _(c: Ctx):
    with without_package("kerchunk", c.work / "without-kerchunk"):
        exc = raised(lambda: c.series[0].vz.to_kerchunk(str(c.work / "missing.parq"), format="parquet"))
    import kerchunk  # noqa: F401 - restored afterwards

    return [exc]


@fix("kerchunk-missing")
def _(c: Ctx):
    import kerchunk  # noqa: F401

    out = c.work / "refs.parq"
    c.series[0].vz.to_kerchunk(str(out), format="parquet")
    assert (out / ".zmetadata").exists()
    np.testing.assert_array_equal(xr.open_dataset(str(out), engine="kerchunk")["temperature"].values, c.expected[0]["temperature"].values)


@trigger("var-name")
def _(c: Ctx):
    ds = xr.Dataset({"var": ("time", np.arange(3.0))})
    return [raised(lambda: ds.var.isel(time=0))]


@fix("var-name")
def _(c: Ctx):
    ds = xr.Dataset({"var": ("time", np.arange(3.0))})
    assert ds["var"].isel(time=0).item() == 0.0


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


def test_every_entry_has_a_trigger_and_a_fix() -> None:
    ids = set(ENTRIES)
    assert len(ids) >= 45
    assert ids == set(TRIGGERS), f"doc-only: {sorted(ids - set(TRIGGERS))}, test-only: {sorted(set(TRIGGERS) - ids)}"
    assert ids == set(FIXES), f"doc-only: {sorted(ids - set(FIXES))}, test-only: {sorted(set(FIXES) - ids)}"


def index_link(entry: Entry) -> str:
    """How troubleshooting.md's quick index links ``entry``: ``#id`` or ``references/x.md#id``."""
    return f"#{entry.id}" if entry.doc == "troubleshooting.md" else f"{entry.doc}#{entry.id}"


INDEX_TARGET = re.compile(r"\]\((?P<doc>[\w./-]*?)#(?P<id>[\w-]+)\)")


def test_doc_structure() -> None:
    text = DOC.read_text(encoding="utf-8")
    remote = REMOTE_DOC.read_text(encoding="utf-8")
    # (backends: tests/test_backend_s3.py reads everything after this heading of troubleshooting-remote.md)
    assert re.findall(r"^## .*$", remote, re.M) == [REMOTE_HEADING], "troubleshooting-remote.md: one section, Remote sources"
    index = text.split("## Setup used by the examples", 1)[0]
    for entry_id, entry in ENTRIES.items():
        assert f"]({index_link(entry)})" in index, f"entry {entry_id!r} is missing from the quick index (link {index_link(entry)})"
        assert "**Fix" in entry.text or "**Cause / fix:**" in entry.text, f"entry {entry_id!r} has no fix"
        assert "```python" in entry.text, f"entry {entry_id!r} has no runnable block"
    for path in DOCS:  # a moved entry's links follow it (tests/test_doc_fences.py checks every doc link)
        assert broken_links(path) == [], broken_links(path)
    rows = [line for line in index.splitlines() if line.startswith("| ") and INDEX_TARGET.search(line)]
    targets = {INDEX_TARGET.search(row)["id"] for row in rows}
    assert set(ENTRIES) <= targets
    assert "grep" in text.split("## Quick index", 1)[0], "say how to find a message: grep troubleshooting.md references/"
    for row in rows:
        first_column, target = row.split(" | ")[0], INDEX_TARGET.search(row)["id"]
        if target not in ENTRIES:
            continue  # a remote entry (tests/test_backend_*.py)
        spans = re.findall(r"(``?)\s?(.+?)\s?\1(?!`)", first_column)
        assert spans or "*(no message" in first_column, row
        for _, span in spans:
            assert span in ENTRIES[target].text, f"quick index: {span!r} does not occur in entry {target!r}"


def test_expect_error_blocks_quote_a_documented_message() -> None:
    """Every ``expect-error`` substring is part of a documented ```text message of the same entry."""
    for entry_id, entry in ENTRIES.items():
        for exc_name, substring in re.findall(r"<!-- expect-error: ([\w.]+): (.*?) -->", entry.text):
            assert any(
                line.partition(": ")[0].rsplit(".", 1)[-1] == exc_name.rsplit(".", 1)[-1] and substring in line
                for line in entry.messages
            ), f"{entry_id}: expect-error {exc_name}: {substring!r} is not in a ```text message"


def test_every_documented_message_is_produced_by_a_doc_block() -> None:
    """Each ```text line has an ``expect-error`` block in its entry (so the doc run reproduces it too)."""
    for entry_id, entry in ENTRIES.items():
        directives = re.findall(r"<!-- expect-error: ([\w.]+): (.*?) -->", entry.text)
        for line in entry.messages:
            type_name = line.partition(": ")[0].rsplit(".", 1)[-1]
            assert any(exc.rsplit(".", 1)[-1] == type_name and substring in line for exc, substring in directives), (
                f"{entry_id}: no expect-error block reproduces {line[:100]!r}"
            )


def test_not_reproducible_entries_say_where_the_message_comes_from() -> None:
    for entry_id in NOT_REPRODUCIBLE:
        assert ENTRIES[entry_id].message_from, f"{entry_id}: mark its ```text with <!-- message-from: ... -->"
    for entry_id, entry in ENTRIES.items():
        if entry.message_from:
            assert entry_id in NOT_REPRODUCIBLE, f"{entry_id}: message-from marker without a replacement test"


def test_message_pattern_helper() -> None:
    type_name, pattern = message_pattern("icechunk.StorageError: at <path> not found: … (os error 2)")
    assert type_name == "StorageError"
    assert pattern.search("error: at /x/y.nc not found: No such file (os error 2)")
    assert not pattern.search("at /x/y.nc is fine")
    assert not matches("ValueError: abc", KeyError("abc"))
    entries = parse_doc('<a id="x"></a>\n### X\n\n```text\nValueError: a\n```\n\n## Next\n\n```text\nKeyError: b\n```\n')
    assert entries["x"].messages == ["ValueError: a"]


@pytest.mark.parametrize("entry_id", sorted(ENTRIES))
def test_messages_match_reality(entry_id: str, ctx: Ctx) -> None:
    entry = ENTRIES[entry_id]
    got = TRIGGERS[entry_id](ctx)
    actual = [f"{type(e).__module__}.{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}" for e in got]
    for line in entry.messages:
        assert any(matches(line, exc) for exc in got), f"documented but not raised:\n  {line}\nraised:\n  " + "\n  ".join(actual)
    for exc, shown in zip(got, actual):
        assert any(matches(line, exc) for line in entry.messages), f"raised but not documented in {entry_id!r}:\n  {shown}"
    if not entry.messages and entry_id not in NOT_REPRODUCIBLE:
        assert not got  # a silent entry: its trigger asserted the wrong result


@pytest.mark.timeout(120)  # process-pool: a regression to the deadlock must fail, not hang
@pytest.mark.parametrize("entry_id", sorted(ENTRIES))
def test_documented_fix_works(entry_id: str, ctx: Ctx) -> None:
    FIXES[entry_id](ctx)
