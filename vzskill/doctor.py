"""Installed stack vs the stack vzskill is tested on, and the known drift between them.

Standard library only (versions come from package metadata, nothing heavy is imported), so
``vzskill doctor`` and the CLI's stack guard also work on a broken or too-old environment,
for example a Python 3.11 venv where pip resolved icechunk 1.x.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

MIN_PYTHON = (3, 12)

#: Versions the docs and tests are run against (constraints.txt pins the full set).
TESTED: dict[str, str] = {
    "virtualizarr": "2.8.0",
    "icechunk": "2.3.0",
    "obstore": "0.12.1",
    "obspec-utils": "0.9.0",
    "zarr": "3.4.2",
    "xarray": "2026.9.0",
    "numpy": "2.5.5",
    "h5py": "3.16.0",
    "h5netcdf": "1.8.2",
    "netCDF4": "1.7.5.1.post1",
    "scipy": "1.18.1",
    "astropy": "8.0.2",
    "rich": "15.0.0",
}
TESTED_PYTHON = "3.12.1"

#: Below these versions the API vzskill uses does not exist (errors, not warnings).
REQUIRED_MIN: dict[str, str] = {
    "virtualizarr": "2.6.0",  # .vz accessor with to_icechunk(mode=), executor instances
    "icechunk": "2.0.0",  # credentials.LocalFileSystemAccess/HttpAccess, typed errors, spec v2
    "obstore": "0.9.0",
    "obspec-utils": "0.9.0",  # obspec_utils.registry.ObjectStoreRegistry
    "zarr": "3.1.0",
    "xarray": "2025.1.0",
}

OPTIONAL: dict[str, str] = {
    "kerchunk": "KerchunkJSONParser/KerchunkParquetParser inputs, to_kerchunk(format='parquet') -> pip install kerchunk fastparquet",
    "fastparquet": "kerchunk parquet references -> pip install fastparquet",
    "dask": "parallel='dask' and lazy reads of big arrays -> pip install 'dask[distributed]'",
    "arro3-core": "ZarrParser inputs -> pip install 'virtualizarr[zarr]'",
}

FIX_VENV = (
    "create a Python 3.12 venv: `make demo` in the vzskill checkout, or "
    "`~/.pyenv/versions/3.12.1/bin/python -m venv .venv && .venv/bin/pip install -c constraints.txt -e .`"
)


def parse_version(text: str | None) -> tuple[int, ...]:
    """Leading numeric release parts: ``'2.3.0rc1'`` -> ``(2, 3, 0)``; ``None`` -> ``()``."""
    if not text:
        return ()
    parts: list[int] = []
    for piece in text.split("+", 1)[0].split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:
            break
    return tuple(parts)


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class Check:
    name: str
    installed: str | None
    tested: str | None
    status: str  # "ok" | "drift" | "missing" | "error"
    message: str = ""


@dataclass
class DoctorReport:
    python: str
    platform: str
    checks: list[Check] = field(default_factory=list)

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.status == "error"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("drift", "missing")]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "python": self.python,
            "platform": self.platform,
            "checks": [asdict(c) for c in self.checks],
            "errors": [c.message for c in self.errors],
            "warnings": [c.message for c in self.warnings],
        }

    def format_table(self) -> str:
        width = max(len(c.name) for c in self.checks) if self.checks else 10
        lines = [f"{'package':<{width}}  {'installed':<16} {'tested':<14} status"]
        for c in self.checks:
            lines.append(f"{c.name:<{width}}  {c.installed or '-':<16} {c.tested or '-':<14} {c.status}")
        notes = [c for c in self.checks if c.message]
        if notes:
            lines.append("")
            lines.extend(f"{'ERROR' if c.status == 'error' else 'warning'}: {c.message}" for c in notes)
        lines.append("")
        lines.append("stack OK" if self.ok else "stack UNSUPPORTED -> " + FIX_VENV)
        return "\n".join(lines)


def _python_check(version_info: tuple[int, ...] | None = None) -> Check:
    vi = tuple(version_info or sys.version_info[:3])
    text = ".".join(str(p) for p in vi[:3])
    if vi[:2] < MIN_PYTHON:
        return Check(
            "python", text, TESTED_PYTHON, "error",
            f"Python {text} is too old: icechunk 2.x and virtualizarr >= 2.6 need Python >= 3.12 "
            f"(on {text} pip silently resolves virtualizarr 2.5 + icechunk 1.x) -> {FIX_VENV}",
        )
    if vi[:2] != parse_version(TESTED_PYTHON)[:2]:
        return Check("python", text, TESTED_PYTHON, "drift", f"Python {text} is not the tested {TESTED_PYTHON}; run `make test-latest` to check it")
    return Check("python", text, TESTED_PYTHON, "ok")


def _package_check(name: str, version: str | None) -> Check:
    tested = TESTED.get(name)
    if version is None:
        return Check(name, None, tested, "error", f"{name} is not installed -> pip install '{name}>={tested}' (or reinstall the helper: pip install ./scripts in the skill folder)")
    have = parse_version(version)
    need = REQUIRED_MIN.get(name)
    if need and have < parse_version(need):
        hint = ""
        if name == "icechunk":
            hint = (
                " (icechunk 1.x cannot read repositories written by 2.x: 'this repository uses Icechunk v2 format'; "
                "its authorization takes None instead of the credentials sentinels)"
            )
        return Check(name, version, tested, "error", f"{name} {version} is older than the supported {need}{hint} -> {FIX_VENV}")
    if tested and have != parse_version(tested):
        direction = "newer" if have > parse_version(tested) else "older"
        return Check(
            name, version, tested, "drift",
            f"{name} {version} is {direction} than the tested {tested}; behaviour may differ -> "
            "`make test-latest` reruns the doc tests on the newest releases",
        )
    return Check(name, version, tested, "ok")


def _optional_check(name: str, version: str | None) -> Check:
    if version is None:
        return Check(name, None, None, "missing", f"optional {name} is not installed: needed for {OPTIONAL[name]}")
    return Check(name, version, None, "ok")


def _format_checks(versions: dict[str, str | None]) -> list[Check]:
    """One check per format with optional packages (:data:`vzskill.format_extras.EXTRAS`): named ``format <kind>``.

    ``versions`` may simulate a missing module by its import name (``{"pyhdf": None}``).
    """
    import importlib.util

    from vzskill.format_extras import EXTRAS

    out = []
    for kind, extra in EXTRAS.items():
        modules = (*extra.modules, *extra.verify_modules)
        missing = [m for m in modules if (versions[m] is None if m in versions else importlib.util.find_spec(m) is None)]
        status = "missing" if missing else "ok"
        message = (f"optional {extra.label} support: {', '.join(missing)} not installed -> {extra.pip}" if missing else "")
        out.append(Check(f"format {kind}", None if missing else "yes", None, status, message))
    return out


def diagnose(
    versions: dict[str, str | None] | None = None,
    python: tuple[int, ...] | None = None,
) -> DoctorReport:
    """Compare the installed (or given) versions with :data:`TESTED`.

    Parameters
    ----------
    versions
        ``{package: version or None}`` overriding what is installed (simulates other stacks).
    python
        The Python version to judge instead of the running one.

    Returns
    -------
    DoctorReport
        ``checks`` (python, every tested package, the optional ones), ``ok``, ``exit_code``, ``errors``.
    """
    versions = dict(versions or {})
    report = DoctorReport(python=sys.version.split()[0] if python is None else ".".join(map(str, python)), platform=platform.platform())
    report.checks.append(_python_check(python))
    for name in TESTED:
        report.checks.append(_package_check(name, versions[name] if name in versions else installed(name)))
    for name in OPTIONAL:
        report.checks.append(_optional_check(name, versions[name] if name in versions else installed(name)))
    report.checks.extend(_format_checks(versions))
    return report


def stack_problem(
    versions: dict[str, str | None] | None = None,
    python: tuple[int, ...] | None = None,
) -> str | None:
    """One line saying why vzskill cannot run here, or ``None`` when the core stack is supported.

    Only the hard requirements are checked: Python >= 3.12 and icechunk >= 2 (plus virtualizarr,
    obspec-utils, zarr, xarray present and new enough).

    Parameters
    ----------
    versions, python
        As :func:`diagnose`.

    Returns
    -------
    str | None
        ``"unsupported stack (...): why -> fix"`` or ``None``.
    """
    report = diagnose(versions, python)
    errors = [c for c in report.errors if c.name in ("python", *REQUIRED_MIN)]
    if not errors:
        return None
    found = ", ".join(f"{c.name} {c.installed or 'missing'}" for c in errors)
    first = errors[0].message.split(" -> ", 1)[0]
    return f"unsupported stack ({found}): {first} -> {FIX_VENV}"


class UnsupportedStackError(ImportError):
    """Raised on import of vzskill's library modules when the stack cannot work."""


def require_supported_stack() -> None:
    problem = stack_problem()
    if problem:
        raise UnsupportedStackError("vzskill: " + problem)
