"""vzskill.errors: valid-but-unsupported content is named (variable, feature, working fix), damage only
when the bytes prove it, and a failure prints exactly one line (real files shipped by scipy/astropy/h5py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import astropy
import h5py
import scipy

from vzskill.parse import parse_files

VZSKILL = str(Path(sys.executable).with_name("vzskill"))
SCIPY = Path(scipy.__file__).parent / "io/tests/data"
FITS = Path(astropy.__file__).parent / "io/fits/tests/data"
H5PY = Path(h5py.__file__).parent / "tests/data_files"

UNSUPPORTED = {
    "nc3_char_fill": (SCIPY / "example_3_maskedvals.nc",
                      "example_3_maskedvals.nc: variable 'var6_char' is a char (text) variable with a _FillValue, which "
                      "NetCDF3Parser cannot decode -> drop_variables=['var6_char'] (--drop var6_char; "
                      "NetCDF3Parser(skip_variables=['var6_char']))"),
    "fits_bintable": (FITS / "checksum.fits",
                      "checksum.fits: HDU 'RATE' is a binary table (Zarr cannot record its big-endian columns) -> "
                      "drop_variables=['RATE'] (--drop RATE; FITSParser(skip_variables=['RATE']))"),
    "fits_only_table": (FITS / "btable.fits",
                        "btable.fits: HDU '1' is a binary table (Zarr cannot record its big-endian columns) -> skip the "
                        "file (remove it from the list): it holds no other data, drop_variables=['1'] (--drop 1; "
                        "FITSParser(skip_variables=['1'])) leaves nothing"),
    "fits_groups": (FITS / "random_groups.fits",
                    "random_groups.fits: HDU 'PRIMARY' is a GroupsHDU, which FITSParser cannot virtualize -> skip the "
                    "file (remove it from the list): it holds no other data, drop_variables=['PRIMARY'] (--drop PRIMARY; "
                    "FITSParser(skip_variables=['PRIMARY'])) leaves nothing"),
    "h5_complex_attrs": (H5PY / "compound-dtype-complex.h5",
                         "compound-dtype-complex.h5: variable '<c16' has attribute 'c1' with complex or compound values, "
                         "which Zarr metadata (JSON) cannot hold -> skip the file (remove it from the list): it holds no "
                         "other data, dropping <c16, <c8, >c16, ... leaves nothing"),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_unsupported_content_is_named_not_corrupt(case: str) -> None:
    path, expected = UNSUPPORTED[case]
    [p] = parse_files([path])
    assert p.error == expected
    assert p.problem == "unsupported" and "re-download" not in p.error and "corrupt" not in p.error


@pytest.mark.parametrize("path,drop", [(SCIPY / "example_3_maskedvals.nc", ["var6_char"]), (FITS / "checksum.fits", ["RATE"])])
def test_suggested_drop_makes_it_virtualize(path: Path, drop: list[str], tmp_path: Path) -> None:
    from vzskill.write import virtualize

    [p] = parse_files([path], drop_variables=drop)
    assert p.ok and not set(drop) & set(p.dataset.variables)
    result = virtualize([str(path)], tmp_path / "repo", drop_variables=drop)
    assert result.n_files == 1 and result.nrefs > 0


def _h5(path: Path, make) -> Path:
    with h5py.File(path, "w") as f:
        make(f)
        f.create_dataset("good", data=np.arange(8, dtype="f4"))
    return path


def test_complex_attribute_and_external_storage(tmp_path: Path) -> None:
    def cattr(f):
        f.create_dataset("z", data=np.arange(8, dtype="f4")).attrs["c"] = np.complex64(1 + 2j)

    def external(f):
        (tmp_path / "ext.bin").write_bytes(np.arange(8, dtype="<f4").tobytes())
        f.create_dataset("outside", shape=(8,), dtype="<f4", external=[("ext.bin", 0, 32)])

    a = _h5(tmp_path / "cattr.h5", cattr)
    [p] = parse_files([a])
    assert p.error == ("cattr.h5: variable 'z' has attribute 'c' with complex or compound values, which Zarr "
                       "metadata (JSON) cannot hold -> HDFParser(drop_variables=['z'])")
    assert parse_files([a], drop_variables=["z"])[0].ok
    b = _h5(tmp_path / "external.h5", external)
    [q] = parse_files([b])  # parsed "fine" upstream: it would read back as fill values
    assert q.problem == "unsupported" and q.variable == "outside"
    assert q.error.startswith("external.h5: variable 'outside' uses HDF5 external storage (its data are in ext.bin")
    assert parse_files([b], drop_variables=["outside"])[0].ok


def test_damage_proven_by_the_bytes_stays_corrupt(tmp_path: Path) -> None:
    data = (SCIPY / "example_1.nc").read_bytes()
    (tmp_path / "half.nc").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.nc").write_bytes(data[:4] + b"\xff" * 200)
    [half, garbage] = parse_files([tmp_path / "half.nc", tmp_path / "garbage.nc"])
    assert half.problem == "corrupt" and half.error == (
        f"half.nc: corrupt NetCDF3 file (truncated: the header describes {len(data)} bytes, the file has "
        f"{len(data) // 2}) -> re-download or regenerate it, or remove it from the list")
    assert garbage.problem == "corrupt" and garbage.error.startswith("garbage.nc: corrupt NetCDF3 file (damaged header")


def test_icechunk_errors_by_kind(tmp_path: Path) -> None:
    import icechunk

    from vzskill.errors import explain

    with pytest.raises(icechunk.IcechunkError) as err:
        icechunk.Repository.open(icechunk.local_filesystem_storage(str(tmp_path / "none")))
    problem = explain(err.value, url=(tmp_path / "none").as_uri())
    assert problem.kind == "missing" and "\n" not in problem.message and " -> " in problem.message


@pytest.mark.parametrize(
    ("code", "kind"),
    [("virtual-chunk-modified", "modified"), ("no-container-for-virtual-chunk", "container"),
     ("invalid-credentials", "permission"), ("throttled", "network"), ("object-not-found", "missing"),
     ("commit-conflict", "unknown")],
)
def test_icechunk_kind_codes_are_errorkind_members(code: str, kind: str) -> None:
    import icechunk

    from vzskill.errors import explain

    assert code in {k.value for k in icechunk.ErrorKind}  # a code icechunk really raises
    problem = explain(icechunk.IcechunkError(f"boom [{code}]", code), url="s3://b/x.nc")
    assert problem.kind == kind and problem.message.startswith("x.nc: ") and " -> " in problem.message


def test_a_deleted_source_read_through_icechunk_is_missing_not_network(tmp_path: Path) -> None:
    """icechunk reports the deleted file as kind virtual-chunk-fetch; explain looks at the file before saying network."""
    import icechunk
    import zarr

    from vzskill import fixtures, virtualize
    from vzskill.errors import explain, quiet
    from vzskill.repo import open_location

    files = fixtures.make_series(tmp_path / "src", 2)
    virtualize([str(f) for f in files], str(tmp_path / "repo"))
    files[1].unlink()
    group = zarr.open_group(open_location(tmp_path / "repo").readonly_session("main").store, mode="r")
    with quiet(), pytest.raises(icechunk.IcechunkError) as err:
        group["temperature"][:]
    assert err.value.kind == icechunk.ErrorKind.VIRTUAL_CHUNK_FETCH
    problem = explain(err.value, url=files[1].as_uri())
    assert problem.kind == "missing", problem
    assert problem.message == f"temp_001.nc: file not found ({files[1]}) -> " + problem.fix
    # the same kind for a file that is still there: no proof of absence, so it stays a fetch (network) problem
    assert explain(err.value, url=files[0].as_uri()).kind == "network"


def test_a_remote_fetch_failure_is_missing_only_when_head_says_so(http_base_url: str) -> None:
    import icechunk

    from vzskill.errors import explain
    from vzskill.registry import build_registry

    fetch = icechunk.IcechunkError("error fetching virtual reference: boom", "virtual-chunk-fetch")
    gone, there = f"{http_base_url}/series/no_such_file.nc", f"{http_base_url}/series/temp_000.nc"
    registry = build_registry([there])
    assert explain(fetch, url=gone, registry=registry).kind == "missing"
    assert explain(fetch, url=there, registry=registry).kind == "network"
    assert explain(fetch, url=gone).kind == "network"  # no registry: nothing looked at, nothing claimed


@pytest.mark.parametrize("path", [H5PY / "compound-dtype-complex.h5", FITS / "btable.fits"])
def test_cli_one_line_no_asyncio_noise(path: Path) -> None:
    proc = subprocess.run([VZSKILL, "check", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Task exception" not in proc.stderr and path.name in proc.stderr


def test_parse_files_stderr_is_silent() -> None:
    code = f"from vzskill.parse import parse_files; parse_files([{str(H5PY / 'compound-dtype-complex.h5')!r}])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-500:]
