"""Task geotiff_daily: four daily GeoTIFF tiles (tifffile, zlib tiles, GeoTIFF keys and GDAL scale/offset metadata),
one per day, each day's pixels different."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.generators._common import rel, urls, write_task
from vzskill import format_fixtures

DAYS = 4
SHAPE = (100, 120)
# the GeoTIFF keys (EPSG:4326), pixel scale, tie point and GDAL metadata format_fixtures.make_tiff(geo=True) writes
GEO_KEYS = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2054, 0, 1, 9102)
GDAL = ('<GDALMetadata><Item name="units">K</Item><Item name="scale_factor">0.01</Item>'
        '<Item name="add_offset">200</Item></GDALMetadata>')


def _write_day(path: Path, day: int) -> Path:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    tags = [(34735, "H", len(GEO_KEYS), GEO_KEYS, True), (33550, "d", 3, (0.5, 0.5, 0.0), True),
            (33922, "d", 6, (0, 0, 0, -10.0, 60.0, 0), True), (42112, "s", 0, GDAL, True)]
    tifffile.imwrite(path, format_fixtures.tiff_values(SHAPE, "uint16", page=day), tile=(32, 32), compression="zlib",
                     extratags=tags)
    return path


def generate(task_dir: Path) -> dict[str, Any]:
    """Lay out geotiff_daily: inputs/daily/sst_2024-01-01..04.tif (100 x 120 uint16, 32 x 32 tiles)."""
    folder = task_dir / "inputs" / "daily"
    dates = [f"2024-01-{day + 1:02d}" for day in range(DAYS)]
    files = [_write_day(folder / f"sst_{date}.tif", day) for day, date in enumerate(dates)]
    source = {"engine": "tifffile", "files": rel(task_dir, files), "variable": "0", "dims": ["time", "y", "x"],
              "coords": {"time": dates}}
    task = {"repo": {"kind": "local", "path": "output/daily.icechunk"}, "sources": {"main": source},
            "virtual_urls": {"main": urls(files)}}
    return write_task(task_dir, "geotiff_daily", task)
