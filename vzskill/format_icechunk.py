"""Icechunk repositories as sources (VirtualiZarr's ``IcechunkParser``): copy a repository's arrays
into another one, by reference.

A local folder holding an Icechunk repository (its ``repo`` object and ``snapshots/``) is kind
``"icechunk"``; so is a repository in an object store (S3, GCS, Azure, HTTP: a prefix with a
``repo`` object, read through the caller's access) and a native chunk object inside one
(``<repo>/chunks/<id>``, what the new repository's references point at), which is how ``verify``
finds its reader (:mod:`vzskill.readers_icechunk`). The branch read is ``main``; ``group=`` picks a
group. Virtual references of the source repository are copied as they are (they still point at the
original files, which ``verify`` reads with their own readers); native chunks become references to
the source repository's chunk objects; inlined chunks are copied.
"""

from __future__ import annotations

import os
from typing import Any

from vzskill.sources import local_path

__all__ = ["icechunk_root", "is_icechunk_repo", "remote_icechunk_root"]

#: remote repository URLs found to hold a ``repo`` object (one HEAD per repository and process)
_REMOTE: set[str] = set()


def is_icechunk_repo(path: str) -> bool:
    """A local folder holding an Icechunk repository."""
    return os.path.isfile(os.path.join(path, "repo")) and os.path.isdir(os.path.join(path, "snapshots"))


def _base(url: str) -> str:
    base = url.rstrip("/")
    return base.rsplit("/chunks/", 1)[0] if "/chunks/" in base else base


def icechunk_root(url: str) -> str | None:
    """The repository URL of a local Icechunk repository or of a native chunk object inside one, else None.

    A remote URL is known only once :func:`remote_icechunk_root` has found its repository (no I/O here).
    """
    base = _base(url)
    if not url.startswith("file://"):
        return base if base in _REMOTE else None
    return base if is_icechunk_repo(local_path(base)) else None


def remote_icechunk_root(url: str, registry: Any) -> str | None:
    """The repository URL of a remote Icechunk repository (or of a chunk object in one), read through
    ``registry`` (one HEAD of ``<repo>/repo``), else None."""
    import obstore

    base = _base(url)
    if url.startswith("file://"):
        return icechunk_root(url)
    if base not in _REMOTE:
        try:
            store, path = registry.resolve(base + "/repo")
            obstore.head(store, path)
        except (FileNotFoundError, ValueError):
            return None
        _REMOTE.add(base)
    return base
