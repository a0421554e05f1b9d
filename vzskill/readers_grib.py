"""Direct reads of GRIB2 sources with eccodes, for ``verify`` (registered for kind ``"grib"`` on import).

The file is scanned message by message (``GRIB`` ... ``totalLength``); eccodes decodes each
message's values (missing points from the bitmap -> NaN, as gribberish's codec returns them) and
its identity: the field (discipline, category, number, level type, statistical process), the
validity time and the level. A repository variable binds to the field of the first message it
references; ``locate(offset)`` is the message's position in that field's grid ``(time[, level],
y, x)`` (times and levels sorted, a level axis only when the field has more than one level, as
gribberish builds it). A reference to a message of another field starts no block of the variable.
Level coordinates (``isobar`` in Pa, ``hag`` in m) are the first fixed surfaces eccodes decodes, in
SI units; only their names come from gribberish's description of each message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import eccodes  # a missing package makes the module unimportable: verify reports NoReader naming it

from vzskill.readers_grib_grid import eccodes_scans_right, grid_latlon, grid_xy
from vzskill.source_readers import SourceFile, SourceVariable, register_reader

__all__ = ["GribSource", "scan_messages"]

#: names the GRIB file has no values for (none yet: ``spatial_ref`` is read as :class:`_GridMapping`)
_NOT_IN_SOURCE: set[str] = set()
_FIELD_KEYS = ("discipline", "parameterCategory", "parameterNumber", "typeOfFirstFixedSurface")


@dataclass
class Message:
    """One GRIB2 message: where it is, which field it belongs to, when and at which level."""

    offset: int
    length: int
    field: tuple[Any, ...]
    time: tuple[int, int]
    level: float
    handle_bytes: bytes
    regular: bool = True

    def values(self, key: str = "values") -> np.ndarray:
        """The decoded field (``key="latitudes"`` / ``"longitudes"``: the grid's coordinates)."""

        h = eccodes.codes_new_from_message(self.handle_bytes)
        try:
            ny, nx = eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni")
            values = np.asarray(eccodes.codes_get_array(h, key), dtype="float64")
            if key == "values" and eccodes.codes_get(h, "bitmapPresent"):
                values[values == eccodes.codes_get(h, "missingValue")] = np.nan
            return values.reshape(int(ny), int(nx))
        finally:
            eccodes.codes_release(h)


def _statistical(h: Any) -> Any:

    try:
        return eccodes.codes_get(h, "typeOfStatisticalProcessing")
    except eccodes.KeyValueNotFoundError:
        return None


def _surface_value(h: Any) -> float:
    """The first fixed surface in SI units (Pa for isobaric levels, m above ground), as gribberish gives it."""

    try:
        value = eccodes.codes_get(h, "scaledValueOfFirstFixedSurface")
        scale = eccodes.codes_get(h, "scaleFactorOfFirstFixedSurface")
        return float(value) * 10.0 ** -int(scale)
    except (eccodes.KeyValueNotFoundError, TypeError, ValueError):
        return float(eccodes.codes_get(h, "level"))


def _level_dims(data: bytes, messages: list[Message]) -> dict[str, list[float]]:
    """Level coordinate name (gribberish's: ``isobar``, ``hag``...) -> the sorted values of its messages."""
    import gribberish

    out: dict[str, set[float]] = {}
    for m in messages:
        try:
            dims = list(gribberish.parse_grib_message_metadata(data, m.offset).non_spatial_dims)
        except Exception:  # noqa: BLE001 - a message gribberish cannot describe has no level name
            continue
        for name in dims[1:]:
            out.setdefault(str(name), set()).add(m.level)
    return {name: sorted(values) for name, values in out.items()}


def scan_messages(data: bytes) -> list[Message]:
    """Every GRIB2 message of ``data`` with its identity (eccodes keys)."""

    out, pos = [], data.find(b"GRIB")
    while pos >= 0 and pos + 16 <= len(data):
        length = int.from_bytes(data[pos + 8:pos + 16], "big")
        chunk = data[pos:pos + length]
        h = eccodes.codes_new_from_message(chunk)
        try:
            field = tuple(eccodes.codes_get(h, k) for k in _FIELD_KEYS) + (_statistical(h),)
            time = (int(eccodes.codes_get(h, "validityDate")), int(eccodes.codes_get(h, "validityTime")))
            level = _surface_value(h)
            regular = str(eccodes.codes_get(h, "gridType")).startswith("regular_")
        finally:
            eccodes.codes_release(h)
        out.append(Message(pos, length, field, time, level, chunk, regular))
        pos = data.find(b"GRIB", pos + length)
    return out


class _GribVariable(SourceVariable):
    def __init__(self, name: str, source: GribSource):
        self.name, self.source = name, source
        self.dtype = np.dtype("float64")
        self.attrs = {}
        self.members: list[Message] | None = None
        self.times: list[tuple[int, int]] = []
        self.levels: list[float] = []

    def _bind(self, first: Message) -> None:
        self.members = [m for m in self.source.messages if m.field == first.field]
        self.times = sorted({m.time for m in self.members})
        self.levels = sorted({m.level for m in self.members})

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        if self.members is None:
            return ()
        ny, nx = self.members[0].values().shape
        return (len(self.times),) + ((len(self.levels),) if len(self.levels) > 1 else ()) + (ny, nx)

    def _index(self, m: Message) -> tuple[int, ...]:
        level = (self.levels.index(m.level),) if len(self.levels) > 1 else ()
        return (self.times.index(m.time),) + level + (0, 0)

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        m = self.source.by_offset.get(int(offset))
        if m is None or m.length != int(length):
            return None
        if self.members is None:
            self._bind(m)
        return self._index(m) if m.field == self.members[0].field else None  # type: ignore[index]

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        out = np.full(self.shape, np.nan)
        for m in self.members or []:
            idx = self._index(m)[:-2]
            if all(r.start <= i < r.stop for r, i in zip(region, idx, strict=False)):
                out[idx] = m.values()
        return np.array(out[region] if region else out)


class _GribCoordinate(SourceVariable):
    """A grid's ``latitude`` / ``longitude``. Regular grid: 1-D, inlined in the repository, compared with
    eccodes' grid. Projected grid: 2-D, COMPUTED from the grid definition (referenced as a whole message,
    decoded by gribberish's codec); compared with :func:`vzskill.readers_grib_grid.grid_latlon` (polar
    stereographic / Lambert on a sphere, every scanning mode), else with eccodes' grid where eccodes scans
    right (+i, +j: eccodes 2.50 ignores the scanning mode of projected grids), else - the only copy check -
    with gribberish's own computation."""

    def __init__(self, name: str, source: GribSource, key: str):
        self.name, self.source, self.key = name, source, key
        self.dtype, self.attrs = np.dtype("float64"), {}
        self.message: Message | None = None
        first = source.messages[0]
        self.regular = first.regular
        if self.regular:
            grid = first.values(key)
            self._values = grid[:, 0] if key == "latitudes" else grid[0, :]
        else:
            self._values = self._derived(first)
            self.rtol = 1e-9  # two computations of one projection: float64 round-off, ~1e-13 degrees near 0
        self.shape = self._values.shape

    def _derived(self, m: Message) -> np.ndarray:
        own = grid_latlon(m.handle_bytes)
        if own is not None or eccodes_scans_right(m.handle_bytes):
            values = (own[0] if self.key == "latitudes" else own[1]) if own is not None else m.values(self.key)
            return values if self.key == "latitudes" else np.mod(values + 180.0, 360.0) - 180.0  # gribberish's [-180, 180)
        import gribberish

        lat, lon = gribberish.parse_grib_message_metadata(self.source.data, m.offset).latlng(False, False)
        ny, nx = m.values().shape
        return np.asarray(lat if self.key == "latitudes" else lon, dtype="float64").reshape(ny, nx)

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        self.message = self.source.by_offset.get(int(offset))
        return (0, 0) if self.message is not None and self.message.length == int(length) else None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        values = self._derived(self.message) if self.message is not None and not self.regular else self._values
        return np.array(values[region] if region else values)


class _GribTime(SourceVariable):
    """The validity times of the file's messages, as gribberish encodes them (int64 seconds since 1970)."""

    def __init__(self, name: str, source: GribSource):
        import datetime as dt

        self.name, self.dtype = name, np.dtype("int64")
        self.attrs = {"units": "seconds since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian"}
        epoch = dt.datetime(1970, 1, 1)
        times = sorted({m.time for m in source.messages})
        stamps = [dt.datetime.strptime(f"{d:08d}{t:04d}", "%Y%m%d%H%M") for d, t in times]
        self._values = np.array([int((s - epoch).total_seconds()) for s in stamps], dtype="int64")
        self.shape = self._values.shape

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return None  # inlined in the repository, never referenced

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.array(self._values[region] if region else self._values)


class _GribLevel(SourceVariable):
    """A level coordinate (``isobar`` in Pa, ``hag`` in m...): the sorted first-fixed-surface values."""

    def __init__(self, name: str, values: list[float]):
        self.name, self.dtype, self.attrs = name, np.dtype("float64"), {}
        self._values = np.asarray(values, dtype="float64")
        self.shape = self._values.shape

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.array(self._values[region] if region else self._values)


class _ProjectedAxis(SourceVariable):
    """A projected grid's ``x`` / ``y`` (metres): DERIVED from the grid definition (by gribberish with proj
    in the repository), not stored in the file; compared with :func:`vzskill.readers_grib_grid.grid_xy`
    (polar stereographic / Lambert on a sphere), else - a copy check - with gribberish's projection."""

    def __init__(self, name: str, data: bytes, message: Message):
        own = grid_xy(message.handle_bytes)
        if own is not None:
            x, y = own
            self.rtol = 1e-9  # two computations of one projection (float64 round-off)
        else:
            import gribberish

            x, y = gribberish.parse_grib_message_metadata(data, message.offset).xy()
        self.name, self.dtype, self.attrs = name, np.dtype("float64"), {}
        self._values = np.asarray(x if name == "x" else y, dtype="float64")
        self.shape = self._values.shape

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.array(self._values[region] if region else self._values)


class _GridMapping(SourceVariable):
    """gribberish's CF grid-mapping variable ``spatial_ref``: a scalar whose value CF leaves free (its
    attributes carry the CRS). The GRIB grid it describes exists in every message; its value is 0."""

    def __init__(self, name: str):
        self.name, self.dtype, self.attrs, self.shape = name, np.dtype("int64"), {}, ()

    def locate(self, offset: int, length: int) -> tuple[int, ...] | None:
        return None

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        return np.array(0, dtype="int64")


class GribSource(SourceFile):
    """One GRIB2 file; every repository variable binds to the field of the messages it references."""

    kind = "grib"

    def __init__(self, url: str, registry: Any):
        from vzskill.sources import local_path

        if url.startswith("file://"):
            with open(local_path(url), "rb") as fh:
                data = fh.read()
        else:
            store, path = registry.resolve(url)
            data = bytes(store.get(path).bytes())
        self.data = data
        self.messages = scan_messages(data)
        self.by_offset = {m.offset: m for m in self.messages}
        self.levels = _level_dims(data, self.messages)
        self.vars: dict[str, SourceVariable] = {}

    def variable(self, path: str) -> SourceVariable | None:
        if path not in self.vars:
            name = path.rsplit("/", 1)[-1]
            coordinate = {"latitude": "latitudes", "longitude": "longitudes"}.get(name)
            if not self.messages or name in _NOT_IN_SOURCE:
                return None
            if coordinate:
                self.vars[path] = _GribCoordinate(path, self, coordinate)
            elif name in self.levels:
                self.vars[path] = _GribLevel(path, self.levels[name])
            elif name in ("x", "y") and not self.messages[0].regular:
                self.vars[path] = _ProjectedAxis(name, self.data, self.messages[0])
            else:
                special = {"time": _GribTime, "spatial_ref": lambda p, _s: _GridMapping(p)}.get(name)
                self.vars[path] = special(path, self) if special else _GribVariable(path, self)
        return self.vars[path]


register_reader("grib", GribSource)
