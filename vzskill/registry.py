"""Sources -> obstore stores + an ``obspec_utils.registry.ObjectStoreRegistry``.

The registry is what VirtualiZarr parsers use to *read* the archival files. One store per
root (bucket / host / local directory), registered under the root key from
:mod:`vzskill.sources`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from obspec_utils.registry import ObjectStoreRegistry
from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from vzskill.sources import (
    Access,
    Source,
    SourceError,
    SourceLike,
    azure_location,
    looks_like_regex,
    parse_sources,
    roots,
    suggest_root,
)

if TYPE_CHECKING:
    from obstore.store import ClientConfig

Store = LocalStore | HTTPStore | S3Store | GCSStore | AzureStore  # what store_for builds


class UnmatchedURLError(SourceError):
    """No registry key covers ``url``; ``root`` is the key it needs (a ``ValueError``, as upstream raises)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.root = suggest_root(url)
        super().__init__(  # upstream's wording first: code matching it keeps working
            f"Could not find an ObjectStore matching the url `{url}` -> register the store under {self.root!r}"
        )


class SourceRegistry(ObjectStoreRegistry):
    """An ``ObjectStoreRegistry`` that raises :class:`UnmatchedURLError` (with the URL) for an unknown URL.

    With ``extend=True`` it instead registers a store for the URL's root (built with ``access``) the
    first time it is asked: Kerchunk/Zarr references may point at files outside the folders of the
    given URLs, and a registry vzskill built itself must cover them. ``added`` lists those roots.
    """

    def __init__(self, stores: Mapping[str, Any] | None = None, *, extend: bool = False,
                 access: Access | None = None) -> None:
        super().__init__(dict(stores or {}))
        self.extend = extend
        self.access = access
        self.added: list[str] = []

    @classmethod
    def wrap(cls, registry: Any, *, extend: bool = False, access: Access | None = None) -> "SourceRegistry":
        """``registry`` itself if it is a SourceRegistry, else one sharing its stores (its public ``map``)."""
        if isinstance(registry, SourceRegistry):
            return registry
        out = cls(extend=extend, access=access)
        if isinstance(registry, Mapping):
            for key, store in registry.items():
                out.register(key, store)
        else:
            out.map = registry.map
        return out

    def resolve(self, url: str) -> tuple[Any, str]:
        try:
            return super().resolve(url)
        except ValueError:
            if not self.extend:
                raise UnmatchedURLError(url) from None
        from vzskill.sources import parse_source

        try:
            source = parse_source(url)
        except SourceError:
            raise UnmatchedURLError(url) from None
        self.register(source.root, store_for(source, self.access))
        self.added.append(source.root)
        return super().resolve(url)


def _local_store(source: Source) -> LocalStore:
    if not os.path.isdir(source.bucket):
        raise SourceError(
            f"{source.url}: directory {source.bucket} does not exist -> check the path (typo? moved? not mounted?)"
        )
    return LocalStore(prefix=source.bucket)


def _s3_store(source: Source, access: Access) -> S3Store:
    kwargs: dict[str, Any] = {"region": access.s3_region}
    if access.endpoint:
        kwargs["endpoint"] = access.endpoint
        kwargs["virtual_hosted_style_request"] = not access.force_path_style
    if access.anonymous:
        kwargs["skip_signature"] = True
    elif access.has_static_keys:
        kwargs["access_key_id"] = access.access_key_id
        kwargs["secret_access_key"] = access.secret_access_key
        if access.session_token:
            kwargs["session_token"] = access.session_token
    client_options: ClientConfig | None = {"allow_http": True} if access.uses_http else None
    return S3Store(source.bucket, client_options=client_options, **kwargs)


def _azure_store(source: Source, access: Access) -> AzureStore:
    container = azure_location(source.bucket)[0]
    account = access.azure_account_for(source.bucket)
    if not account and not (os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or os.environ.get("AZURE_STORAGE_ACCOUNT")):
        raise SourceError(
            f"{source.url}: Azure containers need an account -> use az://container@account.dfs.core.windows.net/... "
            "or pass Access(azure_account='...')"
        )
    kwargs: dict[str, Any] = {"account_name": account} if account else {}
    if access.anonymous:
        kwargs["skip_signature"] = True
    return AzureStore(container, **kwargs)


def store_for(source: Source, access: Access | None = None) -> Store:
    """Build the obstore store rooted at ``source.root``.

    Parameters
    ----------
    source
        A parsed source (:func:`vzskill.sources.parse_source`); its ``root`` is the store's root.
    access
        Credentials / region / endpoint for object stores; ``None``: from the environment.

    Returns
    -------
    LocalStore | HTTPStore | S3Store | GCSStore | AzureStore

    Raises
    ------
    SourceError
        A local directory that does not exist, an Azure container without an account, an unknown scheme.
    """
    access = access or Access()
    scheme = source.scheme
    if scheme == "file":
        return _local_store(source)
    if scheme in ("http", "https"):
        client_options: ClientConfig | None = {"allow_http": True} if scheme == "http" else None
        return HTTPStore.from_url(source.root, client_options=client_options)
    if scheme == "s3":
        return _s3_store(source, access)
    if scheme == "gs":
        return GCSStore(source.bucket, skip_signature=True) if access.anonymous else GCSStore(source.bucket)
    if scheme in ("az", "abfs"):
        return _azure_store(source, access)
    raise SourceError(f"{source.url}: no obstore store for scheme '{scheme}'")


def build_registry(
    urls: Iterable[SourceLike],
    access: Access | None = None,
    *,
    access_by_root: Mapping[str, Access] | None = None,
) -> ObjectStoreRegistry:
    """The registry VirtualiZarr parsers read ``urls`` through: one obstore store per root.

    Parameters
    ----------
    urls
        Local paths or URLs; local files share their common parent directory as one root.
    access
        How to reach the sources (credentials, region, endpoint, anonymous); ``None``: from the environment.
    access_by_root
        Per-root overrides of ``access``, keyed like the registry (``"s3://bucket"``, ``"https://host"``).

    Returns
    -------
    ObjectStoreRegistry
        A :class:`SourceRegistry`: an unmatched URL raises :class:`UnmatchedURLError` naming the key it needs.

    Raises
    ------
    SourceError
        No URLs, an unsupported scheme, a local directory that does not exist, an Azure container without account.
    """
    sources = parse_sources(urls)
    overrides = dict(access_by_root or {})
    registry = SourceRegistry(access=access)
    for root, source in roots(sources).items():
        registry.register(root, store_for(source, overrides.get(root, access)))
    return registry


def build_registry_per_file_root(
    urls: Iterable[str | os.PathLike[str]], access: Access | None = None
) -> tuple[ObjectStoreRegistry, dict[str, str]]:
    """Lenient registry: one store per *file's own* root (local files: their directory).

    For unrelated paths that share no usable common root (inspect, per-file parsing). URLs that
    cannot be described are skipped and returned as ``{url: one-line error}``.
    """
    from vzskill.sources import parse_source

    registry = SourceRegistry(access=access)
    seen: set[str] = set()
    bad: dict[str, str] = {}
    for url in urls:
        try:
            source = parse_source(url)
            if source.root not in seen:
                registry.register(source.root, store_for(source, access))
                seen.add(source.root)
        except Exception as exc:  # noqa: BLE001 - any store that cannot be built: skip it, say why
            bad[os.fspath(url)] = (str(exc).splitlines() or [type(exc).__name__])[0]
    return registry, bad


def check_registry(mapping: Mapping[str, Any], urls: Iterable[str]) -> None:
    """Fail early, with the right key in the message, when a hand-written registry cannot resolve ``urls``.

    Catches the two classic mistakes: regex keys (obspec-utils matches plain prefixes only)
    and keys whose scheme/bucket/host differs from the URLs.

    Parameters
    ----------
    mapping
        The registry's ``{key: store}`` mapping as written by hand.
    urls
        The URLs the registry must resolve.

    Raises
    ------
    SourceError
        A key that looks like a regular expression, or a URL no key matches (the message names the right key).
    """
    for key in mapping:
        if looks_like_regex(key):
            raise SourceError(
                f"registry key {key!r} looks like a regular expression; ObjectStoreRegistry matches plain "
                "URL prefixes only -> use a key like 's3://bucket', 'https://host' or 'file:///data/dir'"
            )
    registry = ObjectStoreRegistry(dict(mapping))
    for url in urls:
        try:
            registry.resolve(url)
        except ValueError:
            raise SourceError(
                f"{url}: no registry key matches (keys: {', '.join(sorted(mapping)) or 'none'}) "
                f"-> register the store under {suggest_root(url)!r}"
            ) from None
