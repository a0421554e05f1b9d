"""DMR++ sidecars (``<data file>.dmrpp``, OPeNDAP's chunk index of a NetCDF4/HDF5 file) through
VirtualiZarr's ``DMRPPParser``: the chunks are the data file's, at the URL of the sidecar without
``.dmrpp``.

Before anything is read from the data file, the sidecar is held against it (one HEAD): a missing
data file, or references past its end (a sidecar older than its file), are refused naming both
files and the fix.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable

from vzskill.formats import ParseError
from vzskill.sources import display_name

__all__ = ["DmrppParser"]

_REGENERATE = "regenerate the sidecar for the current file (OPeNDAP get_dmrpp), or virtualize {data} itself"


_CHUNK = "{http://xml.opendap.org/dap/dmrpp/1.0.0#}chunk"


def _last_byte(url: str, registry: Any) -> int:
    """The end of the furthest chunk the sidecar references (read from its XML, not through the parser)."""
    import xml.etree.ElementTree as ET

    store, path = registry.resolve(url)
    root = ET.fromstring(bytes(store.get(path).bytes()))
    ends = [int(c.get("offset", 0)) + int(c.get("nBytes", 0)) for c in root.iter(_CHUNK)]
    return max(ends, default=0)


class DmrppParser:
    """``DMRPPParser`` with the sidecar checked against its data file (see the module docstring).

    Parameters
    ----------
    group
        A group of the described file; None = its root.
    drop_variables
        Variables to leave out.
    """

    def __init__(self, group: str | None = None, drop_variables: Iterable[str] | None = None) -> None:
        self.group, self.drop = group, list(drop_variables or ())

    def __call__(self, url: str, registry: Any) -> Any:
        from virtualizarr.parsers import DMRPPParser

        self._check(url, url.removesuffix(".dmrpp"), _last_byte(url, registry), registry)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DMRPPParser(group=self.group, skip_variables=self.drop or None)(url, registry)

    @staticmethod
    def _check(url: str, data_url: str, end: int, registry: Any) -> None:
        data, sidecar = display_name(data_url), display_name(url)
        fix = _REGENERATE.format(data=data)
        data_store, data_path = registry.resolve(data_url)
        try:
            size = int(data_store.head(data_path)["size"])
        except FileNotFoundError as exc:
            raise ParseError(f"{sidecar}: its data file {data} is missing (expected next to the sidecar) -> put {data} "
                             f"next to {sidecar}, or drop the sidecar from the list", kind="missing",
                             fix=f"put {data} next to {sidecar}") from exc
        if end > size:
            raise ParseError(f"{sidecar}: references bytes up to {end} of {data}, which has {size} bytes (the sidecar "
                             f"describes another version of the file) -> {fix}", kind="modified", fix=fix)
