"""Optional packages per format: a format whose parser lives in an extra package fails in one line
naming the file and the pip line, before anything is parsed or written.

=========  =====================================  ==========================================
kind       needs (import names)                   install
=========  =====================================  ==========================================
tiff       virtual_tiff, tifffile, imagecodecs    ``pip install virtual-tiff tifffile imagecodecs``
grib       gribberish, eccodes                    ``pip install gribberish eccodes``
hdf4       kerchunk (parser), pyhdf (verify)      ``pip install kerchunk pyhdf``
=========  =====================================  ==========================================

(In a checkout of vzskill these are the extras ``vzskill[tiff]``, ``vzskill[grib]``, ``vzskill[hdf4]``.)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from vzskill.sources import display_name

__all__ = ["EXTRAS", "Extra", "missing_modules", "plain_registry", "require_extra"]


@dataclass(frozen=True)
class Extra:
    """What a format needs: ``modules`` to parse (``verify_modules`` to verify) and the ``pip`` line."""

    label: str
    modules: tuple[str, ...]
    verify_modules: tuple[str, ...]
    pip: str
    extra: str


EXTRAS: dict[str, Extra] = {
    "tiff": Extra("TIFF", ("virtual_tiff", "imagecodecs"), ("tifffile",),
                  "pip install virtual-tiff tifffile imagecodecs", "tiff"),
    "grib": Extra("GRIB", ("gribberish",), ("eccodes",), "pip install gribberish eccodes", "grib"),
    "hdf4": Extra("HDF4", ("kerchunk",), ("pyhdf",), "pip install kerchunk pyhdf", "hdf4"),
}


def missing_modules(kind: str, *, verify: bool = False) -> list[str]:
    """The modules ``kind`` needs (to parse; with ``verify`` also to read the source) that are not installed."""
    extra = EXTRAS.get(kind)
    if extra is None:
        return []
    names = extra.modules + (extra.verify_modules if verify else ())
    return [name for name in names if importlib.util.find_spec(name) is None]


def require_extra(kind: str, url: str, *, verify: bool = False) -> None:
    """Raise :class:`vzskill.formats.ParseError` (kind ``"unsupported"``) when ``kind``'s packages are missing.

    Parameters
    ----------
    kind
        A format name (:func:`vzskill.formats.detect_kind`).
    url
        The source, named in the message.
    verify
        Also require the package that reads the source directly (what ``verify`` compares with).
    """
    missing = missing_modules(kind, verify=verify)
    if not missing:
        return
    from vzskill.formats import ParseError

    extra = EXTRAS[kind]
    raise ParseError(
        f"{display_name(url)}: a {extra.label} file needs {', '.join(missing)}, which is not installed -> {extra.pip}",
        kind="unsupported", fix=extra.pip,
    )


def plain_registry(registry: Any) -> Any:
    """``registry`` with real obstore stores: parsers that hand the store to a Rust reader (async-tiff,
    gribberish's ``obstore.open_reader``) cannot use the in-memory prefetched store of :mod:`vzskill.reading`."""
    return getattr(registry, "wrapped", registry)  # vzskill.reading.PrefetchRegistry.wrapped
