"""vzskill: virtualize archival files (NetCDF4/HDF5, NetCDF3, FITS, kerchunk, Zarr) into Icechunk.

One list of source URLs is the single source of truth for the obstore registry
(:mod:`vzskill.registry`), the icechunk virtual chunk containers and their authorization
(:mod:`vzskill.containers`).

The names below are imported lazily (PEP 562): ``import vzskill`` stays cheap (the CLI's
``--help`` and ``doctor`` do not load icechunk/xarray), and the first use of a library name
checks the stack (Python >= 3.12, icechunk >= 2) and raises
:class:`vzskill.doctor.UnsupportedStackError` with the fix instead of an obscure ImportError.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Access": "vzskill.sources",
    "Source": "vzskill.sources",
    "SourceError": "vzskill.sources",
    "parse_source": "vzskill.sources",
    "parse_sources": "vzskill.sources",
    "build_registry": "vzskill.registry",
    "check_registry": "vzskill.registry",
    "store_for": "vzskill.registry",
    "add_containers": "vzskill.containers",
    "authorizations": "vzskill.containers",
    "containers_for": "vzskill.containers",
    "create_repo": "vzskill.containers",
    "credential_for": "vzskill.containers",
    "declared_prefixes": "vzskill.containers",
    "open_repo": "vzskill.containers",
    "repository_config": "vzskill.containers",
    "source_prefixes": "vzskill.containers",
    "virtualize": "vzskill.write",
    "WriteResult": "vzskill.write",
    "storage_for": "vzskill.write",
}

__all__ = sorted(_EXPORTS)

_checked = False


def __getattr__(name: str) -> Any:
    global _checked
    module = _EXPORTS.get(name)
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
    return sorted({*globals(), *_EXPORTS})
