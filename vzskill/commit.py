"""The last step of a write: one Icechunk commit on a branch, or nothing at all.

* the branch is created from ``main`` when missing (and deleted again if the write fails);
* the tip must suit the write: empty for a first write, compatible data for an append
  (same variables, the append dimension stored, new values after the stored ones);
* appends merge the stored global attributes with the new files' (drop_conflicts); names dropped
  by any earlier write are remembered in the snapshot metadata (``vzskill:dropped_attrs``) and stay
  dropped;
* a ``ConflictError`` (another writer committed first) redoes the write from the new tip;
  any other error discards the session: the branch tip is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import icechunk
import xarray as xr

from vzskill.combination import merge_attrs
from vzskill.outcome import VirtualizeError

DROPPED_KEY = "vzskill:dropped_attrs"
Step = Callable[[str, int, int], None]


@dataclass
class Stored:
    """What a branch tip holds, for an append: the dataset (lazy), its global attrs, names dropped before."""

    dataset: xr.Dataset | None
    attrs: dict[str, Any]
    dropped: list[str]


def read_stored(repo: icechunk.Repository, branch: str) -> Stored:
    """The data on ``branch`` (``dataset`` None when the branch has no arrays or does not exist)."""
    import zarr

    if branch not in repo.list_branches():
        branch = "main"
    session = repo.readonly_session(branch=branch)
    try:
        group = zarr.open_group(session.store, mode="r", zarr_format=3)
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.GroupNotFoundError):  # no root group yet
        return Stored(None, {}, [])
    if not list(group.array_keys()):
        return Stored(None, dict(group.attrs), [])
    dataset = xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None)
    info = repo.lookup_snapshot(session.snapshot_id)
    dropped = list((info.metadata or {}).get(DROPPED_KEY) or [])
    return Stored(dataset, dict(group.attrs), dropped)


def check_append(stored: Stored, combined: xr.Dataset, concat_dim: str, branch: str) -> None:
    """Refuse appends that would give wrong data without an error.

    Raises
    ------
    VirtualizeError
        The stored data lacks ``concat_dim``, the new files lack a stored variable, or the new
        ``concat_dim`` values do not come after the stored ones.
    """
    existing = stored.dataset
    assert existing is not None
    if concat_dim not in existing.dims:
        raise VirtualizeError(
            f"append_dim {concat_dim!r} is not a dimension of the data on branch {branch!r} "
            f"(dims: {', '.join(map(str, existing.dims))}) -> use the stored dimension name"
        )
    missing = sorted(set(map(str, existing.data_vars)) - set(map(str, combined.data_vars)))
    if missing:
        raise VirtualizeError(
            f"the new files lack variable(s) {', '.join(missing)} stored on branch {branch!r} -> append files with the same variables"
        )
    if concat_dim in existing.coords and concat_dim in combined.coords:
        try:
            old, new = existing[concat_dim].values, combined[concat_dim].values
        except Exception:  # noqa: BLE001 - virtual (unloaded) coordinate: nothing to compare
            return
        if len(old) and len(new) and getattr(new, "dtype", None) is not None and new.dtype.kind in "iufM" and new.min() <= old.max():
            raise VirtualizeError(
                f"the new files' {concat_dim} starts at {new.min()}, not after the stored {old.max()} -> "
                "append only files that continue the series (or rewrite the whole series)"
            )


def _discard(session: Any) -> None:
    try:
        session.discard_changes()
    except Exception:  # noqa: BLE001
        pass


def _cleanup_branch(repo: icechunk.Repository, branch: str, created: str | None) -> None:
    """Delete a branch this call created, unless somebody else has committed to it meanwhile."""
    if created is None:
        return
    try:
        if repo.lookup_branch(branch) == created:
            repo.delete_branch(branch)
    except Exception:  # noqa: BLE001
        pass


def _ensure_branch(repo: icechunk.Repository, branch: str) -> str | None:
    if branch in repo.list_branches():
        return None
    if "main" not in repo.list_branches():
        raise VirtualizeError(f"branch {branch!r} does not exist and there is no 'main' to start it from")
    start = repo.lookup_branch("main")
    repo.create_branch(branch, start)
    return start


def _prepare_target(repo: icechunk.Repository, branch: str, combined: xr.Dataset, concat_dim: str | None,
                    append: bool, dropped: list[str]) -> tuple[xr.Dataset, list[str]]:
    """Check the tip; for an append return the dataset with merged global attributes."""
    stored = read_stored(repo, branch)
    if append and stored.dataset is None:
        raise VirtualizeError(
            f"nothing to append to: branch {branch!r} has no arrays yet -> run the first write without --append/append=True"
        )
    if not append and stored.dataset is not None:
        raise VirtualizeError(
            f"branch {branch!r} already holds data -> pass --append/append=True to add the files along "
            f"{concat_dim or 'the concat dim'}, or write to a new repository or branch"
        )
    if not append:
        return combined, dropped
    check_append(stored, combined, concat_dim, branch)  # type: ignore[arg-type]
    attrs, all_dropped = merge_attrs([stored.attrs, combined.attrs], [*stored.dropped, *dropped])
    out = combined.copy()
    out.attrs = attrs
    return out, all_dropped


def commit_write(
    repo: icechunk.Repository,
    combined: xr.Dataset,
    *,
    branch: str,
    concat_dim: str | None,
    append: bool,
    message: str,
    dropped: list[str],
    retries: int = 2,
    step: Step | None = None,
) -> tuple[str, list[str]]:
    """Write ``combined`` with ``.vz.to_icechunk`` in ONE commit on ``branch``.

    Returns
    -------
    (snapshot_id, dropped)
        The new snapshot and every global attribute name dropped so far (stored in its metadata).

    Raises
    ------
    VirtualizeError
        The tip does not suit the write, the write failed, or other writers won ``retries`` times;
        nothing is committed.
    """
    step = step or (lambda stage, done, total: None)
    created = _ensure_branch(repo, branch)
    attempt = 0
    while True:
        try:
            data, all_dropped = _prepare_target(repo, branch, combined, concat_dim, append, dropped)
        except VirtualizeError:
            _cleanup_branch(repo, branch, created)
            raise
        session = repo.writable_session(branch)
        step("write", 0, 1)
        try:
            if append:
                data.vz.to_icechunk(session.store, append_dim=concat_dim)
            else:
                data.vz.to_icechunk(session.store)
            metadata = {DROPPED_KEY: all_dropped} if all_dropped else None
            snapshot_id = session.commit(message, metadata=metadata)
            step("write", 1, 1)
            return snapshot_id, all_dropped
        except icechunk.ConflictError as exc:
            _discard(session)
            attempt += 1
            if attempt > retries:
                _cleanup_branch(repo, branch, created)
                raise VirtualizeError(
                    f"another writer committed to branch {branch!r} first ({attempt} attempts), nothing committed -> "
                    "rerun, or serialize the writers (each rerun re-checks against the new tip)"
                ) from exc
        except Exception as exc:  # noqa: BLE001 - anything: nothing is committed
            _discard(session)
            _cleanup_branch(repo, branch, created)
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise VirtualizeError(f"write failed, nothing committed: {text}") from exc
