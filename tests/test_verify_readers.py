"""The reader registration hook of vzskill.source_readers: register_reader, lazy vzskill.readers_<kind> import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import vzskill
from tests.verify_repos import write_repo
from vzskill import source_readers
from vzskill.source_readers import NoReader, SourceFile, SourceVariable, open_source, reader_for, register_reader
from vzskill import verify

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def readers() -> Iterator[dict[str, Any]]:
    """The registry, restored afterwards (tests register their own kinds)."""
    saved = dict(source_readers._READERS)
    yield source_readers._READERS
    source_readers._READERS.clear()
    source_readers._READERS.update(saved)
    for name in [m for m in sys.modules if m.startswith("vzskill.readers_test")]:
        del sys.modules[name]


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on vzskill's package path: a ``readers_<kind>.py`` written there is importable as vzskill.readers_<kind>."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.setattr(vzskill, "__path__", [*vzskill.__path__, str(folder)])
    return folder


def test_registered_reader_is_used_by_verify(tmp_path: Path, series_files: list[Path], readers: dict[str, Any]) -> None:
    original = readers["hdf5"]
    opened: list[str] = []

    def counting(url: str, registry: Any) -> SourceFile:
        opened.append(url)
        return original(url, registry)

    register_reader("hdf5", counting)
    report = verify(write_repo(tmp_path / "repo", series_files[:2]))
    assert report.ok and report.compared["temperature"] == 32, report.format_table()
    assert sorted(opened) == sorted(p.as_uri() for p in series_files[:2])


def test_reader_that_cannot_open_fails_the_report(tmp_path: Path, series_files: list[Path], readers: dict[str, Any]) -> None:
    def broken(url: str, registry: Any) -> SourceFile:
        raise OSError("cannot open")

    register_reader("hdf5", broken)
    report = verify(write_repo(tmp_path / "repo", series_files[:1], concat_dim=None))
    assert not report.ok and report.n_chunks == 0
    assert any(f.kind == "source_read" and "cannot open" in f.message for f in report.errors), report.format_table()


def test_unknown_kind_imports_readers_module(plugin_dir: Path, readers: dict[str, Any], series_files: list[Path]) -> None:
    (plugin_dir / "readers_testfmt.py").write_text(
        "from vzskill.source_readers import register_reader, reader_for\n"
        "register_reader('testfmt', reader_for('hdf5'))\n")
    assert "testfmt" not in readers
    src = open_source(series_files[0].as_uri(), None, "testfmt")
    try:
        assert src.variable("temperature") is not None
    finally:
        src.close()
    assert readers["testfmt"] is readers["hdf5"]


def test_dash_in_kind_maps_to_underscore(plugin_dir: Path, readers: dict[str, Any]) -> None:
    (plugin_dir / "readers_testfmt_zip.py").write_text(
        "from vzskill.source_readers import register_reader, reader_for\n"
        "register_reader('testfmt-zip', reader_for('fits'))\n")
    assert reader_for("testfmt-zip") is readers["fits"]


def test_no_module_no_reader(readers: dict[str, Any], series_files: list[Path]) -> None:
    with pytest.raises(NoReader, match="no direct reader for testnothing sources") as info:
        open_source(series_files[0].as_uri(), None, "testnothing")
    assert info.value.kind == "testnothing"


def test_reader_module_missing_its_package_names_it(plugin_dir: Path, readers: dict[str, Any]) -> None:
    (plugin_dir / "readers_testdep.py").write_text("import testdep_not_installed_anywhere\n")
    with pytest.raises(NoReader, match=r"testdep_not_installed_anywhere is not installed") as info:
        reader_for("testdep")
    assert info.value.kind == "testdep"


def test_broken_reader_module_is_not_hidden(plugin_dir: Path, readers: dict[str, Any]) -> None:
    (plugin_dir / "readers_testbug.py").write_text("raise RuntimeError('bug in the reader module')\n")
    with pytest.raises(RuntimeError, match="bug in the reader module"):
        reader_for("testbug")


class _Nudged(SourceVariable):
    """A source variable whose float values differ from the file's in the last bits (computed values)."""

    def __init__(self, inner: SourceVariable, rtol: float):
        self.inner, self.rtol = inner, rtol
        self.name, self.shape, self.dtype, self.attrs = inner.name, inner.shape, inner.dtype, inner.attrs

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return self.inner.locate(offset, length)

    def read(self, region: tuple[slice, ...]) -> Any:
        values = self.inner.read(region)
        return values * (1 + 4e-7) if values.dtype.kind == "f" else values  # float32: a few ulps


class _NudgedFile(SourceFile):
    kind = "hdf5"

    def __init__(self, inner: SourceFile, rtol: float):
        self.inner, self.rtol = inner, rtol

    def variable(self, path: str) -> SourceVariable | None:
        sv = self.inner.variable(path)
        return None if sv is None else _Nudged(sv, self.rtol)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("rtol, ok", [(1e-6, True), (0.0, False)])
def test_reader_rtol_is_honoured(tmp_path: Path, series_files: list[Path], readers: dict[str, Any],
                                 rtol: float, ok: bool) -> None:
    original = readers["hdf5"]
    register_reader("hdf5", lambda url, registry: _NudgedFile(original(url, registry), rtol))
    report = verify(write_repo(tmp_path / "repo", series_files[:1], concat_dim=None))
    assert report.ok is ok, report.format_table()
    if not ok:
        assert {m.variable for m in report.mismatches} >= {"temperature", "precipitation"}
    assert report.compared["temperature"] == 16
