"""The package passes its linters: ``ruff check vzskill`` (ruff.toml) and ``mypy vzskill`` (mypy.ini).

Both run with the interpreter of the test session (``sys.executable -m ...``) from the repository root, so the
project's configuration files apply. A failure lists every finding. Two small probes prove the configuration still
catches what it is meant to catch (a test that cannot fail proves nothing).
"""

from __future__ import annotations

import getpass
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# mypy's incremental cache lives outside the checkout (a cold run takes ~15 s, a warm one ~1 s).
MYPY_CACHE = Path(tempfile.gettempdir()) / f"vzskill-mypy-cache-{getpass.getuser()}"

pytestmark = pytest.mark.timeout(240)


def _tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed in {sys.executable} -> pip install -e '.[test]'")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )


def _ruff(*targets: str) -> subprocess.CompletedProcess[str]:
    config = str(REPO_ROOT / "ruff.toml")
    return _tool("ruff", "check", "--no-cache", "--config", config, "--output-format", "concise", *targets)


def _mypy(*targets: str) -> subprocess.CompletedProcess[str]:
    config = str(REPO_ROOT / "mypy.ini")
    return _tool("mypy", "--config-file", config, "--cache-dir", str(MYPY_CACHE), "--no-error-summary", *targets)


def _findings(proc: subprocess.CompletedProcess[str]) -> list[str]:
    lines = (proc.stdout + proc.stderr).splitlines()
    return [line for line in lines if line.strip() and not line.startswith(("Found ", "[*]", "No fixes"))]


def test_ruff_is_clean() -> None:
    proc = _ruff("vzskill")
    findings = _findings(proc)
    if proc.returncode != 0:
        pytest.fail(f"ruff check vzskill: {len(findings)} finding(s)\n" + "\n".join(findings), pytrace=False)


def test_mypy_is_clean() -> None:
    proc = _mypy("vzskill")
    errors = [line for line in _findings(proc) if ": error:" in line]
    if proc.returncode != 0:
        pytest.fail(f"mypy vzskill: {len(errors)} error(s)\n" + "\n".join(_findings(proc)), pytrace=False)


def test_the_configuration_catches_complexity_bugbear_and_type_errors(tmp_path: Path) -> None:
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(11))
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n\n\n"
        f"def complex_function(x: int) -> int:\n{branches}\n    return -1\n\n\n"
        "def pairs(a: list[int], b: list[int]) -> list[tuple[int, int]]:\n"
        "    return list(zip(a, b))\n\n\n"
        "def wrong() -> int:\n"
        "    return 'text'\n"
    )
    found = "\n".join(_findings(_ruff(str(probe))))
    for code in ("C901", "B905", "F401"):
        assert code in found, found
    typed = _mypy(str(probe))
    assert typed.returncode == 1 and "Incompatible return value type" in typed.stdout, typed.stdout + typed.stderr


def test_vzskill_itself_is_never_excluded_from_type_checking() -> None:
    config = (REPO_ROOT / "mypy.ini").read_text()
    sections = [line for line in config.splitlines() if line.startswith("[mypy-")]
    assert sections and not any("vzskill" in section for section in sections), sections
    assert "ignore_errors" not in config and "follow_imports = skip" not in config


def test_public_api_resolves_and_is_typed(tmp_path: Path) -> None:
    """Every name in ``vzskill.__all__`` exists at runtime, and type checkers see the real objects (no ``Any``)."""
    import vzskill

    for name in vzskill.__all__:
        value = getattr(vzskill, name)
        assert name == "__version__" or getattr(value, "__module__", "").startswith("vzskill."), (name, value)
    probe = tmp_path / "api_probe.py"
    probe.write_text(
        "import vzskill\n"
        "reveal_type(vzskill.virtualize)\n"
        "reveal_type(vzskill.inspect_files)\n"
        "reveal_type(vzskill.storage_for)\n"
        "vzskill.no_such_name\n"
        "vzskill.build_registry\n"
    )
    proc = _mypy(str(probe))
    out = proc.stdout
    assert "-> vzskill.outcome.WriteResult" in out, out
    assert "-> list[vzskill.inventory.FileInfo]" in out, out
    assert "-> icechunk" in out, out
    assert 'Module has no attribute "no_such_name"' in out, out  # no catch-all __getattr__ for type checkers
    assert 'Module has no attribute "build_registry"' in out, out  # low-level helpers live in their modules


def test_public_api_is_the_verbs_and_their_types() -> None:
    """``__all__`` holds the verbs and their result / error types; the low-level helpers are in their modules."""
    import vzskill
    from vzskill.containers import declared_prefixes
    from vzskill.registry import build_registry

    low_level = {"build_registry", "check_registry", "add_containers", "authorizations", "containers_for",
                 "declared_prefixes", "repository_config", "source_prefixes", "open_location"}
    assert not low_level & set(vzskill.__all__)
    assert {"virtualize", "check", "verify", "open_repo", "create_repo", "storage_for", "WriteResult"} <= set(
        vzskill.__all__
    )
    assert callable(build_registry) and callable(declared_prefixes)
