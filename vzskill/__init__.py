"""vzskill: virtualize archival files (NetCDF4/HDF5, NetCDF3, FITS, kerchunk, Zarr) into Icechunk.

Public API:

* ``virtualize(urls, repo, ...) -> WriteResult`` (raises ``VirtualizeError``) - :mod:`vzskill.write`;
* ``vzskill.check.check(urls) -> CheckReport`` and ``vzskill.verify.verify(repo) -> VerifyReport``
  (their modules share the verbs' names, so they are used as ``vzskill.check.check``);
* repository locations: ``open_location`` / ``RepositoryNotFound`` / ``storage_for``
  (:mod:`vzskill.repo`), ``open_repo`` / ``create_repo`` (:mod:`vzskill.containers`);
* sources: ``Access``, ``Source``, ``SourceError`` (:mod:`vzskill.sources`, imported for real).

``import vzskill`` stays cheap (the CLI's ``--help`` and ``doctor`` must not load icechunk/xarray,
and must explain an unsupported stack): the names that need icechunk/xarray are loaded on first
use (PEP 562), after checking the stack (Python >= 3.12, icechunk >= 2; otherwise
:class:`vzskill.doctor.UnsupportedStackError` says the fix).
"""

from __future__ import annotations

import importlib
from typing import Any

from vzskill.sources import Access, Source, SourceError, parse_source, parse_sources

__version__ = "0.1.0"

# heavy (icechunk / xarray / obstore) names: loaded on first use
_HEAVY = {
    "virtualize": "vzskill.write",
    "WriteResult": "vzskill.outcome",
    "VirtualizeError": "vzskill.outcome",
    "open_location": "vzskill.repo",
    "RepositoryNotFound": "vzskill.repo",
    "storage_for": "vzskill.repo",
    "open_repo": "vzskill.containers",
    "create_repo": "vzskill.containers",
    # lower-level helpers the documentation's snippets use as ``vzskill.<name>``
    "add_containers": "vzskill.containers",
    "authorizations": "vzskill.containers",
    "containers_for": "vzskill.containers",
    "credential_for": "vzskill.containers",
    "declared_prefixes": "vzskill.containers",
    "repository_config": "vzskill.containers",
    "source_prefixes": "vzskill.containers",
    "build_registry": "vzskill.registry",
    "check_registry": "vzskill.registry",
    "store_for": "vzskill.registry",
}

__all__ = sorted({"Access", "Source", "SourceError", "parse_source", "parse_sources", *_HEAVY})

_checked = False


def __getattr__(name: str) -> Any:
    global _checked
    module = _HEAVY.get(name)
    if module is None:
        raise AttributeError(f"module 'vzskill' has no attribute {name!r}")
    if not _checked:
        from vzskill.doctor import require_supported_stack

        require_supported_stack()
        _checked = True
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HEAVY})
