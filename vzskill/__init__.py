"""vzskill: virtualize archival files (NetCDF4/HDF5, NetCDF3, FITS, kerchunk, Zarr, ...) into Icechunk.

Public API (every name below is typed as the object it is):

* write: ``virtualize(urls, repo, ...) -> WriteResult`` (raises ``VirtualizeError``, a ``SourceError`` for bad
  inputs);
* describe: ``inspect_files(urls) -> list[FileInfo]``, ``inspect_file(url) -> FileInfo``, ``format_info(info)``;
* check before writing: ``check(urls, ...) -> CheckReport`` (findings: ``Finding``; module :mod:`vzskill.preflight`);
* verify after writing: ``verify(repo, ...) -> VerifyReport`` (module :mod:`vzskill.verification`);
* the environment: ``diagnose() -> DoctorReport``, ``UnsupportedStackError`` (:mod:`vzskill.doctor`);
* problems: ``explain(exc, url=, variable=) -> Problem`` (one-line "problem -> fix", :mod:`vzskill.errors`);
* repositories: ``open_repo``, ``create_repo`` (:mod:`vzskill.containers`), ``storage_for``,
  ``RepositoryNotFound`` (:mod:`vzskill.repo`);
* sources: ``Access``, ``Source``, ``SourceError``, ``parse_source``, ``parse_sources`` (:mod:`vzskill.sources`).

The lower-level helpers live in their modules: ``from vzskill.registry import build_registry, check_registry``,
``from vzskill.containers import add_containers, authorizations, containers_for, declared_prefixes,
repository_config, source_prefixes``, ``from vzskill.repo import open_location``.

``import vzskill`` stays cheap (the CLI's ``--help`` and ``doctor`` must not load icechunk/xarray, and must explain
an unsupported stack): the names that need icechunk/xarray/VirtualiZarr are imported on first use (PEP 562), after
checking the stack (Python >= 3.12, icechunk >= 2; otherwise :class:`vzskill.doctor.UnsupportedStackError` says the
fix). Type checkers see the real objects (the ``TYPE_CHECKING`` imports below).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vzskill.doctor import DoctorReport, UnsupportedStackError, diagnose
from vzskill.errors import Problem, explain
from vzskill.outcome import VirtualizeError, WriteResult
from vzskill.sources import Access, Source, SourceError, parse_source, parse_sources

if TYPE_CHECKING:
    from vzskill.containers import create_repo, open_repo
    from vzskill.findings import Finding
    from vzskill.inventory import FileInfo, VariableInfo, format_info, inspect_file, inspect_files
    from vzskill.preflight import CheckReport, check
    from vzskill.repo import RepositoryNotFound, storage_for
    from vzskill.verification import verify
    from vzskill.verify_report import VerifyReport
    from vzskill.write import virtualize

__version__ = "0.1.0"

# the verbs and types that need icechunk / xarray / VirtualiZarr: name -> module, imported on first use
_DEFERRED = {
    "virtualize": "vzskill.write",
    "check": "vzskill.preflight",
    "verify": "vzskill.verification",
    "CheckReport": "vzskill.preflight",
    "Finding": "vzskill.findings",
    "VerifyReport": "vzskill.verify_report",
    "FileInfo": "vzskill.inventory",
    "VariableInfo": "vzskill.inventory",
    "format_info": "vzskill.inventory",
    "inspect_file": "vzskill.inventory",
    "inspect_files": "vzskill.inventory",
    "RepositoryNotFound": "vzskill.repo",
    "storage_for": "vzskill.repo",
    "open_repo": "vzskill.containers",
    "create_repo": "vzskill.containers",
}

__all__ = [
    "Access",
    "CheckReport",
    "DoctorReport",
    "FileInfo",
    "Finding",
    "Problem",
    "RepositoryNotFound",
    "Source",
    "SourceError",
    "UnsupportedStackError",
    "VariableInfo",
    "VerifyReport",
    "VirtualizeError",
    "WriteResult",
    "__version__",
    "check",
    "create_repo",
    "diagnose",
    "explain",
    "format_info",
    "inspect_file",
    "inspect_files",
    "open_repo",
    "parse_source",
    "parse_sources",
    "storage_for",
    "verify",
    "virtualize",
]

_checked = False

if not TYPE_CHECKING:  # at runtime only: type checkers resolve the names above, not through __getattr__

    def __getattr__(name: str) -> Any:
        global _checked
        module = _DEFERRED.get(name)
        if module is None:
            raise AttributeError(f"module 'vzskill' has no attribute {name!r}")
        if not _checked:
            from vzskill.doctor import require_supported_stack

            require_supported_stack()
            _checked = True
        value = getattr(importlib.import_module(module), name)
        if name in _DEFERRED:  # a moved name is looked up each time (not cached in the namespace)
            globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_DEFERRED})
