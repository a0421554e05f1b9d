"""Seeded damage to real sample files (truncations, bit flips) through check + virtualize, in-process.

For every damaged file the outcome is one of:

* refused: a VirtualizeError/SourceError of ONE line naming the file, and no data committed;
* committed: the damage left a readable file (bits flipped inside chunk data or attribute text,
  padding cut off...). Then ``verify`` (stored values vs a direct read of the damaged file) must run
  without a traceback and either agree or report the file - never silent wrong data.

Never a traceback. A failure prints the seed and the mutation: ``_mutate(SOURCE, seed)`` reproduces it.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import xarray as xr

from vzskill import fixtures
from vzskill.containers import open_repo
from vzskill.repo import storage_for
from vzskill.sources import SourceError
from vzskill.write import VirtualizeError, virtualize

CASES_PER_KIND = 67  # x 3 kinds = 201 seeded mutations

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # astropy: "File may have been truncated" (expected)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz-src")
    return {
        "netcdf4": fixtures.make_series(d / "nc4", 1)[0],
        "netcdf3": fixtures.make_variant(d / "nc3", "netcdf3"),
        "fits": fixtures.make_fits(d / "image.fits"),
    }


def _mutate(data: bytes, seed: int) -> tuple[bytes, str]:
    """Seeded damage: half truncations (anywhere, incl. inside the header), half 1-8 flipped bits."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        cut = rng.randrange(0, len(data))
        return data[:cut], f"truncated to {cut} of {len(data)} bytes"
    out = bytearray(data)
    flips = []
    for _ in range(rng.randint(1, 8)):
        pos, bit = rng.randrange(len(out)), rng.randrange(8)
        out[pos] ^= 1 << bit
        flips.append(f"{pos}:{bit}")
    return bytes(out), "bits flipped at " + ",".join(flips)


def _stored_data(repo: Path) -> bool:
    try:
        session = open_repo(storage_for(repo)).readonly_session("main")
        return bool(xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None).data_vars)
    except Exception:  # noqa: BLE001 - no repository / no arrays: nothing committed
        return False


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["netcdf4", "netcdf3", "fits"])
def test_damaged_files_are_refused_in_one_line_or_verified(tmp_path: Path, sources: dict[str, Path], kind: str) -> None:
    from vzskill import verify

    original = sources[kind].read_bytes()
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    for case in range(CASES_PER_KIND):
        seed = 1000 * ["netcdf4", "netcdf3", "fits"].index(kind) + case
        data, how = _mutate(original, seed)
        path = tmp_path / f"damaged_{seed}{sources[kind].suffix}"
        path.write_bytes(data)
        repo = tmp_path / f"repo_{seed}"
        where = f"seed {seed} ({kind}, {how})"
        try:
            virtualize([path], repo)
        except (VirtualizeError, SourceError) as exc:
            message = str(exc)
            if "\n" in message or path.name not in message:
                problems.append(f"{where}: message not one line naming the file: {message[:300]!r}")
            if _stored_data(repo):
                problems.append(f"{where}: refused but data committed")
            outcomes["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the defect this test is for
            problems.append(f"{where}: traceback {type(exc).__name__}: {str(exc)[:300]}")
            continue
        outcomes["committed"] += 1
        try:
            report = verify(repo)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{where}: committed, then verify raised {type(exc).__name__}: {str(exc)[:300]}")
            continue
        if not report.ok:
            outcomes["committed, verify reports it"] += 1
            text = report.format_table()
            if path.name not in text:
                problems.append(f"{where}: verify not ok without naming the file: {text[:300]!r}")
    assert not problems, "\n".join(problems)
    assert outcomes["refused"] >= CASES_PER_KIND // 4, outcomes  # the damage is real (not all benign)
