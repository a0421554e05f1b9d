"""Latitude/longitude of projected GRIB2 grids, computed from the grid definition (WMO GRIB2 rules).

eccodes 2.50's geoiterators for polar stereographic (template 3.20) and Lambert conformal (3.30)
grids ignore the scanning mode (flag table 3.4): they always walk +i, +j from the first grid point,
so a grid scanned towards -y (``jScansPositively=0``, eccodes' own ``polar_stereographic_pl_grib2``
sample) or towards -x gets its rows or columns on the wrong side of the first point. gribberish
follows the scanning mode. This module is a third, independent computation: the spherical
projection formulas (Snyder, *Map Projections: A Working Manual*, 1987) from the message's own keys,
stepping ``Dx``/``Dy`` in the directions its scanning mode gives. It agrees with eccodes to 1e-12 on
grids scanned +i, +j and with gribberish on all four scanning directions.

Only spherical earths (shape of the earth 0, 1, 6, 8), points in rows, and (Lambert) LaD at one of
the secant latitudes are computed here; for anything else :func:`grid_latlon` returns None.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import eccodes

__all__ = ["eccodes_scans_right", "grid_latlon", "grid_xy"]

#: shapeOfTheEarth (code table 3.2) -> radius in metres; 1 = radius given in the message
_SPHERES = {0: 6367470.0, 6: 6371229.0, 8: 6371200.0}


def _get(h: Any, key: str) -> Any:
    return eccodes.codes_get(h, key)


def _radius(h: Any) -> float | None:
    shape = int(_get(h, "shapeOfTheEarth"))
    if shape == 1:
        return float(_get(h, "radius"))
    return _SPHERES.get(shape)


def eccodes_scans_right(handle_bytes: bytes) -> bool:
    """True when eccodes' own latitudes/longitudes are right for this message: it scans +i, +j, rows first."""
    h = eccodes.codes_new_from_message(handle_bytes)
    try:
        return (not _get(h, "iScansNegatively") and bool(_get(h, "jScansPositively"))
                and not _get(h, "jPointsAreConsecutive"))
    finally:
        eccodes.codes_release(h)


def _axes(h: Any, x0: float, y0: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid's projected x (columns) and y (rows) from the first point, in its scanning directions."""
    nx, ny = int(_get(h, "Nx")), int(_get(h, "Ny"))
    sx = -1.0 if _get(h, "iScansNegatively") else 1.0
    sy = 1.0 if _get(h, "jScansPositively") else -1.0
    x = x0 + sx * float(_get(h, "DxInMetres")) * np.arange(nx)
    y = y0 + sy * float(_get(h, "DyInMetres")) * np.arange(ny)
    return np.meshgrid(x, y)


_Grid = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # lat, lon (2-D, degrees), x, y (1-D, metres)


def _polar(h: Any, r: float) -> _Grid:
    """Polar stereographic (template 3.20), true scale at LaD; projection centre from bit 1 of its flag."""
    south = bool(int(_get(h, "projectionCentreFlag")) & 0x80)
    sign = -1.0 if south else 1.0
    lad, lov = np.radians(float(_get(h, "LaDInDegrees"))), np.radians(float(_get(h, "orientationOfTheGridInDegrees")))
    la1 = np.radians(float(_get(h, "latitudeOfFirstGridPointInDegrees")))
    lo1 = np.radians(float(_get(h, "longitudeOfFirstGridPointInDegrees")))
    k = r * (1.0 + np.sin(sign * lad))  # rho = k tan(pi/4 - sign*lat/2)
    rho1 = k * np.tan(np.pi / 4 - sign * la1 / 2)
    x, y = _axes(h, rho1 * np.sin(lo1 - lov), -sign * rho1 * np.cos(lo1 - lov))
    rho = np.hypot(x, y)
    lat = sign * (np.pi / 2 - 2 * np.arctan(rho / k))
    lon = lov + np.arctan2(x, -sign * y)
    return np.degrees(lat), np.degrees(lon), x[0, :], y[:, 0]  # x/y from the pole, as proj's stere


def _lambert(h: Any, r: float) -> _Grid | None:
    """Lambert conformal conic (template 3.30), secant at Latin1/Latin2, Dx/Dy true at LaD (one of them)."""
    deg = {k: np.radians(float(_get(h, k + "InDegrees"))) for k in ("Latin1", "Latin2", "LaD", "LoV",
           "latitudeOfFirstGridPoint", "longitudeOfFirstGridPoint")}
    p1, p2 = deg["Latin1"], deg["Latin2"]
    if not (np.isclose(deg["LaD"], p1) or np.isclose(deg["LaD"], p2)):
        return None  # Dx true at another latitude: eccodes and gribberish both ignore LaD there (their grids agree)
    t = lambda phi: np.tan(np.pi / 4 + phi / 2)  # noqa: E731
    n = np.sin(p1) if np.isclose(p1, p2) else np.log(np.cos(p1) / np.cos(p2)) / np.log(t(p2) / t(p1))
    f = np.cos(p1) * t(p1) ** n / n
    rho = lambda phi: r * f / t(phi) ** n  # noqa: E731
    theta1 = n * (deg["longitudeOfFirstGridPoint"] - deg["LoV"])
    x0, y0 = rho(deg["latitudeOfFirstGridPoint"]) * np.sin(theta1), -rho(deg["latitudeOfFirstGridPoint"]) * np.cos(theta1)
    x, y = _axes(h, x0, y0)  # true scale at a secant latitude = LaD: map metres are ground metres there
    rr = np.sign(n) * np.hypot(x, y)
    theta = np.arctan2(np.sign(n) * x, -np.sign(n) * y)
    lat = 2 * np.arctan((r * f / rr) ** (1 / n)) - np.pi / 2
    rho0 = rho(deg["LaD"])  # proj's lcc (as gribberish sets it up) has its y origin at lat_0 = LaD
    return np.degrees(lat), np.degrees(deg["LoV"] + theta / n), x[0, :], rho0 + y[:, 0]


def _grid(handle_bytes: bytes) -> _Grid | None:
    h = eccodes.codes_new_from_message(handle_bytes)
    try:
        template = int(_get(h, "gridDefinitionTemplateNumber"))
        r = _radius(h)
        if r is None or template not in (20, 30) or _get(h, "jPointsAreConsecutive"):
            return None
        return (_polar if template == 20 else _lambert)(h, r)
    finally:
        eccodes.codes_release(h)


def grid_latlon(handle_bytes: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """``(latitude, longitude)`` in degrees, shape ``(Ny, Nx)``, longitudes in [0, 360); None when not computed here.

    Computed for polar stereographic and Lambert conformal grids on a spherical earth, points scanned
    in rows (``jPointsAreConsecutive=0``); None for any other grid.
    """
    grid = _grid(handle_bytes)
    return None if grid is None else (grid[0], np.mod(grid[1], 360.0))


def grid_xy(handle_bytes: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """The projected ``(x, y)`` axes in metres (1-D, in scanning order) as proj places them: from the pole
    (polar stereographic), from ``(LoV, LaD)`` (Lambert); None where :func:`grid_latlon` is None."""
    grid = _grid(handle_bytes)
    return None if grid is None else (grid[2], grid[3])
