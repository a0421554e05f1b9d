"""Zipped Zarr stores (``*.zarr.zip``, or any zip archive whose root holds a Zarr group) through
VirtualiZarr's ``ZippedZarrParser``: each chunk is a byte range of its (uncompressed) zip member.

Refused before anything is written, with the fix: archives whose members are compressed (a
DEFLATE member has no byte range of its own: re-zip with ``zip -0``) and zip archives that hold no
Zarr store at their root (unzip them and virtualize the files inside).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable

from vzskill.formats import ParseError
from vzskill.sources import display_name

__all__ = ["ZipParser"]

_REZIP = "recreate it with uncompressed members (cd store.zarr && zip -0 -r ../store.zarr.zip .) and virtualize that"


class ZipParser:
    """``ZippedZarrParser`` with its failures named (see the module docstring).

    Parameters
    ----------
    group
        A group of the zipped store (``"model/output"``); None = its root.
    drop_variables
        Arrays to leave out.
    """

    def __init__(self, group: str | None = None, drop_variables: Iterable[str] | None = None) -> None:
        self.group = group
        self.drop = list(drop_variables or ())

    def __call__(self, url: str, registry: Any) -> Any:
        from virtualizarr.parsers import ZippedZarrParser
        from zarr.errors import NodeNotFoundError

        name = display_name(url)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ZippedZarrParser(group=self.group, skip_variables=self.drop or None)(url, registry)
        except NotImplementedError as exc:
            text = str(exc).split(", so their chunks", 1)[0].replace(f" of {url}", "")
            raise ParseError(f"{name}: {text.replace(' members', ' zip members', 1)} -> {_REZIP}", kind="unsupported",
                             fix=_REZIP) from exc
        except NodeNotFoundError as exc:
            where = f"group {self.group!r}" if self.group else "a Zarr store at its root"
            fix = ("check the group with `vzskill inspect` (or unzip it and virtualize the files inside)"
                   if self.group else "unzip it and virtualize the files inside")
            raise ParseError(f"{name}: a zip archive without {where} -> {fix}", kind="unsupported", fix=fix) from exc
