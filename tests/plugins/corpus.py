"""The real-world corpus: archival test files shipped inside the installed packages.

:func:`collect_corpus` walks the interpreter's site-packages (``sysconfig`` purelib/platlib and
``site.getsitepackages()``: never a hard-coded path) at test time and keeps every file that is

* named like an archive: ``.nc .nc4 .cdf .h5 .hdf5 .he5 .fits .fit .fts`` and the gzip forms
  ``.fits.gz .fit.gz .nc.gz`` (gzip streams have no byte ranges to reference: the expected outcome
  is a refusal that says "decompress first"), kerchunk ``.json`` reference files (top-level
  ``"refs"`` key, only under a ``tests``/``data`` folder), or
* recognised by its magic bytes whatever its name: HDF5 signature, ``CDF\\x01/\\x02/\\x05``,
  ``SIMPLE  =`` (FITS; astropy ships ~45 header-only ``.hdr`` files this way: valid headers
  whose data part is absent, i.e. truncated FITS files).

Files are deduplicated by content hash (first package in sorted order keeps the file), then by
*structure*: format + dtype set + HDU/variable layout signature (:func:`structure_signature`).
Only the first file (sorted by package/path) of each structure is kept, so two FITS images that
differ only in their pixel values or header comments are exercised once; every dropped file is
recorded in :attr:`Corpus.duplicates` with the file that represents it (never dropped silently),
and the counts are printed in the terminal summary.
Measured 2026-12-02 (astropy 7, h5py, scipy, xarray, numpy in the venv): 114 candidate files, 2 of
them identical content (astropy votable/tb.fits = io/fits/tb.fits, xarray example_1.nc = scipy's),
57 with the structure of a kept file (45 of them astropy WCS header-only ``.hdr`` files, m13
compression variants, checksum/scale/test1 twins) -> 55 kept: astropy 46, h5py 3, numpy 1,
scipy 3, xarray 2. The whole corpus runs in ~10-25 s on the shared 2 cores (collection ~3 s).

Fixtures: ``corpus`` (session, :class:`Corpus`), ``corpus_files`` (session, list of
:class:`CorpusFile`). Test modules record outcomes with :func:`record_outcome`; the terminal
summary prints the table (package, file, outcome, one-line reason) without ``-s``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import site
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARCHIVE_SUFFIXES = (".nc", ".nc4", ".cdf", ".h5", ".hdf5", ".he5", ".fits", ".fit", ".fts")
GZIP_SUFFIXES = (".fits.gz", ".fit.gz", ".nc.gz")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
CDF_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
FITS_MAGIC = b"SIMPLE  ="
MAX_BYTES = 50 * 1024 * 1024  # larger files would blow the time budget; none exist today


@dataclass(frozen=True)
class CorpusFile:
    """One corpus file: where it lives, which package ships it, what it is."""

    package: str  # top-level folder in site-packages (import name), e.g. "astropy"
    relpath: str  # path inside site-packages, e.g. "astropy/io/fits/tests/data/arange.fits"
    path: Path  # absolute, READ-ONLY: copy before use
    kind: str  # "hdf5" | "netcdf3" | "fits" | "gzip" | "kerchunk"
    sha256: str
    size: int
    signature: str  # structure signature (dedupe key)

    @property
    def id(self) -> str:
        """Test id: package-relative path, e.g. ``astropy/io/fits/tests/data/arange.fits``."""
        return self.relpath


@dataclass
class Corpus:
    files: list[CorpusFile]
    candidates: int  # files found by suffix or magic before any dedupe
    same_content: list[tuple[str, str]] = field(default_factory=list)  # (dropped relpath, kept relpath)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # same structure: (dropped, kept)

    def per_package(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.package] = out.get(f.package, 0) + 1
        return dict(sorted(out.items()))

    def summary(self) -> str:
        pkgs = ", ".join(f"{k} {v}" for k, v in self.per_package().items())
        return (f"corpus: {self.candidates} candidate files, {len(self.same_content)} same content, "
                f"{len(self.duplicates)} same structure as a kept file, {len(self.files)} kept ({pkgs})")


def site_packages() -> list[Path]:
    """The interpreter's site-packages folders (existing, deduplicated, in a stable order)."""
    seen: list[Path] = []
    paths = [sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib")]
    try:
        paths += site.getsitepackages()
    except AttributeError:  # pragma: no cover - virtualenv's old site module
        pass
    for p in paths:
        if p and Path(p).is_dir() and Path(p).resolve() not in seen:
            seen.append(Path(p).resolve())
    return seen


def kind_of(path: Path) -> str | None:
    """The archive kind by magic bytes first, then by name; None: not an archive."""
    name = path.name.lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head[:4] in CDF_MAGICS:
        return "netcdf3"
    if head.startswith(FITS_MAGIC):
        return "fits"
    if name.endswith(GZIP_SUFFIXES) and head[:2] == b"\x1f\x8b":
        return "gzip"
    if name.endswith(".json") and _is_kerchunk_json(path):
        return "kerchunk"
    if name.endswith(ARCHIVE_SUFFIXES):
        return "unknown"  # named like an archive, content is not: expect a clean refusal
    return None


def _is_kerchunk_json(path: Path) -> bool:
    parts = {p.lower() for p in path.parts}
    if not parts & {"tests", "test", "data"} or path.stat().st_size > MAX_BYTES:
        return False
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("refs"), dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sig_hdf5(path: Path) -> str:
    import h5py

    parts: list[str] = []
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                d = obj.dtype
                vlen = "vlen" if h5py.check_vlen_dtype(d) is not None or h5py.check_string_dtype(d) is not None else ""
                parts.append(f"{d.str}{'+' if d.names else ''}{vlen}/{obj.ndim}/{'c' if obj.chunks else 'k'}"
                             f"/{obj.compression or ''}/{'scale' if 'CLASS' in obj.attrs else ''}")
            else:
                parts.append("group")
        f.visititems(visit)
    return "hdf5:" + ",".join(sorted(set(parts)))


def _sig_netcdf3(path: Path) -> str:
    from scipy.io import netcdf_file

    with netcdf_file(path, "r", mmap=False) as f:
        parts = sorted({f"{v.data.dtype.str}/{len(v.dimensions)}/{'rec' if v.isrec else ''}" for v in f.variables.values()})
        return f"netcdf3-v{f.version_byte}:" + ",".join(parts)


def _sig_fits(path: Path) -> str:
    import warnings

    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, do_not_scale_image_data=True, lazy_load_hdus=False) as hdul:
                parts = []
                for hdu in hdul:
                    h = hdu.header
                    cols = ""
                    if hasattr(hdu, "columns") and hdu.columns is not None:
                        cols = ".".join(sorted({str(c.format) for c in hdu.columns}))
                    flags = "".join(k[0] for k in ("BSCALE", "BZERO", "BLANK") if k in h)
                    parts.append(f"{type(hdu).__name__}/{h.get('BITPIX')}/{h.get('NAXIS')}/{flags}/"
                                 f"{h.get('ZCMPTYPE', '')}/{cols}/{'groups' if h.get('GROUPS') else ''}")
                # a data part shorter than the headers declare (header-only .hdr files) is its own kind
                hdul.verify("silentfix+ignore")
                last = hdul.fileinfo(len(hdul) - 1) or {}
                short = (last.get("datLoc") or 0) + (last.get("datSpan") or 0) > path.stat().st_size
                return "fits:" + "|".join(parts) + ("|short" if short else "")
    except Exception as exc:  # noqa: BLE001 - unreadable by astropy too: its own kind
        return f"fits:unopenable:{type(exc).__name__}"


def _sig_gzip(path: Path) -> str:
    with gzip.open(path, "rb") as fh:
        head = fh.read(16)
    inner = "hdf5" if head.startswith(HDF5_MAGIC) else "netcdf3" if head[:4] in CDF_MAGICS else "fits" if head.startswith(FITS_MAGIC) else "other"
    return f"gzip:{inner}"


def structure_signature(path: Path, kind: str) -> str:
    """Format + dtype set + HDU/variable layout: the dedupe key of :func:`collect_corpus`."""
    try:
        if kind == "hdf5":
            return _sig_hdf5(path)
        if kind == "netcdf3":
            return _sig_netcdf3(path)
        if kind == "fits":
            return _sig_fits(path)
        if kind == "gzip":
            return _sig_gzip(path)
    except Exception as exc:  # noqa: BLE001 - its own kind
        return f"{kind}:unreadable:{type(exc).__name__}"
    return f"{kind}:{path.name}"


@functools.lru_cache(maxsize=1)
def collect_corpus() -> Corpus:
    """Find, deduplicate and describe the corpus (cached: computed once per process)."""
    found: list[tuple[str, str, Path, str]] = []
    for root in site_packages():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.endswith((".dist-info", ".egg-info")))
            for name in sorted(filenames):
                if name.endswith((".py", ".pyc", ".pyi", ".so")):
                    continue
                path = Path(dirpath) / name
                if not path.is_file() or path.is_symlink():
                    continue
                kind = kind_of(path)
                if kind is None or path.stat().st_size > MAX_BYTES:
                    continue
                rel = path.relative_to(root).as_posix()
                found.append((rel.split("/")[0], rel, path, kind))
    found.sort(key=lambda t: t[1])
    corpus = Corpus(files=[], candidates=len(found))
    by_hash: dict[str, str] = {}
    by_sig: dict[str, str] = {}
    for package, rel, path, kind in found:
        digest = _sha256(path)
        if digest in by_hash:
            corpus.same_content.append((rel, by_hash[digest]))
            continue
        by_hash[digest] = rel
        sig = structure_signature(path, kind)
        if sig in by_sig:
            corpus.duplicates.append((rel, by_sig[sig]))
            continue
        by_sig[sig] = rel
        corpus.files.append(CorpusFile(package, rel, path, kind, digest, path.stat().st_size, sig))
    return corpus


# ----------------------------------------------------------------------------- pytest glue

OUTCOMES: list[dict[str, Any]] = []  # filled by record_outcome, printed by the terminal summary


def record_outcome(row: dict[str, Any]) -> None:
    """Remember one file's outcome (``package``, ``file``, ``outcome``, ``reason``, ``seconds``)."""
    OUTCOMES.append(row)


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return collect_corpus()


@pytest.fixture(scope="session")
def corpus_files(corpus: Corpus) -> list[CorpusFile]:
    return list(corpus.files)


def format_outcomes(rows: list[dict[str, Any]]) -> list[str]:
    """The outcome table, one line per file, plus per-outcome counts."""
    lines = [f"{'package':<8} {'outcome':<15} {'s':>5}  file  --  reason"]
    for r in sorted(rows, key=lambda r: (r["outcome"], r["file"])):
        lines.append(f"{r['package']:<8} {r['outcome']:<15} {r.get('seconds', 0):5.2f}  {r['file']}  --  {r['reason']}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OUTCOMES:
        return
    terminalreporter.section("vzskill corpus outcomes")
    terminalreporter.write_line(collect_corpus().summary())
    for line in format_outcomes(OUTCOMES):
        terminalreporter.write_line(line)
