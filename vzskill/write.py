"""parse -> check -> combine -> write, in one Icechunk commit.

:func:`virtualize` is the whole pipeline behind ``vzskill virtualize``:

1. the source URLs give the obstore registry (:mod:`vzskill.registry`) and the repository's
   virtual chunk containers + authorization (:mod:`vzskill.containers`), from the same prefixes;
2. every file is parsed once (:func:`vzskill.parse.parse_files`), the parsed datasets are checked
   (:func:`vzskill.check.check`): any error aborts before anything is written;
3. the virtual datasets are combined: ``nested`` along ``concat_dim`` with
   ``coords="minimal", compat="override"`` (1-D coordinates stay 1-D), or ``by_coords``;
4. one writable session writes ``vds.vz.to_icechunk(session.store)`` (``append_dim=concat_dim`` when
   appending) and commits once. On any error the session is discarded: the branch tip is unchanged.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Literal, Sequence
from urllib.parse import urlparse

import icechunk
import xarray as xr

from vzskill.containers import add_containers, create_repo, declared_prefixes, source_prefixes
from vzskill.registry import build_registry
from vzskill.sources import Access, SourceError, parse_sources

Progress = Callable[[str, int, int], None]


class VirtualizeError(RuntimeError):
    """The pipeline stopped before committing; ``report`` is the CheckReport when check found errors."""

    def __init__(self, message: str, report: Any = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.report = report
        self.exit_code = exit_code


@dataclass
class WriteResult:
    snapshot_id: str
    branch: str
    n_files: int
    variables: list[str]
    nrefs: int
    repo: str | None = None
    appended: bool = False
    dims: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# repository location -> icechunk Storage


def storage_for(location: str | os.PathLike[str], access: Access | None = None) -> icechunk.Storage:
    """An icechunk ``Storage`` for a local directory, ``file://`` URL, ``s3://bucket/prefix``,
    ``gs://bucket/prefix`` or ``az://container/prefix``.

    ``access`` gives region / endpoint / static keys for S3; credentials otherwise come from the
    environment. ``access.anonymous`` is honoured too (read-only public repositories).
    """
    access = access or Access()
    text = os.fspath(location)
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        if scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise SourceError(f"{text}: file URLs must be absolute (file:///abs/path), got host '{parsed.netloc}'")
        path = parsed.path if scheme == "file" else text
        return icechunk.local_filesystem_storage(os.path.abspath(os.path.expanduser(path)))
    bucket, prefix = parsed.netloc, parsed.path.strip("/") or None
    if not bucket:
        raise SourceError(f"{text}: missing bucket after '{scheme}://' -> e.g. s3://bucket/path/to/repo")
    if scheme in ("s3", "s3a"):
        kwargs: dict[str, Any] = {
            "bucket": bucket,
            "prefix": prefix,
            "region": access.s3_region,
            "endpoint_url": access.endpoint,
            "allow_http": access.uses_http,
            "force_path_style": access.force_path_style,
        }
        if access.anonymous:
            kwargs["anonymous"] = True
        elif access.has_static_keys:
            kwargs.update(
                access_key_id=access.access_key_id,
                secret_access_key=access.secret_access_key,
                session_token=access.session_token,
            )
        else:
            kwargs["from_env"] = True
        return icechunk.s3_storage(**kwargs)
    if scheme in ("gs", "gcs"):
        return icechunk.gcs_storage(bucket=bucket, prefix=prefix, anonymous=True if access.anonymous else None,
                                    from_env=None if access.anonymous else True)
    if scheme in ("az", "azure", "abfs", "abfss"):
        container, _, host = bucket.partition("@")
        account = access.azure_account or (host.split(".", 1)[0] if host else None)
        if not account:
            raise SourceError(f"{text}: Azure repositories need an account -> az://container@account/prefix or Access(azure_account=...)")
        return icechunk.azure_storage(account=account, container=container, prefix=prefix or "",
                                      anonymous=True if access.anonymous else None,
                                      from_env=None if access.anonymous else True)
    raise SourceError(f"{text}: unsupported repository location -> a local directory, s3://, gs:// or az:// URL")


def _describe(location: Any) -> str | None:
    if isinstance(location, (str, os.PathLike)):
        return os.fspath(location)
    return None


def prepare_repo(
    repo_or_storage: icechunk.Repository | icechunk.Storage | str | os.PathLike[str],
    urls: Sequence[str],
    access: Access | None = None,
    storage_access: Access | None = None,
) -> icechunk.Repository:
    """The repository, created if needed, declaring + authorizing a container for every source root."""
    if isinstance(repo_or_storage, icechunk.Repository):
        storage = repo_or_storage.storage
        declared = declared_prefixes(storage)
        if all(p in declared for p in source_prefixes(urls)):
            authorized = set(repo_or_storage.authorized_virtual_container_prefixes)
            if all(p in authorized for p in source_prefixes(urls)):
                return repo_or_storage
        return add_containers(storage, urls, access)
    storage = (
        repo_or_storage
        if isinstance(repo_or_storage, icechunk.Storage)
        else storage_for(repo_or_storage, storage_access or _storage_access(access))
    )
    return create_repo(storage, urls, access)


def _storage_access(access: Access | None) -> Access:
    """Repository storage uses the sources' endpoint/region but never their anonymity."""
    access = access or Access()
    return access.with_(anonymous=False) if access.anonymous else access


# --------------------------------------------------------------------------------------------
# parse + check


def _parse(urls: list[str], registry: Any, **kwargs: Any) -> list[Any]:
    from vzskill.parse import parse_files

    return parse_files(urls, registry, **kwargs)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def _combine(datasets: list[xr.Dataset], concat_dim: str | None, combine: str) -> xr.Dataset:
    if combine == "nested":
        if not concat_dim:
            if len(datasets) == 1:
                return datasets[0]
            raise VirtualizeError("combine='nested' needs concat_dim (the files' existing dimension, e.g. 'time')")
        missing = [i for i, ds in enumerate(datasets) if concat_dim not in ds.dims]
        if missing:
            dims = list(map(str, datasets[missing[0]].dims))
            raise VirtualizeError(
                f"concat_dim {concat_dim!r} is not a dimension of the files (dims: {', '.join(dims)}) -> "
                "pass the files' own dimension name (case matters: 'time' is not 'Time'); a new name would "
                "silently add a dimension"
            )
        if len(datasets) == 1:
            return datasets[0]
        return xr.combine_nested(
            datasets,
            concat_dim=[concat_dim],
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="exact",
            combine_attrs="override",
        )
    if combine == "by_coords":
        if concat_dim:
            raise VirtualizeError(
                "combine='by_coords' orders files by their loaded coordinates and takes no concat_dim -> "
                "drop concat_dim, or use combine='nested'"
            )
        return xr.combine_by_coords(
            datasets,
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="exact",
            combine_attrs="override",
        )
    raise VirtualizeError(f"unknown combine {combine!r} -> 'nested' or 'by_coords'")


def count_refs(ds: xr.Dataset) -> int:
    """Virtual chunk references (non-empty, non-inlined manifest entries) in a virtual dataset."""
    from virtualizarr.manifests import ManifestArray

    total = 0
    for var in ds.variables.values():
        data = var.variable._data if hasattr(var, "variable") else var._data
        if isinstance(data, ManifestArray):
            total += sum(1 for _ in data.manifest.iter_nonempty_paths())
    return total


def _has_data(repo: icechunk.Repository, branch: str) -> bool:
    import zarr

    session = repo.readonly_session(branch=branch)
    try:
        group = zarr.open_group(session.store, mode="r", zarr_format=3)
    except Exception:  # noqa: BLE001 - no root group yet
        return False
    return bool(list(group.array_keys()))


def virtualize(
    urls: Iterable[str | os.PathLike[str]],
    repo_or_storage: icechunk.Repository | icechunk.Storage | str | os.PathLike[str],
    *,
    concat_dim: str | None = "time",
    combine: Literal["nested", "by_coords"] = "nested",
    access: Access | None = None,
    append: bool = False,
    branch: str = "main",
    message: str | None = None,
    loadable_variables: list[str] | None = None,
    drop_variables: list[str] | None = None,
    check: bool = True,
    registry: Any = None,
    storage_access: Access | None = None,
    parallel: Any = None,
    progress: Progress | None = None,
    conflict_retries: int = 2,
) -> WriteResult:
    """Virtualize ``urls`` into ``repo_or_storage`` (a Repository, an icechunk Storage, a local
    directory or an ``s3://``/``gs://``/``az://`` URL) as ONE commit on ``branch``.

    ``append=True`` appends along ``concat_dim`` to the data already on ``branch``; otherwise the
    branch must be empty (a new repository). When another writer commits to the branch in between
    (``ConflictError``), the write is redone from the new tip up to ``conflict_retries`` times,
    re-checking the target each time. Raises :class:`VirtualizeError` (``.report`` holds the
    CheckReport when check found errors) or :class:`vzskill.sources.SourceError`; in every failure
    case nothing is committed.
    """
    step = progress or (lambda stage, done, total: None)
    url_list = [os.fspath(u) for u in urls]
    sources = parse_sources(url_list)
    full_urls = [s.url for s in sources]
    if combine == "by_coords" and concat_dim == "time" and not append:
        concat_dim = None  # the default concat_dim does not apply to by_coords
    if combine == "by_coords" and loadable_variables is not None:
        raise VirtualizeError(
            "combine='by_coords' needs every dimension coordinate loaded -> leave loadable_variables=None, "
            "or use combine='nested' with concat_dim"
        )
    if append and not concat_dim:
        raise VirtualizeError("append=True needs concat_dim (the dimension to append along, e.g. 'time')")
    if isinstance(loadable_variables, tuple):
        loadable_variables = list(loadable_variables)

    registry = registry if registry is not None else build_registry(full_urls, access)

    # 1. parse every file once
    step("parse", 0, len(full_urls))
    options = {"loadable_variables": loadable_variables, "drop_variables": drop_variables}
    if parallel in (None, False) and progress is not None:
        parsed = []  # serial anyway: one file at a time, so the progress bar moves per file
        for i, url in enumerate(full_urls):
            parsed.extend(_parse([url], registry, **options))
            step("parse", i + 1, len(full_urls))
    else:
        parsed = _parse(full_urls, registry, parallel=parallel, **options)
    step("parse", len(full_urls), len(full_urls))
    failed = [p for p in parsed if getattr(p, "error", None)]

    # 2. check (also reports the parse failures)
    report = None
    warnings: list[str] = []
    if check:
        step("check", 0, 1)
        try:
            from vzskill.check import check as run_check
        except ModuleNotFoundError as exc:  # pragma: no cover - check.py not installed
            if exc.name != "vzskill.check":
                raise
            run_check = None
        if run_check is not None:
            check_dim: Any = concat_dim if combine == "nested" else None  # check infers by_coords dims
            report = run_check(
                parsed, concat_dim=check_dim, access=access, registry=registry,
                combine=combine, coords="minimal", data_vars="minimal",
            )
        step("check", 1, 1)
        if report is not None and not report.ok:
            fatal = getattr(report, "fatal", None)
            if fatal:
                raise VirtualizeError(f"check could not run, nothing written: {_first_line(fatal)}", report=report, exit_code=2)
            errors = [f for f in report.findings if f.severity == "error"]
            more = f" (+{len(errors) - 1} more: see `vzskill check`)" if len(errors) > 1 else ""
            raise VirtualizeError(
                f"check found {len(errors)} error(s), nothing written: {_first_line(errors[0].message)}{more}",
                report=report,
                exit_code=1,
            )
        if report is not None:
            warnings = [f.message for f in report.findings if f.severity == "warning"]
    if failed:
        raise VirtualizeError(_first_line(str(failed[0].error)) + (f" (+{len(failed) - 1} more files failed)" if len(failed) > 1 else ""))

    datasets = [p.dataset for p in parsed]

    # 3. combine
    step("combine", 0, 1)
    try:
        combined = _combine(datasets, concat_dim, combine)
    except VirtualizeError:
        raise
    except Exception as exc:  # noqa: BLE001 - xarray/virtualizarr combine errors
        raise VirtualizeError(
            f"cannot combine the files along {concat_dim!r}: {_first_line(str(exc))} -> run `vzskill check` on them"
        ) from exc
    step("combine", 1, 1)

    # 4. write, one commit
    repo = prepare_repo(repo_or_storage, full_urls, access, storage_access)
    created_branch: str | None = None  # the snapshot a branch we created starts at
    if branch not in repo.list_branches():
        if "main" not in repo.list_branches():
            raise VirtualizeError(f"branch {branch!r} does not exist and there is no 'main' to start it from")
        created_branch = repo.lookup_branch("main")
        repo.create_branch(branch, created_branch)
    default = f"vzskill: {'append' if append else 'virtualize'} {len(full_urls)} file(s)" + (
        f" along {concat_dim}" if concat_dim else ""
    )
    attempt = 0
    while True:
        try:
            _check_target(repo, branch, combined, concat_dim, append)
        except VirtualizeError:
            _cleanup_branch(repo, branch, created_branch)
            raise
        session = repo.writable_session(branch)
        step("write", 0, 1)
        try:
            if append:
                combined.vz.to_icechunk(session.store, append_dim=concat_dim)
            else:
                combined.vz.to_icechunk(session.store)
            snapshot_id = session.commit(message or default)
            break
        except icechunk.ConflictError as exc:
            _discard(session)
            attempt += 1
            if attempt > conflict_retries:
                _cleanup_branch(repo, branch, created_branch)
                raise VirtualizeError(
                    f"another writer committed to branch {branch!r} first ({attempt} attempts), nothing committed -> "
                    "rerun, or serialize the writers (each rerun re-checks against the new tip)"
                ) from exc
            # somebody else committed: start again from the new tip (re-checked above)
        except Exception as exc:  # noqa: BLE001 - anything: nothing is committed
            _discard(session)
            _cleanup_branch(repo, branch, created_branch)
            raise VirtualizeError(f"write failed, nothing committed: {_first_line(str(exc))}") from exc
    step("write", 1, 1)

    return WriteResult(
        snapshot_id=snapshot_id,
        branch=branch,
        n_files=len(full_urls),
        variables=sorted(str(v) for v in combined.data_vars),
        nrefs=count_refs(combined),
        repo=_describe(repo_or_storage),
        appended=append,
        dims={str(k): int(v) for k, v in combined.sizes.items()},
        warnings=warnings,
    )


def _discard(session: Any) -> None:
    try:
        session.discard_changes()
    except Exception:  # noqa: BLE001
        pass


def _check_target(repo: icechunk.Repository, branch: str, combined: xr.Dataset, concat_dim: str | None, append: bool) -> None:
    """The branch's current tip must suit the write: empty for a first write, compatible data for an append."""
    has_data = _has_data(repo, branch)
    if append and not has_data:
        raise VirtualizeError(
            f"nothing to append to: branch {branch!r} has no arrays yet -> run the first write without --append/append=True"
        )
    if not append and has_data:
        raise VirtualizeError(
            f"branch {branch!r} already holds data -> pass --append/append=True to add the files along "
            f"{concat_dim or 'the concat dim'}, or write to a new repository or branch"
        )
    if append:
        _check_append(repo, branch, combined, concat_dim)  # type: ignore[arg-type]


def _cleanup_branch(repo: icechunk.Repository, branch: str, created: str | None) -> None:
    """Delete a branch this call created, unless somebody else has committed to it meanwhile."""
    if created is None:
        return
    try:
        if repo.lookup_branch(branch) == created:
            repo.delete_branch(branch)
    except Exception:  # noqa: BLE001
        pass


def _check_append(repo: icechunk.Repository, branch: str, combined: xr.Dataset, concat_dim: str) -> None:
    """Refuse appends that would give wrong data without an error: a concat dim the store lacks,
    or a time axis whose new values do not come after the stored ones."""
    session = repo.readonly_session(branch=branch)
    existing = xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None)
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
            old = existing[concat_dim].values
            new = combined[concat_dim].values
            if len(old) and len(new) and hasattr(new, "dtype") and new.dtype.kind in "iufM" and new.min() <= old.max():
                raise VirtualizeError(
                    f"the new files' {concat_dim} starts at {new.min()}, not after the stored {old.max()} -> "
                    "append only files that continue the series (or rewrite the whole series)"
                )
        except VirtualizeError:
            raise
        except Exception:  # noqa: BLE001 - virtual (unloaded) coordinate: nothing to compare
            pass
