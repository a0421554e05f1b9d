"""Several groups of the same files in ONE commit, as a DataTree: ``virtualize(urls, repo, group=[...])``.

GRIB files with fields at several level types (``'hag/instant'``, ``'isobar/instant'``), HDF5/NetCDF4
files with subgroups, TIFF overviews: every group is parsed, checked and combined exactly like a
one-group write (:func:`vzskill.write.preflight`), then all of them are written at their paths
(``xr.DataTree.from_dict({group: dataset}).vz.to_icechunk``) in one commit, the root left empty.
``xr.open_datatree(session.store, engine="zarr")`` reads every group back. A first write only:
appending to a tree, or batches of it, are refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import xarray as xr

from vzskill.commit import commit_write, source_guard
from vzskill.containers import collapse
from vzskill.outcome import VirtualizeError, WriteResult
from vzskill.parse import ParsedFile
from vzskill.plan import Options, Plan
from vzskill.repo import describe, prepare_location

__all__ = ["write_groups"]


def _refuse(plan: Plan, groups: Sequence[str]) -> list[str]:
    names = [str(g).strip("/") for g in groups]
    if not names or not all(names):
        raise VirtualizeError("group=[...] needs group names (e.g. ['surface', 'upper']) -> pass them, or group=None "
                              "for the root")
    if len(set(names)) < len(names):
        raise VirtualizeError(f"group={list(groups)!r} names a group twice -> list each group once")
    if plan.append:
        raise VirtualizeError("append adds files to ONE group -> append with group='name' to a repository of that "
                              "group, or write the groups to a new repository")
    return names


def write_groups(plan: Plan, location: Any, options: Options, groups: Sequence[str]) -> WriteResult:
    """Parse, check and combine each group of ``plan``'s files, then write them all in ONE commit.

    Raises
    ------
    VirtualizeError
        No/duplicate group names, ``append``, or any group that a one-group write would refuse
        (the message starts with ``group 'name':``); nothing is committed.
    """
    from vzskill.write import count_refs, parse_all, preflight, reader_for

    names = _refuse(plan, groups)
    registry = reader_for(plan, options)
    ready, first = {}, None
    for name in names:
        each = replace(options, group=name)
        parsed: list[ParsedFile] = parse_all(plan, registry, each)
        first = first or parsed
        try:
            ready[name] = preflight(plan, parsed, location, each)
        except VirtualizeError as exc:
            raise VirtualizeError(f"group {name!r}: {exc}", report=exc.report, exit_code=exc.exit_code) from exc
    tree = xr.DataTree.from_dict({f"/{name}": r.combined for name, r in ready.items()})
    prefixes = collapse(p for r in ready.values() for p in r.prefixes)
    repo = prepare_location(location, prefixes, options.access, storage_access_=options.storage_access)
    head = next(iter(ready.values()))
    along = head.choice.value
    default = f"vzskill: virtualize {len(plan.urls)} file(s), groups {', '.join(names)}" + (
        f" along {along if isinstance(along, str) else ', '.join(along)}" if along else "")
    done = commit_write(
        repo, tree, branch=options.branch, concat_dim=None, append=False, message=options.message or default,
        dropped=sorted({a for r in ready.values() for a in r.dropped}), retries=options.retries, step=options.step,
        backoff=options.backoff, confirm=source_guard(first or [], options.access, registry), urls=plan.urls,
    )
    return WriteResult(
        snapshot_id=done.snapshot_id, branch=options.branch, n_files=len(plan.urls),
        variables=sorted(f"{name}/{v}" for name, r in ready.items() for v in r.combined.data_vars),
        nrefs=sum(count_refs(r.combined) for r in ready.values()), repo=describe(location),
        dims={f"{name}/{d}": int(n) for name, r in ready.items() for d, n in r.combined.sizes.items()},
        warnings=[f"group {name!r}: {w}" for name, r in ready.items() for w in r.warnings],
        concat_dim=along, concat_reason=head.choice.reason,
        dropped_attrs=sorted({a for r in ready.values() for a in r.dropped}), containers=prefixes,
        attempts=done.attempts, snapshots=[done.snapshot_id],
    )

