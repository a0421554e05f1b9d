"""vzskill: virtualize archival files (NetCDF4/HDF5, NetCDF3, FITS, kerchunk, Zarr) into Icechunk.

One list of source URLs is the single source of truth for the obstore registry
(:mod:`vzskill.registry`), the icechunk virtual chunk containers and their authorization
(:mod:`vzskill.containers`).
"""

from vzskill.containers import (
    add_containers,
    authorizations,
    containers_for,
    create_repo,
    credential_for,
    declared_prefixes,
    open_repo,
    repository_config,
    source_prefixes,
)
from vzskill.registry import build_registry, check_registry, store_for
from vzskill.sources import Access, Source, SourceError, parse_source, parse_sources

__version__ = "0.1.0"

__all__ = [
    "Access",
    "Source",
    "SourceError",
    "add_containers",
    "authorizations",
    "build_registry",
    "check_registry",
    "containers_for",
    "create_repo",
    "credential_for",
    "declared_prefixes",
    "open_repo",
    "parse_source",
    "parse_sources",
    "repository_config",
    "source_prefixes",
    "store_for",
]
