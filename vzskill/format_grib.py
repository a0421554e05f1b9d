"""GRIB2 sources through gribberish's VirtualiZarr parser: one GRIB message is one chunk.

Messages of one field (same short name, level type and product kind) become one array
``(time[, level...], y, x)`` whose chunks are the messages in file order; coordinates (time,
levels, a regular grid's latitude/longitude) are small inlined arrays. Without ``group`` the
file is collapsed into one root dataset where its content allows (gribberish's
``collapse_groups=True``); ``group="hag/instant"`` (surface type / product kind, gribberish's
stable layout) picks one node of the tree instead, so every file of a forecast series lands at
the same path.

Refused before anything is written (one line, file and fix): GRIB edition 1 (gribberish reads
GRIB2 only), packings gribberish cannot decode here (checked by decoding the first message of
each field), and a file whose fields need more than one group without ``group=`` (the fix names
them: a list, ``virtualize(..., group=level_groups(file))``, writes them all as one tree).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Iterable

from vzskill.format_extras import plain_registry, require_extra
from vzskill.format_manifest import manifest_array, manifest_store
from vzskill.formats import ParseError
from vzskill.sources import Access, display_name

__all__ = ["GribParser", "grid_problem", "level_groups"]


def _refuse(url: str, what: str, fix: str, variable: str | None = None) -> ParseError:
    where = f"{display_name(url)}: variable '{variable}'" if variable else display_name(url)
    return ParseError(f"{where}: {what} -> {fix}", kind="unsupported", fix=fix)


def _node_store(tree: Any, path: str, registry: Any) -> Any:
    """A ManifestStore of one node of the virtual tree (its arrays, dims and attributes kept; "" = the root)."""
    ds = (tree[path] if path else tree).to_dataset()
    arrays = {str(name): manifest_array(var) for name, var in ds.variables.items()}
    return manifest_store(arrays, ds.attrs, registry, [str(c) for c in ds.coords])


def _data_nodes(tree: Any) -> list[str]:
    return [node.path.strip("/") for node in tree.subtree if node.data_vars]


def _read_whole(store: Any, path: str) -> bytes:
    """The whole object: its first block (already in memory when parse prefetched it) + the rest, if any."""
    from vzskill.reading import BLOCK

    size = int(store.head(path)["size"])
    first = bytes(store.get_range(path, start=0, end=min(size, BLOCK)))
    return first + (bytes(store.get_range(path, start=BLOCK, end=size)) if size > BLOCK else b"")


class _OneFile:
    """A registry that resolves the file's URL to the bytes already fetched (an obstore MemoryStore):
    gribberish's parser reads the whole file again through ``registry.resolve``; this serves that read."""

    def __init__(self, path: str, data: bytes) -> None:
        from obstore.store import MemoryStore

        self.path, self.store = path, MemoryStore()
        self.store.put(path, data)

    def resolve(self, url: str) -> tuple[Any, str]:
        return self.store, self.path


def _first_message(var: Any) -> tuple[int, int] | None:
    entry = next(iter(var.data.manifest.dict().values()), None)
    return (int(entry["offset"]), int(entry["length"])) if entry and entry.get("path") else None


def level_groups(url: str | os.PathLike[str], access: Access | None = None, drop_variables: Iterable[str] | None = None,
                 ) -> list[str]:
    """The groups of gribberish's stable tree that hold fields in ``url`` (``["hag/instant", "isobar/instant"]``):
    what ``virtualize(..., group=)`` takes, one level type / product kind each. Reads the file once."""
    from vzskill.registry import build_registry
    from vzskill.sources import normalize_url

    require_extra("grib", str(url))
    url = normalize_url(os.fspath(url))
    registry = build_registry([url], access)
    store, path = registry.resolve(url)
    return GribParser(drop_variables=drop_variables)._stable_nodes(url, _OneFile(path, _read_whole(store, path)))


#: GRIB2 grid definition templates gribberish 1.9 cannot read (section 3, octets 13-14)
_GRIDS = {40: "a Gaussian grid (template 3.40)", 41: "a rotated Gaussian grid (template 3.41)",
          50: "spherical harmonics (template 3.50)", 51: "rotated spherical harmonics (template 3.51)"}
_MISSING = 0xFFFFFFFF


def grid_problem(data: bytes) -> str | None:
    """What in ``data``'s GRIB2 grids gribberish cannot read (Gaussian, spectral, quasi-regular), else None.

    Reads only the section headers: a quasi-regular ("reduced") grid (Ni missing) would make
    gribberish allocate for 2**32 points per row.
    """
    pos = data.find(b"GRIB")
    while pos >= 0 and pos + 16 <= len(data):
        total = int.from_bytes(data[pos + 8:pos + 16], "big")
        sec = pos + 16
        while sec + 5 <= min(pos + total, len(data)) and data[sec:sec + 4] != b"7777":
            length, number = int.from_bytes(data[sec:sec + 4], "big"), data[sec + 4]
            if number == 3 and sec + 38 <= len(data):
                template = int.from_bytes(data[sec + 12:sec + 14], "big")
                if template in _GRIDS:
                    return _GRIDS[template]
                if template in (0, 1, 2, 3) and int.from_bytes(data[sec + 30:sec + 34], "big") == _MISSING:
                    return "a quasi-regular (reduced) latitude/longitude grid"
            if length <= 0:
                break
            sec += length
        pos = data.find(b"GRIB", pos + max(total, 16))
    return None


class GribParser:
    """A VirtualiZarr parser for GRIB2 files (see the module docstring).

    Parameters
    ----------
    group
        A node of gribberish's stable tree (``"hag/instant"``, ``"sfc/instant"``...); None = the
        file collapsed into its root.
    drop_variables
        Short names (gribberish's lower-case names, e.g. ``"tmp"``) to leave out.
    """

    def __init__(self, group: str | None = None, drop_variables: Iterable[str] | None = None) -> None:
        self.group = (group or "").strip("/") or None
        self.drop = list(drop_variables or ())

    def __call__(self, url: str, registry: Any) -> Any:
        require_extra("grib", url)
        from gribberish.virtualizarr import GribberishParser

        store, path = registry.resolve(url)  # parse's prefetching registry serves its first block from memory
        data = _read_whole(store, path)
        registry = plain_registry(registry)
        if data[7:8] != b"\x02":
            raise _refuse(url, "GRIB edition 1 (gribberish reads GRIB2 only)",
                          "convert it to GRIB2 (grib_set -s edition=2 in.grib out.grib2) or skip the file")
        grid = grid_problem(data)
        if grid is not None:
            raise _refuse(url, f"{grid}, which gribberish cannot read",
                          "regrid it to a regular latitude/longitude grid (e.g. cdo remapbil,r360x180 in.grib2 "
                          "out.grib2) or skip the file")
        parser = GribberishParser(drop_variables=self.drop or None, collapse_groups=self.group is None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                manifest = parser(url, _OneFile(path, data))  # the bytes read above, not a second download
            except (ValueError, RuntimeError) as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise _refuse(url, f"gribberish cannot read it ({text})",
                              "check the file with grib_ls; skip it or split the messages gribberish rejects") from exc
            tree = manifest.to_virtual_datatree(loadable_variables=[], decode_times=False)
        nodes = _data_nodes(tree)
        for node in nodes:
            self._decodes(url, data, tree[node].to_dataset() if node else tree.to_dataset())
        if self.group is not None:
            if self.group not in nodes:
                fix = f"pass one of group={nodes!r}" if nodes else "check the file with grib_ls"
                raise _refuse(url, f"no GRIB group {self.group!r}", fix)
            return _node_store(tree, self.group, registry)
        if nodes not in ([], [""]):
            stable = self._stable_nodes(url, _OneFile(path, data))
            fix = (f"virtualize them as one tree: group={stable!r}, or one group per repository: group={stable[0]!r}, "
                   "or split the file by level type (grib_copy -w typeOfFirstFixedSurface=103 in.grib2 out.grib2)")
            raise _refuse(url, f"fields in {len(nodes)} groups ({', '.join(stable)})", fix)
        return _node_store(tree, "", registry)  # the caller's registry (the parser saw only the in-memory copy)

    def _stable_nodes(self, url: str, registry: Any) -> list[str]:
        """The file's nodes in gribberish's stable tree (what ``group=`` takes)."""
        from gribberish.virtualizarr import GribberishParser

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = GribberishParser(drop_variables=self.drop or None)(url, registry).to_virtual_datatree(
                loadable_variables=[])
        return _data_nodes(tree)

    @staticmethod
    def _decodes(url: str, data: bytes, ds: Any) -> None:
        """Decode the first message of every field with gribberish (the codec the repository will use)."""
        import gribberish

        for name, var in ds.data_vars.items():
            where = _first_message(var)
            if where is None:
                continue
            message = data[where[0]:where[0] + where[1]]
            try:
                gribberish.parse_grib_array(message, 0)
            except Exception as exc:  # noqa: BLE001 - gribberish raises TypeError/ValueError for undecodable packings
                text = str(exc).strip().splitlines()[0]
                raise _refuse(url, f"its GRIB2 packing cannot be decoded by gribberish ({text})",
                              f"repack it (grib_set -r -s packingType=grid_simple in.grib2 out.grib2) or drop it: "
                              f"drop_variables=['{name}']", str(name)) from exc
