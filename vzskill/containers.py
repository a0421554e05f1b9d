"""Sources -> icechunk virtual chunk containers + the matching authorization.

The writer declares containers (persisted in the repository config); every reader - including
the ``Repository`` object that wrote - must authorize them when it opens the repository.
Both come from the same :class:`vzskill.sources.Source` roots, so their prefixes always agree
and always end in ``/``. Credentials are icechunk's explicit sentinels, never the deprecated ``None``.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import icechunk
from icechunk.credentials import HttpAccess, LocalFileSystemAccess
from icechunk.storage import azure_store

from vzskill.sources import Access, Source, SourceError, SourceLike, local_path, parse_source, parse_sources


def container_store(source: Source, access: Access | None = None) -> Any:
    """The icechunk ``ObjectStoreConfig`` that fetches chunks below ``source.prefix``."""
    access = access or Access()
    scheme = source.scheme
    if scheme == "file":
        return icechunk.local_filesystem_store(source.bucket)
    if scheme in ("http", "https"):
        return icechunk.http_store()
    if scheme == "s3":
        return icechunk.s3_store(
            region=access.s3_region,
            endpoint_url=access.endpoint,
            allow_http=access.uses_http,
            anonymous=access.anonymous,
            s3_compatible=access.endpoint is not None,
            force_path_style=access.force_path_style,
        )
    if scheme == "gs":
        return icechunk.gcs_store({"skip_signature": "true"} if access.anonymous else None)
    if scheme in ("az", "abfs"):
        account = access.azure_account_for(source.bucket)
        if not account:
            raise SourceError(f"{source.url}: Azure containers need an account -> pass Access(azure_account='...')")
        return azure_store(account=account, config={"skip_signature": "true"} if access.anonymous else None)
    raise SourceError(f"{source.url}: icechunk has no virtual chunk container for scheme '{scheme}'")


def credential_for(prefix: str, access: Access | None = None) -> Any:
    """The authorization value for one container prefix (a sentinel or a credentials object)."""
    access = access or Access()
    scheme = prefix.split("://", 1)[0]
    if scheme == "file":
        return LocalFileSystemAccess
    if scheme in ("http", "https"):
        return HttpAccess
    if scheme == "s3":
        if access.anonymous:
            return icechunk.s3_anonymous_credentials()
        if access.has_static_keys:
            return icechunk.s3_credentials(
                access_key_id=access.access_key_id,
                secret_access_key=access.secret_access_key,
                session_token=access.session_token,
            )
        return icechunk.s3_from_env_credentials()
    if scheme == "gs":
        # gcs_anonymous_credentials is only in icechunk.credentials (not re-exported at top level in 2.3)
        return icechunk.credentials.gcs_anonymous_credentials() if access.anonymous else icechunk.gcs_from_env_credentials()
    if scheme in ("az", "abfs"):
        return icechunk.azure_anonymous_credentials() if access.anonymous else icechunk.azure_from_env_credentials()
    raise SourceError(
        f"container {prefix!r}: unsupported scheme '{scheme}' -> containers are file://, s3://, gs://, az://, abfs://, http(s)://"
    )


def containers_for(urls: Iterable[SourceLike], access: Access | None = None) -> list[icechunk.VirtualChunkContainer]:
    """One ``VirtualChunkContainer`` per container prefix of ``urls`` (:attr:`vzskill.sources.Source.prefix`: the
    local files' common directory, the common folder of a bucket's files, an HTTP host).

    Parameters
    ----------
    urls
        The source files the repository will reference.
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.

    Returns
    -------
    list[icechunk.VirtualChunkContainer]

    Raises
    ------
    SourceError
        A URL :func:`vzskill.sources.parse_sources` rejects, an Azure container without account, a scheme icechunk
        has no container for.
    """
    return [
        icechunk.VirtualChunkContainer(source.prefix, container_store(source, access))
        for source in _by_prefix(parse_sources(urls))
    ]


def _by_prefix(sources: Iterable[Source]) -> list[Source]:
    """One source per container prefix, first-seen order."""
    out: dict[str, Source] = {}
    for source in sources:
        out.setdefault(source.prefix, source)
    return list(out.values())


def repository_config(
    urls: Iterable[SourceLike],
    access: Access | None = None,
    base: icechunk.RepositoryConfig | None = None,
) -> icechunk.RepositoryConfig:
    """``RepositoryConfig`` (default or ``base``) with a container for every root of ``urls``.

    Parameters
    ----------
    urls
        The source files the repository will reference.
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.
    base
        A config to extend (it is modified); ``None``: ``RepositoryConfig.default()``.

    Returns
    -------
    icechunk.RepositoryConfig

    Raises
    ------
    SourceError
        As :func:`containers_for`.
    """
    config = base if base is not None else icechunk.RepositoryConfig.default()
    for container in containers_for(urls, access):
        config.set_virtual_chunk_container(container)
    return config


def authorizations(
    prefixes: Iterable[str],
    access: Access | None = None,
    access_by_prefix: Mapping[str, Access] | None = None,
) -> dict[str, Any]:
    """``containers_credentials`` for the given container prefixes (``authorize_virtual_chunk_access``).

    Parameters
    ----------
    prefixes
        Container prefixes (``file:///dir/``, ``s3://bucket/``, ``https://host/``...).
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.
    access_by_prefix
        Per-prefix overrides of ``access``.

    Returns
    -------
    dict[str, Any]
        ``{prefix: credentials}`` as icechunk expects them.
    """
    overrides = dict(access_by_prefix or {})
    return icechunk.containers_credentials(
        {p: credential_for(p, overrides.get(p, access)) for p in prefixes}
    )


def source_prefixes(urls: Iterable[SourceLike]) -> list[str]:
    """Container prefixes (trailing ``/``) for ``urls``.

    Parameters
    ----------
    urls
        Local paths and/or URLs.

    Returns
    -------
    list[str]
        One prefix per root (for object stores: the common folder of that bucket's files), first-seen order.

    Raises
    ------
    SourceError
        As :func:`vzskill.sources.parse_sources`.
    """
    return [s.prefix for s in _by_prefix(parse_sources(urls))]


def covered(prefix: str, prefixes: Iterable[str]) -> bool:
    """True when ``prefix`` lies at or below one of ``prefixes``."""
    return any(prefix.startswith(p) for p in prefixes)


def collapse(prefixes: Iterable[str]) -> list[str]:
    """Distinct prefixes, dropping those below another one (first-seen order)."""
    unique = list(dict.fromkeys(prefixes))
    return [p for p in unique if not any(q != p and p.startswith(q) for q in unique)]


def reference_prefixes(input_urls: Iterable[SourceLike], reference_urls: Iterable[str] = ()) -> list[str]:
    """Container prefixes covering the input URLs and every chunk path the manifests reference.

    Kerchunk references may point to another folder, bucket or host than the references file:
    those roots get their own container. Local reference paths share their common directory, or,
    when they share only ``/``, one container per directory.
    """
    out = source_prefixes(input_urls)
    refs = [u for u in dict.fromkeys(reference_urls) if u]
    if refs:
        try:
            out += source_prefixes(refs)
        except SourceError:
            out += [parse_source(u).prefix for u in refs]
    return collapse(out)


def container_for(prefix: str, access: Access | None = None) -> icechunk.VirtualChunkContainer:
    """The ``VirtualChunkContainer`` for one prefix (``file:///dir/``, ``s3://bucket/``, ``https://host/``...)."""
    prefix = prefix.rstrip("/") + "/"
    local_root = local_path(prefix) if prefix.startswith("file://") else None
    source = parse_source(prefix + "_", local_root=local_root)
    return icechunk.VirtualChunkContainer(prefix, container_store(source, access))


def prefix_config(
    prefixes: Iterable[str], access: Access | None = None, base: icechunk.RepositoryConfig | None = None
) -> icechunk.RepositoryConfig:
    """``RepositoryConfig`` (default or ``base``) with a container for every prefix."""
    config = base if base is not None else icechunk.RepositoryConfig.default()
    for prefix in prefixes:
        config.set_virtual_chunk_container(container_for(prefix, access))
    return config


def probe_settings() -> icechunk.StorageSettings:
    """Storage settings for the first request to a repository location: 4 tries within ~0.6 s.

    icechunk's default (10 tries, exponential backoff) makes an unreachable endpoint or a stopped server answer
    after ~45 s; the first probe (does a repository exist here?) fails in under a second instead. Reads and
    writes of the opened repository keep icechunk's retries (its own ``RepositoryConfig`` storage settings).
    """
    retries = icechunk.StorageRetriesSettings(max_tries=4, initial_backoff_ms=100, max_backoff_ms=1000)
    return icechunk.StorageSettings(retries=retries)


def repository_exists(storage: icechunk.Storage) -> bool:
    """``Repository.exists`` with :func:`probe_settings` (fails fast when the storage cannot be reached).

    Parameters
    ----------
    storage
        A repository location.

    Returns
    -------
    bool

    Raises
    ------
    icechunk.IcechunkError
        The storage cannot be reached or refuses the request (``ErrorKind`` says which), within ~1 s.
    """
    return bool(icechunk.Repository.exists(storage, storage_settings=probe_settings()))


def declared_prefixes(storage: icechunk.Storage) -> list[str]:
    """Container prefixes a repository declares.

    Parameters
    ----------
    storage
        The repository's storage.

    Returns
    -------
    list[str]
        Sorted; empty when the repository declares none or does not exist.
    """
    if not repository_exists(storage):
        return []
    config = icechunk.Repository.fetch_config(storage)
    containers = (config.virtual_chunk_containers if config is not None else None) or {}
    return sorted(containers)


def _normalize_allow(allow: Iterable[str]) -> list[str]:
    out = []
    for item in allow:
        text = os.fspath(item)
        if "://" not in text:
            text = parse_source(os.path.join(text, "_")).prefix  # a local directory
        out.append(text.rstrip("/") + "/")
    return out


def open_repo(
    storage: icechunk.Storage,
    access: Access | None = None,
    *,
    allow: Iterable[str] | None = None,
    access_by_prefix: Mapping[str, Access] | None = None,
) -> icechunk.Repository:
    """Open an existing repository and authorize the containers it declares.

    Parameters
    ----------
    storage
        The repository's storage.
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.
    allow
        Authorize only containers at or below these prefixes (a reader's explicit trust list; local directories
        allowed); ``None``: every declared container.
    access_by_prefix
        Per-prefix overrides of ``access``.

    Returns
    -------
    icechunk.Repository

    Raises
    ------
    SourceError
        An allowed prefix the repository does not declare.
    icechunk.IcechunkError
        No repository in ``storage`` (``ErrorKind.REPOSITORY_NOT_FOUND``) or the storage cannot be read.
    """
    declared = declared_prefixes(storage)
    if allow is not None:
        allowed = _normalize_allow(allow)
        chosen = [p for p in declared if any(p.startswith(a) or a.startswith(p) for a in allowed)]
        missing = [a for a in allowed if not any(a.startswith(p) or p.startswith(a) for p in declared)]
        if missing:
            raise SourceError(
                f"the repository declares no container for {', '.join(missing)} (declared: "
                f"{', '.join(declared) or 'none'}) -> fix the prefix, or add the container with vzskill.containers.add_containers"
            )
    else:
        chosen = declared
    return icechunk.Repository.open(storage, authorize_virtual_chunk_access=authorizations(chosen, access, access_by_prefix))


def create_repo(
    storage: icechunk.Storage,
    urls: Iterable[str | os.PathLike[str]],
    access: Access | None = None,
    *,
    config: icechunk.RepositoryConfig | None = None,
    exist_ok: bool = True,
) -> icechunk.Repository:
    """Create (or, with ``exist_ok``, open) a repository whose containers cover ``urls``.

    Parameters
    ----------
    storage
        Where the repository lives.
    urls
        The source files it will reference (their roots become containers).
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.
    config
        A ``RepositoryConfig`` to start from.
    exist_ok
        Open an existing repository instead of failing; containers missing for ``urls`` are added and saved.

    Returns
    -------
    icechunk.Repository
        Authorized for every container it declares.

    Raises
    ------
    SourceError
        A repository exists and ``exist_ok`` is False, or a URL cannot be used (as :func:`containers_for`).
    """
    urls = list(urls)
    wanted = repository_config(urls, access, base=config)
    exists = repository_exists(storage)
    if exists and not exist_ok:
        raise SourceError("a repository already exists in this storage -> open it, or choose a new location")
    if not exists:
        prefixes = source_prefixes(urls)
        return icechunk.Repository.create(storage, wanted, authorizations(prefixes, access))
    return add_containers(storage, urls, access)


def add_containers(
    storage: icechunk.Storage,
    urls: Iterable[str | os.PathLike[str]],
    access: Access | None = None,
) -> icechunk.Repository:
    """Declare containers for ``urls`` on an existing repository (the config is saved).

    Parameters
    ----------
    storage
        The repository's storage.
    urls
        Source files whose roots need a container.
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.

    Returns
    -------
    icechunk.Repository
        Authorized for every container it declares.

    Raises
    ------
    SourceError
        As :func:`containers_for`.
    """
    urls = list(urls)
    declared = declared_prefixes(storage)
    missing = [u for u in urls if not any(parse_source(u).url.startswith(p) for p in declared)]
    if missing:
        config = repository_config(missing, access, base=icechunk.Repository.fetch_config(storage))
        repo = icechunk.Repository.open(storage, config=config)
        repo.save_config()
    return open_repo(storage, access)
