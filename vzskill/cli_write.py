"""``vzskill virtualize``: arguments -> :func:`vzskill.write.virtualize`, and its output.

The files' layout comes from the arguments:

* ``URL ...`` - a flat list in concat order; ``--concat-dim`` optional (inferred; one file: none);
* ``--grid FILE.json`` - ``{"concat_dim": ["member", "time"], "files": [[...], [...]],
  "coords": {"member": ["a", "b"]}}`` (``coords`` optional; relative paths are relative to the
  JSON file's folder);
* ``--new-dim member=REGEX`` - the URLs grouped by a regex capture on the file name into a new
  outer dimension (values = the captures, in first-seen order); ``--concat-dim`` names the inner one
  when a group holds several files.

Only the standard library is imported at module level (the CLI's ``--help`` stays cheap).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from vzskill.outcome import WriteResult

__all__ = ["Layout", "layout_from_args", "load_grid", "group_by_regex", "format_result", "add_parallel_arguments",
           "parallel_options", "PARALLEL_MODES"]


class LayoutArgError(Exception):
    """Arguments that do not describe a layout of files (exit 2)."""


class Layout:
    """urls (flat or nested), concat_dim (None, a name, or a list) and coords for new dims."""

    def __init__(self, urls: Any, concat_dim: Any, coords: dict[str, list[Any]] | None = None) -> None:
        self.urls = urls
        self.concat_dim = concat_dim
        self.coords = coords or None


def _resolve(item: Any, base: Path) -> Any:
    if isinstance(item, list):
        return [_resolve(i, base) for i in item]
    if not isinstance(item, str):
        raise LayoutArgError(f"grid file: {item!r} is not a path or URL -> list file names as strings")
    if "://" in item or os.path.isabs(item):
        return item
    return str((base / item).resolve())


def load_grid(path: str | os.PathLike[str]) -> Layout:
    """Read a ``--grid`` JSON file.

    Raises
    ------
    LayoutArgError
        Unreadable JSON, or missing/ill-typed ``concat_dim`` / ``files`` / ``coords`` (one line).
    """
    grid_path = Path(path).expanduser()
    try:
        spec = json.loads(grid_path.read_text())
    except FileNotFoundError:
        raise LayoutArgError(f"grid file {grid_path} does not exist -> check --grid") from None
    except (OSError, ValueError) as exc:
        raise LayoutArgError(f"grid file {grid_path} is not valid JSON ({exc}) -> see `vzskill virtualize --help`") from None
    if not isinstance(spec, dict) or "files" not in spec:
        raise LayoutArgError(
            f'grid file {grid_path}: expected {{"concat_dim": ["member", "time"], "files": [[...], [...]]}}'
        )
    files, dims, coords = spec["files"], spec.get("concat_dim"), spec.get("coords")
    if not isinstance(files, list) or not files:
        raise LayoutArgError(f"grid file {grid_path}: 'files' must be a non-empty (nested) list of paths/URLs")
    if dims is not None and not (isinstance(dims, str) or (isinstance(dims, list) and all(isinstance(d, str) for d in dims))):
        raise LayoutArgError(f"grid file {grid_path}: 'concat_dim' must be a name or a list of names, outermost first")
    if coords is not None and not (isinstance(coords, dict) and all(isinstance(v, list) for v in coords.values())):
        raise LayoutArgError(f"grid file {grid_path}: 'coords' must map a dimension to a list of values")
    return Layout(_resolve(files, grid_path.parent.resolve()), dims, coords)


def group_by_regex(urls: list[str], spec: str) -> tuple[str, list[list[str]], list[str]]:
    """``--new-dim NAME=REGEX``: (NAME, files grouped by the capture, capture values in first-seen order).

    Raises
    ------
    LayoutArgError
        Bad spec, a regex that does not compile, or a file name it does not match.
    """
    name, sep, pattern = spec.partition("=")
    if not sep or not name or not pattern:
        raise LayoutArgError(f"--new-dim {spec!r}: expected NAME=REGEX, e.g. --new-dim member='ens(\\d+)'")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise LayoutArgError(f"--new-dim {spec!r}: invalid regular expression ({exc})") from None
    groups: dict[str, list[str]] = {}
    for url in urls:
        m = regex.search(url.rstrip("/").rsplit("/", 1)[-1]) or regex.search(url)
        if m is None:
            raise LayoutArgError(f"--new-dim {name}: {url} does not match {pattern!r} -> fix the regex or the file list")
        groups.setdefault(m.group(1) if regex.groups else m.group(0), []).append(url)
    return name, list(groups.values()), list(groups)


def layout_from_args(args: argparse.Namespace) -> Layout:
    """The layout the arguments describe (see the module docstring)."""
    given = list(args.concat_dim or [])
    if args.grid:
        if args.urls:
            raise LayoutArgError("--grid lists the files itself -> drop the URL arguments, or drop --grid")
        if args.new_dim:
            raise LayoutArgError("--grid and --new-dim both describe the grid -> use one of them")
        layout = load_grid(args.grid)
        if given:
            layout.concat_dim = given if len(given) > 1 or isinstance(layout.concat_dim, list) else given[0]
        return layout
    if not args.urls:
        raise LayoutArgError("no files -> pass URL arguments or --grid FILE.json")
    if args.new_dim:
        name, groups, values = group_by_regex(list(args.urls), args.new_dim)
        if all(len(g) == 1 for g in groups):
            return Layout([g[0] for g in groups], name, {name: values})
        if len({len(g) for g in groups}) > 1:
            sizes = ", ".join(f"{v}: {len(g)}" for v, g in zip(values, groups, strict=True))
            raise LayoutArgError(f"--new-dim {name}: the groups hold different numbers of files ({sizes}) -> every {name} needs the same files")
        if len(given) != 1:
            raise LayoutArgError(
                f"--new-dim {name} with several files per {name} needs the files' own dimension too -> add --concat-dim DIM (e.g. time)"
            )
        return Layout(groups, [name, given[0]], {name: values})
    return Layout(list(args.urls), None if not given else given[0] if len(given) == 1 else given)


def _short(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _batch_lines(result: WriteResult) -> list[str]:
    lines = []
    if result.batch_refs is not None and result.snapshots:
        shots = result.snapshots
        shown = shots[0] if len(shots) == 1 else f"{shots[0]} ... {shots[-1]}" if len(shots) > 2 else ", ".join(shots)
        lines.append(f"  commits: {len(shots)} (batches of at most {result.batch_refs} references; snapshots {shown})")
    if result.resumed_files:
        lines.append(f"  resumed: {result.resumed_files} file(s) were committed by an earlier run of this command "
                     "(not parsed again)")
    return lines


def format_result(result: WriteResult, repo: str) -> list[str]:
    """Human output of a write: the summary line, then how it was combined and what was dropped."""
    if result.batches == 0:
        return [f"nothing to write to {repo} branch {result.branch}: all {result.resumed_files} file(s) were committed "
                f"by an earlier run of this command (snapshot {result.snapshot_id})"]
    verb = "appended" if result.appended else "wrote"
    lines = [
        f"{verb} {result.n_files} file(s) to {repo} branch {result.branch}: snapshot {result.snapshot_id}, "
        f"variables {', '.join(result.variables)}, dims {result.dims}, {result.nrefs} virtual chunk references"
    ]
    along = result.concat_dim
    shown = "none" if not along else along if isinstance(along, str) else " x ".join(along)
    lines.append(f"  concat dim: {shown} ({result.concat_reason})" if result.concat_reason else f"  concat dim: {shown}")
    if result.dropped_attrs:
        lines.append(
            f"  global attributes dropped (values differ between files/stored data, drop_conflicts): {', '.join(result.dropped_attrs)}"
        )
    lines.append(f"  virtual chunk containers: {', '.join(result.containers)}")
    if result.skipped:
        lines.append(f"  skipped (already in the repository): {', '.join(_short(u) for u in result.skipped)}")
    if result.inserted:
        lines.append(f"  inserted before the stored tail: {', '.join(_short(u) for u in result.inserted)}")
    if result.attempts > 1:
        lines.append(f"  attempts: {result.attempts} (other writers committed first; redone on their tip)")
    lines.extend(_batch_lines(result))
    lines.extend(f"warning: {w}" for w in result.warnings)
    return lines


# --------------------------------------------------------------------------- --parallel / --workers

PARALLEL_MODES = ("auto", "serial", "threads", "processes", "dask")


def add_parallel_arguments(parser: argparse.ArgumentParser, *, write: bool = False) -> None:
    """``--parallel {auto,serial,threads,processes,dask}`` and ``--workers N`` (virtualize, check); with
    ``write=True`` (virtualize) also ``--dask-scheduler ADDRESS`` and ``--batch-refs N``."""
    from vzskill.parallel import MIN_PROCESS_FILES  # standard library only

    parser.add_argument(
        "--parallel", choices=PARALLEL_MODES, default="auto",
        help="how files are parsed: auto (default: threads for remote files, forkserver processes for "
             f"{MIN_PROCESS_FILES}+ local files, else serial), serial, threads, processes, dask "
             "(DASK_SCHEDULER_ADDRESS or the current dask.distributed client)",
    )
    parser.add_argument("--workers", type=whole_number(1), default=None, metavar="N",
                        help="threads/processes for --parallel (default: threads min(files, 16), processes one per core)")
    if not write:
        return
    parser.add_argument(
        "--dask-scheduler", metavar="ADDRESS", default=None,
        help="parse on the workers of a running dask.distributed scheduler (e.g. tcp://host:8786; every worker must "
             "reach the files under the same paths/URLs); --parallel dask without it uses DASK_SCHEDULER_ADDRESS",
    )
    parser.add_argument(
        "--batch-refs", type=whole_number(1), default=None, metavar="N",
        help="commit in batches of at most N chunk references, parsing batch by batch (bounded memory); after a "
             "failure, the same command again resumes after the last committed batch (default: one commit; "
             "100000 when parsing on a dask cluster)",
    )


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type=``: a whole number >= ``minimum``, else one line ('need 0 or more' / 'need at least N')."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            need = "need 0 or more" if minimum == 0 else f"need at least {minimum}"
            raise argparse.ArgumentTypeError(f"{value}: {need}")
        return value

    return parse


def parallel_options(args: argparse.Namespace) -> dict[str, Any]:
    """``{"parallel": ..., "workers": ...}`` for virtualize()/check() from the parsed arguments (+ ``dask_scheduler``
    and ``batch_refs`` when the parser has them: virtualize)."""
    out: dict[str, Any] = {"parallel": getattr(args, "parallel", "auto") or "auto", "workers": getattr(args, "workers", None)}
    if hasattr(args, "batch_refs"):
        out["dask_scheduler"] = getattr(args, "dask_scheduler", None)
        out["batch_refs"] = args.batch_refs
    return out
