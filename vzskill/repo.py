"""Repository locations: the one way to turn "where the repository is" into an icechunk object.

A *location* is a local directory, a ``file://`` URL, ``s3://bucket/prefix``, ``gs://bucket/prefix``,
``az://container@account/prefix``, an ``icechunk.Storage`` or an ``icechunk.Repository``.

* :func:`storage_for` - location string -> ``icechunk.Storage`` (no I/O);
* :func:`open_location` - an existing repository, authorized for the containers it declares
  (:class:`RepositoryNotFound` when there is none);
* :func:`create_location` - a new repository declaring containers for the given prefixes;
* :func:`prepare_location` - created if missing, otherwise the containers missing for the prefixes
  are added (persisted); always returned authorized for what it declares.

Container prefixes come from :mod:`vzskill.containers` (``reference_prefixes`` for what a write
references), so the repository, its authorization and the registry never disagree.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Union
from urllib.parse import urlparse

import icechunk

from vzskill.containers import authorizations, covered, declared_prefixes, open_repo, prefix_config, repository_exists
from vzskill.sources import Access, SourceError, azure_location

Location = Union[icechunk.Repository, icechunk.Storage, str, "os.PathLike[str]"]


class RepositoryNotFound(SourceError):
    """No icechunk repository at the location."""


def storage_for(location: str | os.PathLike[str], access: Access | None = None) -> icechunk.Storage:
    """An icechunk ``Storage`` for a repository location (no I/O).

    Parameters
    ----------
    location
        Local directory, ``file:///abs/path``, ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
        ``az://container@account/prefix``.
    access
        Region / endpoint / static keys for S3 (credentials otherwise from the environment);
        ``access.anonymous`` opens public repositories read-only.

    Returns
    -------
    icechunk.Storage

    Raises
    ------
    SourceError
        An unsupported or incomplete location (one line with the fix).
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
        return icechunk.s3_storage(bucket=bucket, prefix=prefix, **_s3_options(access))
    if scheme in ("gs", "gcs"):
        return icechunk.gcs_storage(bucket=bucket, prefix=prefix, anonymous=True if access.anonymous else None,
                                    from_env=None if access.anonymous else True)
    if scheme in ("az", "azure", "abfs", "abfss"):
        container = azure_location(bucket)[0]
        account = access.azure_account_for(bucket)
        if not account:
            raise SourceError(f"{text}: Azure repositories need an account -> az://container@account/prefix or Access(azure_account=...)")
        return icechunk.azure_storage(account=account, container=container, prefix=prefix or "",
                                      anonymous=True if access.anonymous else None,
                                      from_env=None if access.anonymous else True)
    raise SourceError(f"{text}: unsupported repository location -> a local directory, s3://, gs:// or az:// URL")


def _s3_options(access: Access) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "region": access.s3_region,
        "endpoint_url": access.endpoint,
        "allow_http": access.uses_http,
        "force_path_style": access.force_path_style,
    }
    if access.anonymous:
        kwargs["anonymous"] = True
    elif access.has_static_keys:
        kwargs.update(access_key_id=access.access_key_id, secret_access_key=access.secret_access_key,
                      session_token=access.session_token)
    else:
        kwargs["from_env"] = True
    return kwargs


def storage_access(access: Access | None) -> Access:
    """The access used for the repository's own storage: the sources' endpoint/region, never their anonymity."""
    access = access or Access()
    return access.with_(anonymous=False) if access.anonymous else access


def to_storage(location: Location, access: Access | None = None) -> icechunk.Storage:
    """``icechunk.Storage`` of any location (a Repository gives its own storage)."""
    if isinstance(location, icechunk.Repository):
        return location.storage
    if isinstance(location, icechunk.Storage):
        return location
    if isinstance(location, (str, os.PathLike)):
        return storage_for(location, access)
    raise SourceError(
        f"unsupported repository location of type {type(location).__name__} -> a path, URL, icechunk.Storage or icechunk.Repository"
    )


def describe(location: Location) -> str | None:
    """The location, unambiguous: a local path made absolute, a URL as written (None for Storage/Repository).

    What messages and ``WriteResult.repo`` (the CLI's JSON ``repo``) show: ``repo`` run from ``/work`` is
    ``/work/repo``, so the value still names the repository when read from another directory.

    Parameters
    ----------
    location
        See the module docstring.

    Returns
    -------
    str | None
    """
    if not isinstance(location, (str, os.PathLike)):
        return None
    text = os.fspath(location)
    if "://" in text:
        return text
    return os.path.abspath(os.path.expanduser(text))


def open_location(
    location: Location,
    access: Access | None = None,
    *,
    allow: Iterable[str] | None = None,
    access_by_prefix: Mapping[str, Access] | None = None,
    storage_access_: Access | None = None,
) -> icechunk.Repository:
    """Open an existing repository, authorized for the virtual chunk containers it declares.

    Parameters
    ----------
    location
        See the module docstring. A Repository is returned as it is.
    access
        How to reach the sources (container credentials); the repository storage uses the same
        endpoint/region but never ``anonymous`` unless ``storage_access_`` says so.
    allow
        Authorize only containers at/below these prefixes (see :func:`vzskill.containers.open_repo`).
    access_by_prefix
        Per-container access overrides.

    Raises
    ------
    RepositoryNotFound
        Nothing at the location: ``"no icechunk repository at LOCATION -> ..."``.
    """
    if isinstance(location, icechunk.Repository):
        return location
    storage = to_storage(location, storage_access_ or storage_access(access))
    if not repository_exists(storage):
        where = describe(location) or "this storage"
        raise RepositoryNotFound(f"no icechunk repository at {where} -> check --repo (write one with `vzskill virtualize`)")
    return open_repo(storage, access, allow=allow, access_by_prefix=access_by_prefix)


def create_location(location: Location, prefixes: Iterable[str], access: Access | None = None) -> icechunk.Repository:
    """Create a repository declaring (and authorized for) a container per prefix.

    Raises
    ------
    SourceError
        A repository already exists there.
    """
    storage = to_storage(location, storage_access(access))
    if repository_exists(storage):
        raise SourceError(f"a repository already exists at {describe(location) or 'this storage'} -> open it, or choose a new location")
    prefixes = list(prefixes)
    return icechunk.Repository.create(storage, prefix_config(prefixes, access), authorizations(prefixes, access))


def prepare_location(
    location: Location,
    prefixes: Iterable[str],
    access: Access | None = None,
    *,
    storage_access_: Access | None = None,
) -> icechunk.Repository:
    """The repository at ``location`` (created if missing), declaring a container covering every prefix.

    Missing containers are added to the repository config and saved; the returned repository is
    authorized for every container it declares.
    """
    prefixes = list(prefixes)
    if isinstance(location, icechunk.Repository):
        storage = location.storage
        declared = declared_prefixes(storage)
        authorized = list(location.authorized_virtual_container_prefixes)
        if all(covered(p, declared) and covered(p, authorized) for p in prefixes):
            return location
    else:
        storage = to_storage(location, storage_access_ or storage_access(access))
        if not repository_exists(storage):
            return icechunk.Repository.create(storage, prefix_config(prefixes, access), authorizations(prefixes, access))
        declared = declared_prefixes(storage)
    missing = [p for p in prefixes if not covered(p, declared)]
    if missing:
        config = prefix_config(missing, access, base=icechunk.Repository.fetch_config(storage))
        repo = icechunk.Repository.open(storage, config=config)
        repo.save_config()
    return open_repo(storage, access)
