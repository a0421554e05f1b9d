"""ENVI rasters: a flat binary data file plus a plain-text ``.hdr`` header next to it.

The data file has no signature of its own: it is an ENVI raster when ``<file>.hdr`` or
``<stem>.hdr`` exists and starts with ``ENVI`` (:func:`envi_header`). Passing the header itself
is refused with the data file to pass instead. VirtualiZarr's ``ENVIParser`` reads it: one array
named after the data file's stem, dims in file order (BSQ ``(band, y, x)``, BIL ``(y, band, x)``,
BIP ``(y, x, band)``), one chunk per index of the outer axis.

:func:`read_header` is vzskill's own reading of the header (for ``verify``'s numpy reader,
:mod:`vzskill.readers_envi`), independent of the parser's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np

__all__ = ["DTYPES", "EnviHeader", "envi_header", "read_header"]

ENVI_MAGIC = b"ENVI"
DTYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 6: "c8", 9: "c16", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
ORDER = {"bsq": ("band", "y", "x"), "bil": ("y", "band", "x"), "bip": ("y", "x", "band")}


def header_candidates(url: str) -> list[str]:
    """``<file>.hdr`` then ``<stem>.hdr`` (the two conventions in the wild)."""
    head, _, name = url.rpartition("/")
    stem = str(PurePosixPath(name).with_suffix(".hdr"))
    out = [url + ".hdr"]
    if f"{head}/{stem}" not in out:
        out.append(f"{head}/{stem}")
    return out


def envi_header(url: str, registry: Any) -> str | None:
    """The URL of ``url``'s ENVI header (a sidecar starting with ``ENVI``), None if there is none."""
    if url.lower().endswith(".hdr"):
        return None
    for candidate in header_candidates(url):
        try:
            store, path = registry.resolve(candidate)
            if bytes(store.get_range(path, start=0, length=4)) == ENVI_MAGIC:
                return candidate
        except Exception:  # noqa: BLE001 - a missing / unreadable / foreign sidecar: not this candidate
            continue
    return None


@dataclass(frozen=True)
class EnviHeader:
    """What the header says about the binary layout."""

    shape: tuple[int, ...]
    dims: tuple[str, str, str]
    dtype: np.dtype
    offset: int
    gzip: bool
    fill: float | None


def _fields(text: str) -> dict[str, str]:
    out = {}
    for key, value in re.findall(r"^\s*([^=\n]+?)\s*=\s*(\{[^}]*\}|[^\n]*)", text, re.M):
        out[key.strip().lower()] = value.strip().strip("{}").strip()
    return out


def read_header(text: str) -> EnviHeader:
    """Parse an ENVI header's layout keys (samples, lines, bands, data type, byte order, interleave...)."""
    f = _fields(text)
    interleave = f.get("interleave", "bsq").lower()
    dims = ORDER[interleave]
    sizes = {"band": int(f["bands"]), "y": int(f["lines"]), "x": int(f["samples"])}
    dtype = np.dtype(DTYPES[int(f["data type"])]).newbyteorder(">" if f.get("byte order", "0") == "1" else "<")
    fill = float(f["data ignore value"]) if "data ignore value" in f else None
    return EnviHeader(tuple(sizes[d] for d in dims), dims, dtype, int(f.get("header offset", "0")),
                      f.get("file compression", "0") == "1", fill)


class EnviParser:
    """VirtualiZarr's ``ENVIParser`` with its refusals named (file, reason, fix).

    Parameters
    ----------
    group
        Must be None (an ENVI raster is one array).
    drop_variables
        Ignored unless it names the one array (then nothing is left: refused).
    """

    def __init__(self, group: str | None = None, drop_variables: list[str] | None = None) -> None:
        self.group, self.drop = group, list(drop_variables or ())

    def __call__(self, url: str, registry: Any) -> Any:
        from virtualizarr.parsers import ENVIParser

        from vzskill.formats import ParseError
        from vzskill.sources import display_name

        name = display_name(url)
        if self.group not in (None, "", "/"):
            fix = "drop group= (an ENVI raster is one array)"
            raise ParseError(f"{name}: ENVI files have no groups -> {fix}", kind="source", fix=fix)
        try:
            return ENVIParser(header_url=envi_header(url, registry))(url, registry)
        except (NotImplementedError, ValueError) as exc:
            text = str(exc).strip().splitlines()[0]
            fix = "check the .hdr against the data file (samples, lines, bands, data type, header offset), or skip the file"
            raise ParseError(f"{name}: VirtualiZarr's ENVIParser cannot read it ({text}) -> {fix}",
                             kind="unsupported", fix=fix) from exc
