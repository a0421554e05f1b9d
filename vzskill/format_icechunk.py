"""Icechunk repositories as sources (VirtualiZarr's ``IcechunkParser``): copy a repository's arrays
into another one, by reference.

A local folder holding an Icechunk repository (its ``repo`` object and ``snapshots/``) is kind
``"icechunk"``; so is a native chunk object inside one (``<repo>/chunks/<id>``, what the new
repository's references point at), which is how ``verify`` finds its reader
(:mod:`vzskill.readers_icechunk`). The branch read is ``main``; ``group=`` picks a group.
Virtual references of the source repository are copied as they are (they still point at the
original files, which ``verify`` reads with their own readers); native chunks become references to
the source repository's chunk objects; inlined chunks are copied.
"""

from __future__ import annotations

import os

from vzskill.sources import local_path

__all__ = ["icechunk_root", "is_icechunk_repo"]


def is_icechunk_repo(path: str) -> bool:
    """A local folder holding an Icechunk repository."""
    return os.path.isfile(os.path.join(path, "repo")) and os.path.isdir(os.path.join(path, "snapshots"))


def icechunk_root(url: str) -> str | None:
    """The repository URL of a local Icechunk repository or of a native chunk object inside one, else None."""
    if not url.startswith("file://"):
        return None
    base = url.rstrip("/")
    if "/chunks/" in base:
        base = base.rsplit("/chunks/", 1)[0]
    return base if is_icechunk_repo(local_path(base)) else None
