"""Step 1 of a write: the :class:`Plan` (what will be written, decided before any file is read) and the
:class:`Options` every later step reads (:mod:`vzskill.write`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from vzskill.combination import flatten, is_nested, nest
from vzskill.commit import DEFAULT_RETRIES
from vzskill.outcome import VirtualizeError
from vzskill.sources import Access, Source, parse_sources

__all__ = ["Plan", "Options", "Progress", "make_plan"]

Progress = Callable[[str, int, int], None]


@dataclass
class Plan:
    """What a write will do, decided before any file is read."""

    layout: Any  # the full URLs, flat or nested like the input
    urls: list[str]  # flat, row-major
    sources: list[Source]
    concat_dim: str | list[str] | None
    combine: str
    append: bool
    grid: bool


def quiet(stage: str, done: int, total: int) -> None:
    """The progress callback when the caller gives none."""


@dataclass
class Options:
    """How a write runs: everything :func:`virtualize` takes besides the files and the repository."""

    branch: str = "main"
    message: str | None = None
    check: bool = True
    access: Access | None = None
    storage_access: Access | None = None
    registry: Any = None  # the caller's (None: the check builds its own, parse reads through the plan's)
    parallel: Any = None
    workers: int | None = None
    group: str | None = None
    loadable_variables: list[str] | None = None
    drop_variables: list[str] | None = None
    coords: Mapping[str, Sequence[Any]] | None = None
    retries: int = DEFAULT_RETRIES
    backoff: float = 0.05
    step: Progress = quiet


def make_plan(urls: Any, concat_dim: Any, combine: str, append: bool, loadable_variables: Any) -> Plan:
    """Describe the URLs once and refuse argument combinations that cannot work (nothing is read)."""
    raw = list(urls) if not isinstance(urls, (str, os.PathLike)) else [urls]
    grid = is_nested(raw)
    flat_raw = [os.fspath(u) for u in flatten(raw)]
    sources = parse_sources(flat_raw)
    layout = nest([s.url for s in sources], raw) if grid else [s.url for s in sources]
    if isinstance(concat_dim, tuple):
        concat_dim = list(concat_dim)
    if combine not in ("nested", "by_coords"):
        raise VirtualizeError(f"unknown combine {combine!r} -> 'nested' or 'by_coords'")
    if combine == "by_coords":
        if concat_dim:
            raise VirtualizeError(
                "combine='by_coords' orders files by their loaded coordinates and takes no concat_dim -> "
                "drop concat_dim, or use combine='nested'"
            )
        if loadable_variables is not None:
            raise VirtualizeError(
                "combine='by_coords' needs every dimension coordinate loaded -> leave loadable_variables=None, "
                "or use combine='nested' with concat_dim"
            )
        if grid:
            raise VirtualizeError("combine='by_coords' takes a flat list of files -> flatten the grid, or use combine='nested'")
    if append and (grid or isinstance(concat_dim, list) and len(concat_dim) > 1):
        raise VirtualizeError("append adds files along ONE dimension -> pass a flat list of files and one concat_dim")
    if isinstance(concat_dim, list) and len(concat_dim) == 1 and not grid:
        concat_dim = concat_dim[0]
    return Plan(layout, [s.url for s in sources], sources, concat_dim, combine, append, grid)
