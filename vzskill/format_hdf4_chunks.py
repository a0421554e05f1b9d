"""Chunked HDF4 SDS written with the HDF4 library itself (for :func:`vzskill.format_fixtures.make_hdf4`).

pyhdf 0.11 wraps most of the SD API but not ``SDsetchunk`` (its docs list the chunking routines as
not implemented). The HDF4 library pyhdf ships (``libmfhdf``/``libdf`` in its wheel) has it, so a
chunked (optionally DEFLATE-compressed) SDS is created here through ctypes with the public C API:
``SDstart``, ``SDcreate``, ``SDsetchunk(sds_id, HDF_CHUNK_DEF, flags)``, ``SDwritedata``,
``SDendaccess``, ``SDend``. Attributes are then set with pyhdf as usual.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

__all__ = ["write_chunked"]

_DFACC_CREATE, _DFACC_RDWR = 4, 3
_DFNT = {np.dtype("int16"): 22, np.dtype("float32"): 5, np.dtype("float64"): 6, np.dtype("int32"): 24}
_HDF_CHUNK, _HDF_COMP, _COMP_CODE_DEFLATE = 0x1, 0x3, 4


class _ChunkDef(ctypes.Structure):
    """``HDF_CHUNK_DEF.comp``: chunk lengths (H4_MAX_VAR_DIMS = 32), compression code, ``comp_info``."""

    _fields_ = [("chunk_lengths", ctypes.c_int32 * 32), ("comp_type", ctypes.c_int32), ("cinfo", ctypes.c_int32 * 8)]


def _library() -> ctypes.CDLL:
    import pyhdf

    libs = Path(pyhdf.__file__).resolve().parent.parent / "pyhdf.libs"
    found = {stem: sorted(libs.glob(f"{stem}-*.so*")) for stem in ("libdf", "libmfhdf")}
    if not all(found.values()):
        raise OSError(f"the HDF4 library pyhdf ships was not found in {libs}")
    ctypes.CDLL(str(found["libdf"][0]), mode=ctypes.RTLD_GLOBAL)  # libmfhdf needs libdf's symbols
    lib = ctypes.CDLL(str(found["libmfhdf"][0]))
    lib.SDsetchunk.argtypes = [ctypes.c_int32, _ChunkDef, ctypes.c_int32]  # HDF_CHUNK_DEF is passed by value
    return lib


def write_chunked(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], chunks: tuple[int, ...],
                  deflate: int | None = 4) -> Path:
    """Create ``path`` (HDF4) with one chunked SDS per ``arrays`` item (``deflate``: zlib level, None = raw chunks)."""
    lib, path = _library(), Path(path)
    sd = lib.SDstart(str(path).encode(), _DFACC_CREATE)
    if sd < 0:
        raise OSError(f"SDstart failed for {path}")
    try:
        for name, values in arrays.items():
            values = np.ascontiguousarray(values)
            rank = values.ndim
            dims = (ctypes.c_int32 * rank)(*values.shape)
            sds = lib.SDcreate(sd, name.encode(), _DFNT[values.dtype], rank, dims)
            definition = _ChunkDef()
            for i, n in enumerate(chunks):
                definition.chunk_lengths[i] = n
            if deflate is not None:
                definition.comp_type, definition.cinfo[0] = _COMP_CODE_DEFLATE, deflate
            if lib.SDsetchunk(sds, definition, _HDF_COMP if deflate is not None else _HDF_CHUNK) != 0:
                raise OSError(f"SDsetchunk failed for {name} in {path}")
            start, edge = (ctypes.c_int32 * rank)(*([0] * rank)), (ctypes.c_int32 * rank)(*values.shape)
            if lib.SDwritedata(sds, start, None, edge, values.ctypes.data_as(ctypes.c_void_p)) != 0:
                raise OSError(f"SDwritedata failed for {name} in {path}")
            lib.SDendaccess(sds)
    finally:
        lib.SDend(sd)
    return path
