"""Shared set-up of the troubleshooting documents: one source, run again by every reference file.

troubleshooting.md shows its set-up once, as a visible block under ``## Setup used by the examples``.
The entries moved to ``references/troubleshooting-*.md`` use the same names (``registry``, ``open_one``,
``new_repo``, ``read_back``, ``expected``, ``series`` ...); each of those files starts with::

    <!-- invisible-code-block: python
    from tests.plugins.docs_setup import troubleshooting_setup
    globals().update(troubleshooting_setup(data_dir, work_dir))
    -->

which runs that same visible block (read from troubleshooting.md, not copied) in a fresh namespace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SETUP_HEADING = "## Setup used by the examples"
_FIRST_PYTHON = re.compile(r"^```python\n(?P<code>.*?)^```\s*$", re.M | re.S)


def setup_code(doc: Path = ROOT / "troubleshooting.md") -> str:
    """The first ```python block under ``SETUP_HEADING`` of ``doc`` (line numbers kept for tracebacks)."""
    text = doc.read_text(encoding="utf-8")
    start = text.index(SETUP_HEADING)
    section = text[start:].split("\n## ", 1)[0]
    match = _FIRST_PYTHON.search(section)
    if match is None:
        raise ValueError(f"{doc.name}: no ```python block under {SETUP_HEADING!r}")
    offset = text.count("\n", 0, start + match.start("code"))
    return "\n" * offset + match["code"]


def troubleshooting_setup(data_dir: Path, work_dir: Path, doc: Path = ROOT / "troubleshooting.md") -> dict[str, Any]:
    """Run troubleshooting.md's set-up block with ``data_dir`` / ``work_dir``; returns its names."""
    namespace: dict[str, Any] = {"data_dir": data_dir, "work_dir": work_dir, "__name__": "troubleshooting_setup"}
    exec(compile(setup_code(doc), str(doc), "exec"), namespace)  # noqa: S102 - our own document's code
    namespace.pop("__builtins__", None)
    return namespace


# --------------------------------------------------------------------------------------------
# The hidden checks of examples.md and the references/*.md example files (never used by visible code)
# --------------------------------------------------------------------------------------------

VARIABLES = ("temperature", "precipitation", "time", "lat", "lon")


def sources(files: Any, dim: str = "time") -> Any:
    """The original files, opened with h5netcdf and concatenated along ``dim``."""
    import xarray as xr

    opened = [xr.open_dataset(f, engine="h5netcdf") for f in files]
    if len(opened) == 1:
        return opened[0]
    return xr.concat(opened, dim=dim, data_vars="minimal", coords="minimal", compat="override")


def read_back(vds: Any, urls: Any) -> Any:
    """Write ``vds`` to an in-memory repository (containers for ``urls``) and open it with xarray."""
    import icechunk
    import xarray as xr

    import vzskill

    repo = vzskill.create_repo(icechunk.in_memory_storage(), urls)
    with repo.transaction("main", message="check") as store:
        vds.vz.to_icechunk(store)
    return xr.open_zarr(repo.readonly_session("main").store, consolidated=False, zarr_format=3)


def assert_same(ds: Any, src: Any, names: Any = VARIABLES) -> None:
    """Every variable in ``names`` of ``ds`` equals the one of ``src``."""
    import numpy as np

    for name in names:
        np.testing.assert_array_equal(ds[name].values, src[name].values, err_msg=name)
