"""URL -> source description: the one place where prefixes are computed.

Every other module (registry, containers, check, verify) derives its keys from the
:class:`Source` objects built here, so the obstore registry key, the icechunk container
prefix and the authorization key can never drift apart.

Rules (icechunk 2.3 / obspec-utils 0.9):

* object stores (``s3://``, ``gs://``, ``az://``, ``abfs://``): one root per bucket/container, registry key
  ``s3://bucket``; the container prefix (and authorization key) is the sources' common folder in that bucket,
  ``s3://bucket/series/`` (``s3://bucket/`` when a file sits at the top of the bucket), so a repository is
  authorized for the folder it references, not for the whole bucket;
* HTTP(S): one root per scheme + host (+ port), key ``https://host:port``, prefix ``https://host:port/``;
* local files (plain paths or ``file://``): one root per *directory tree* - the common parent
  directory of all local files, key ``file:///abs/dir``, prefix ``file:///abs/dir/``.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal
from urllib.parse import unquote, urlparse

Scheme = Literal["file", "s3", "gs", "az", "abfs", "http", "https"]

OBJECT_STORE_SCHEMES: tuple[str, ...] = ("s3", "gs", "az", "abfs")
HTTP_SCHEMES: tuple[str, ...] = ("http", "https")
SUPPORTED_SCHEMES: tuple[str, ...] = ("file", *OBJECT_STORE_SCHEMES, *HTTP_SCHEMES)
_SCHEME_ALIASES = {"gcs": "gs", "s3a": "s3", "abfss": "abfs", "azure": "az"}
_REGEX_CHARS = re.compile(r"(\.\*|\\\.|[\^\$\[\]\(\)\|\+\?\{\}]|(?<!:/)/\*)")


class SourceError(ValueError):
    """A source URL that vzskill cannot turn into a store/registry/container."""


@dataclass(frozen=True)
class Access:
    """How to reach the sources (and read their virtual chunks back).

    Defaults mean "credentials from the environment" for object stores. Secrets are
    never part of ``repr()``.

    * ``anonymous`` - public bucket: unsigned requests (obstore ``skip_signature``,
      icechunk ``anonymous=True`` + anonymous credentials).
    * ``endpoint`` - S3-compatible endpoint (MinIO, Ceph, Pawsey Acacia, moto...).
      Implies path-style addressing unless ``path_style=False``.
    * ``allow_http`` - plain-http endpoint; derived from ``endpoint`` when left ``None``.
    * ``access_key_id`` / ``secret_access_key`` / ``session_token`` - explicit S3 keys.
    """

    anonymous: bool = False
    region: str | None = None
    endpoint: str | None = None
    path_style: bool | None = None
    allow_http: bool | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    azure_account: str | None = None

    @property
    def uses_http(self) -> bool:
        if self.allow_http is not None:
            return self.allow_http
        return bool(self.endpoint and self.endpoint.startswith("http://"))

    @property
    def force_path_style(self) -> bool:
        if self.path_style is not None:
            return self.path_style
        return self.endpoint is not None

    @property
    def has_static_keys(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key)

    @property
    def s3_region(self) -> str:
        """Region for S3 clients: explicit, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1."""
        return (
            self.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )

    def with_(self, **changes: object) -> "Access":
        return replace(self, **changes)  # type: ignore[arg-type]

    def azure_account_for(self, netloc: str) -> str | None:
        """The Azure storage account for ``container@account[.dfs.core.windows.net]``: ``azure_account`` when set,
        else the part after ``@`` (up to the first dot), else None (the caller says what is missing)."""
        return self.azure_account or azure_location(netloc)[1]


def azure_location(netloc: str) -> tuple[str, str | None]:
    """Split an Azure netloc: ``"container@account.dfs.core.windows.net"`` -> ``("container", "account")``.

    The one Azure parser (registry stores, icechunk containers and repository storage use it); a netloc without
    ``@`` is just the container: ``("container", None)``.
    """
    container, at, host = netloc.partition("@")
    account = host.split(".", 1)[0] if at else ""
    return container, account or None


@dataclass(frozen=True)
class Source:
    """One source file, normalised.

    ``url`` is what goes into the chunk manifests; ``root`` is the registry key;
    ``path`` is the object key below ``root`` (what the store rooted at ``root`` sees);
    ``folder`` is the container prefix of an object-store source (the common folder of the sources parsed
    together, ending in ``/``; empty: ``root + "/"``).
    """

    url: str
    scheme: str
    root: str
    path: str
    folder: str = field(default="", compare=False)  # derived from the set parsed together, not identity

    @property
    def prefix(self) -> str:
        """The icechunk container prefix and authorization key (ends in ``/``; ``url`` starts with it)."""
        return self.folder or self.root.rstrip("/") + "/"

    @property
    def bucket(self) -> str:
        """Bucket / container / host (the netloc), or the local root directory."""
        if self.scheme == "file":
            return local_path(self.root)
        return urlparse(self.root).netloc


SourceLike = str | os.PathLike[str] | Source  # what parse_sources (and the registry / container builders) take


def local_path(url: str) -> str:
    """``file:///a/b`` -> ``/a/b`` (percent-decoded: ``file:///a%20b`` -> ``/a b``)."""
    return unquote(urlparse(url).path)


def file_url(path: str | os.PathLike[str]) -> str:
    """``/a b/c.nc`` -> ``file:///a b/c.nc``: NOT percent-encoded, because obspec-utils' registry,
    VirtualiZarr's manifests and icechunk's containers all match the raw path."""
    return "file://" + os.path.abspath(os.fspath(path))


def normalize_url(url: str | os.PathLike[str]) -> str:
    """Return a full URL: plain paths become absolute ``file://`` URLs, aliases are canonicalised.

    Raises :class:`SourceError` for unsupported schemes, with the list of supported ones.
    Cached (paths are resolved once per working directory): it runs several times per file.
    """
    text = os.fspath(url)
    return _normalize_cached(text, "" if "://" in text or os.path.isabs(text) else os.getcwd())


@lru_cache(maxsize=65536)
def _normalize_cached(text: str, cwd: str) -> str:
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        return file_url(Path(text).expanduser().resolve())
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    if scheme not in SUPPORTED_SCHEMES:
        raise SourceError(
            f"{text}: unsupported URL scheme '{parsed.scheme}://' -> use one of "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
            + " or a plain local path"
        )
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise SourceError(f"{text}: file URLs must be absolute (file:///abs/path), got host '{parsed.netloc}'")
        return file_url(Path(unquote(parsed.path)).resolve())
    if not parsed.netloc:
        raise SourceError(f"{text}: missing bucket/host after '{scheme}://'")
    rest = text.split("://", 1)[1]
    return f"{scheme}://{rest}"


def parse_source(url: str | os.PathLike[str], local_root: str | None = None) -> Source:
    """Describe one URL: scheme, root (the registry key), path below the root.

    Parameters
    ----------
    url
        A local path (relative paths are resolved against the working directory) or a URL.
    local_root
        For local files: the directory to use as root instead of the file's own directory.

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        An unsupported scheme, a URL without bucket/host, a local file not below ``local_root`` or at ``/``.
    """
    full = normalize_url(url)
    parsed = urlparse(full)
    scheme = parsed.scheme
    if scheme == "file":
        file_path = unquote(parsed.path)
        root_dir = local_root if local_root is not None else os.path.dirname(file_path)
        root_dir = os.path.abspath(root_dir).rstrip("/") or "/"
        if not (file_path == root_dir or file_path.startswith(root_dir.rstrip("/") + "/")):
            raise SourceError(f"{full}: not below the local root {root_dir}")
        if root_dir == "/":
            raise SourceError(
                f"{full}: local sources share no directory but '/'; icechunk needs a path in file:// "
                "container prefixes -> keep the files under one data directory"
            )
        root = file_url(root_dir)
        return Source(url=full, scheme="file", root=root, path=file_path[len(root_dir) + 1 :])
    root = f"{scheme}://{parsed.netloc}"
    path = parsed.path.lstrip("/")
    folder = _folder(root, [path]) if scheme in OBJECT_STORE_SCHEMES else ""
    return Source(url=full, scheme=scheme, root=root, path=path, folder=folder)


def _folder(root: str, paths: Iterable[str]) -> str:
    """``s3://bucket`` + keys ``["series/a.nc", "series/b.nc"]`` -> ``s3://bucket/series/`` (their common folder)."""
    dirs = [posixpath.dirname(p) for p in paths]
    common = "" if "" in dirs else posixpath.commonpath(dirs)
    return root.rstrip("/") + "/" + (common + "/" if common else "")


def parse_sources(urls: Iterable[SourceLike]) -> list[Source]:
    """Describe many URLs; local files share one root (their common parent directory), the files of one bucket one
    container folder (their common folder: ``Source.prefix``).

    Parameters
    ----------
    urls
        Local paths and/or URLs; :class:`Source` objects (already parsed) are passed through unchanged, so a
        pipeline can parse once and hand the same sources to the registry and the containers.

    Returns
    -------
    list[Source]
        In input order.

    Raises
    ------
    SourceError
        No URLs, or one that :func:`parse_source` rejects.
    """
    items = list(urls)
    if not items:
        raise SourceError("no source URLs given")
    full = {i: normalize_url(u) for i, u in enumerate(items) if not isinstance(u, Source)}
    local_dirs = [os.path.dirname(local_path(u)) for u in full.values() if u.startswith("file://")]
    local_root = os.path.commonpath(local_dirs) if local_dirs else None
    parsed = [u if isinstance(u, Source) else parse_source(full[i], local_root=local_root) for i, u in enumerate(items)]
    keys: dict[str, list[str]] = {}
    for i, source in enumerate(parsed):
        if i in full and source.scheme in OBJECT_STORE_SCHEMES:
            keys.setdefault(source.root, []).append(source.path)
    folders = {root: _folder(root, paths) for root, paths in keys.items()}
    return [replace(s, folder=folders[s.root]) if i in full and s.root in folders else s for i, s in enumerate(parsed)]


def roots(sources: Iterable[Source]) -> dict[str, Source]:
    """One representative source per root, in first-seen order."""
    out: dict[str, Source] = {}
    for s in sources:
        out.setdefault(s.root, s)
    return out


def looks_like_regex(key: str) -> bool:
    """True for registry keys such as ``https://host\\.org/.*`` that obspec-utils cannot match."""
    if key.startswith("^"):
        return True
    after_scheme = key.split("://", 1)[-1]
    return bool(_REGEX_CHARS.search(after_scheme)) or "*" in after_scheme


def suggest_root(url: str) -> str:
    """The registry key a URL needs, for error messages."""
    try:
        return parse_source(url).root
    except SourceError:
        return "<scheme>://<bucket-or-host>"


def display_name(url: str) -> str:
    """The file name as shown in messages (basename; the URL if it has none)."""
    text = url.rstrip("/")
    base = text.rsplit("/", 1)[-1]
    return base or url
