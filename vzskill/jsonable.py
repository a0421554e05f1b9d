"""JSON-safe values: the one sanitiser behind every ``to_dict()`` and ``--json`` output.

One rule each: NaN and +/-inf -> ``None`` (strict JSON has no NaN), numpy scalars and arrays -> Python values,
``bytes`` -> ``str`` (UTF-8, undecodable bytes replaced), paths -> ``str``, ``datetime64`` / ``datetime`` -> ISO 8601
(NaT -> ``None``), mappings -> ``dict`` with ``str`` keys, tuples / lists / sets -> ``list``, any other object ->
``str(obj)``. Standard library and numpy only.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["fill_value", "jsonable"]

_PLAIN = (str, bool, int)
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "+inf": "Infinity", "infinity": "Infinity", "-inf": "-Infinity",
               "-infinity": "-Infinity"}


def _datetime64(value: np.datetime64) -> str | None:
    if np.isnat(value):
        return None
    return str(np.datetime_as_string(value))


def _array(value: np.ndarray) -> Any:
    if value.ndim == 0:
        return jsonable(value[()])
    if value.dtype.kind in "MmOV":  # datetimes, timedeltas, objects, structured: element by element
        return [jsonable(v) for v in value]
    return jsonable(value.tolist())


def _scalar(value: np.generic) -> Any:
    if isinstance(value, np.datetime64):
        return _datetime64(value)
    if isinstance(value, np.timedelta64):
        return None if np.isnat(value) else str(value)
    return jsonable(value.item())


def jsonable(obj: Any) -> Any:
    """Return ``obj`` as a value ``json.dumps(..., allow_nan=False)`` accepts.

    Parameters
    ----------
    obj
        Any value: nested mappings and sequences are converted recursively.

    Returns
    -------
    Any
        ``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list`` or ``dict`` (``str`` keys) of those.
        NaN and infinities become ``None``; datetimes become ISO 8601 strings; unknown objects ``str(obj)``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"fill": np.float32("nan"), "shape": (np.int64(2), 3), "t": np.datetime64("2024-01-01")})
    {'fill': None, 'shape': [2, 3], 't': '2024-01-01'}
    """
    if isinstance(obj, np.generic):  # first: np.float64 is a float, np.str_ a str
        return _scalar(obj)
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return _other(obj)


def _set(value: set[Any] | frozenset[Any]) -> list[Any]:
    items = [jsonable(v) for v in value]
    try:
        return sorted(items)
    except TypeError:  # mixed types: iteration order
        return items


def _other(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return _set(obj)
    if isinstance(obj, np.ndarray):
        return _array(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "replace")
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    return str(obj)  # paths, enums, codecs, ...


def fill_value(value: Any) -> Any:
    """A fill value for JSON, NaN and infinities spelled as zarr v3 metadata spells them.

    The one exception to :func:`jsonable`'s NaN -> ``None`` rule: a fill value shown as ``null`` would read as
    "no fill value".

    Parameters
    ----------
    value
        A fill value: a number (NaN / +-inf included), a numpy scalar, or its text (``"nan"``, ``"-inf"``...).

    Returns
    -------
    Any
        ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` for a non-finite value, else ``jsonable(value)``.

    Examples
    --------
    >>> fill_value(float("nan")), fill_value(np.float32("-inf")), fill_value(-9999.0), fill_value(None)
    ('NaN', '-Infinity', -9999.0, None)
    """
    plain = value.item() if isinstance(value, np.generic) else value
    if isinstance(plain, float) and not math.isfinite(plain):
        return "NaN" if math.isnan(plain) else ("Infinity" if plain > 0 else "-Infinity")
    if isinstance(plain, str) and plain.strip().lower() in _NON_FINITE:
        return _NON_FINITE[plain.strip().lower()]
    return jsonable(value)
