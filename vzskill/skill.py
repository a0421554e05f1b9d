"""Install the agent skill: a folder named after SKILL.md's ``name`` that works on its own.

Layout of ``DEST/<name>/`` (``install_skill``; ``make dist`` builds the same into ``dist/``)::

    SKILL.md  examples.md  troubleshooting.md
    references/*.md           the reference files SKILL.md links (read when their topic comes up)
    scripts/                  pip-installable copy of the helper: ``pip install ./scripts``
        pyproject.toml        vzskill's metadata (dependencies from the registry, console script)
        constraints.txt       the tested versions: ``pip install -c scripts/constraints.txt ./scripts``
        vzskill/*.py          the package source
        vzskill/skill/*       relative symlinks to the skill folder's files and references/ (package data)

Where the files come from:

* a source / editable checkout: the repository root next to the ``vzskill`` package (the files
  that the doc tests execute) and its ``pyproject.toml``;
* an installed wheel (including one built from a skill folder's ``scripts/``): the package data in
  ``vzskill/skill/`` and the installed distribution's metadata. In the repository the package data
  are symlinks to the root files (``python -m vzskill.skill --sync`` recreates them), so they
  cannot drift.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

SKILL_FILES = ("SKILL.md", "examples.md", "troubleshooting.md")
#: The folder of reference files (``*.md``, one level) shipped next to SKILL.md.
REFERENCES = "references"
#: Package data in ``vzskill/skill/``: the skill files and the tested pins (+ the ``references`` folder).
PACKAGE_DATA = (*SKILL_FILES, "constraints.txt")
SCRIPTS = "scripts"
#: Extras copied into the bundled pyproject.toml (``test`` needs the repository's test suite).
BUNDLED_EXTRAS = ("kerchunk", "scale")
PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_COPIES = PACKAGE_DIR / "skill"
CHECKOUT_ROOT = PACKAGE_DIR.parent

_FRONTMATTER = re.compile(r"\A---[ \t]*\n(?P<body>.*?)\n---[ \t]*\n", re.DOTALL)
_NAME = re.compile(r"^name:[ \t]*(?P<q>['\"]?)(?P<name>[^'\"\n#]+?)(?P=q)[ \t]*$", re.MULTILINE)
_EXTRA_MARKER = re.compile(r"^(?P<req>[^;]+?)\s*;\s*extra\s*==\s*['\"](?P<extra>[\w.-]+)['\"]\s*$")


class SkillError(RuntimeError):
    """The skill files cannot be found or installed."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SKILL_FILES)


def _in_checkout() -> bool:
    return (CHECKOUT_ROOT / "pyproject.toml").is_file() and _complete(CHECKOUT_ROOT)


def source_dir() -> Path:
    """The directory holding SKILL.md, examples.md and troubleshooting.md (checkout first, then package data)."""
    if _in_checkout():
        return CHECKOUT_ROOT
    if _complete(PACKAGE_COPIES):
        return PACKAGE_COPIES
    missing = [name for name in SKILL_FILES if not (CHECKOUT_ROOT / name).is_file() and not (PACKAGE_COPIES / name).is_file()]
    raise SkillError(
        f"skill files not found ({', '.join(missing)} missing in {CHECKOUT_ROOT} and {PACKAGE_COPIES}) "
        "-> reinstall vzskill, or run from a source checkout"
    )


def skill_name(skill_md: str | os.PathLike[str] | None = None) -> str:
    """The ``name`` from SKILL.md's YAML frontmatter."""
    path = Path(skill_md) if skill_md is not None else source_dir() / "SKILL.md"
    text = path.read_text(encoding="utf-8")
    front = _FRONTMATTER.match(text)
    match = _NAME.search(front["body"]) if front else None
    if match is None:
        raise SkillError(f"{path}: no 'name:' in the YAML frontmatter -> start the file with ---, name: ..., ---")
    return match["name"].strip()


def project_metadata() -> dict[str, Any]:
    """vzskill's name, version, description, Python bound, dependencies and bundled extras.

    Read from the checkout's ``pyproject.toml`` when there is one (the file the tests install),
    else from the installed distribution's metadata.

    Returns
    -------
    dict
        Keys ``name``, ``version``, ``description``, ``requires-python``, ``dependencies`` (list of
        requirement strings) and ``optional-dependencies`` (extra -> list, only ``BUNDLED_EXTRAS``).
    """
    if (CHECKOUT_ROOT / "pyproject.toml").is_file():
        project = tomllib.loads((CHECKOUT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        extras = project.get("optional-dependencies", {})
        return {
            "name": project["name"],
            "version": project["version"],
            "description": project.get("description", ""),
            "requires-python": project.get("requires-python", ">=3.12"),
            "dependencies": list(project.get("dependencies", [])),
            "optional-dependencies": {k: list(extras[k]) for k in BUNDLED_EXTRAS if k in extras},
        }
    try:
        dist = metadata.distribution("vzskill")
    except metadata.PackageNotFoundError as exc:
        raise SkillError("vzskill's metadata not found -> reinstall vzskill (pip install ./scripts in the skill folder)") from exc
    dependencies: list[str] = []
    optional: dict[str, list[str]] = {}
    for requirement in dist.requires or []:
        marked = _EXTRA_MARKER.match(requirement)
        if marked is None:
            dependencies.append(requirement)
        elif marked["extra"] in BUNDLED_EXTRAS:
            optional.setdefault(marked["extra"], []).append(marked["req"])
    return {
        "name": dist.metadata["Name"],
        "version": dist.version,
        "description": dist.metadata.get("Summary", "") or "",
        "requires-python": dist.metadata.get("Requires-Python", ">=3.12") or ">=3.12",
        "dependencies": dependencies,
        "optional-dependencies": optional,
    }


def _toml(value: Any) -> str:
    # TOML basic strings and arrays of them are valid JSON for the plain ASCII values used here.
    return json.dumps(value, ensure_ascii=True)


def scripts_pyproject(meta: dict[str, Any] | None = None) -> str:
    """The ``pyproject.toml`` of the bundled ``scripts/`` folder (vzskill installable on its own)."""
    meta = project_metadata() if meta is None else meta
    lines = [
        "# Generated by `vzskill install-skill` / `make dist`: vzskill installable from this folder.",
        "#   pip install ./scripts                              (run in the skill folder)",
        "#   pip install -c scripts/constraints.txt ./scripts   (exactly the tested versions)",
        "[build-system]",
        'requires = ["setuptools>=77"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f"name = {_toml(meta['name'])}",
        f"version = {_toml(meta['version'])}",
        f"description = {_toml(meta['description'])}",
        'license = "Apache-2.0"',
        f"requires-python = {_toml(meta['requires-python'])}",
        "dependencies = [",
        *(f"    {_toml(dep)}," for dep in meta["dependencies"]),
        "]",
        "",
        "[project.optional-dependencies]",
        *(f"{extra} = {_toml(reqs)}" for extra, reqs in meta["optional-dependencies"].items()),
        "",
        "[project.scripts]",
        'vzskill = "vzskill.cli:main"',
        "",
        "[tool.setuptools]",
        'packages = ["vzskill"]',
        "",
        "[tool.setuptools.package-data]",
        f"vzskill = {_toml(['py.typed', *(f'skill/{name}' for name in PACKAGE_DATA), f'skill/{REFERENCES}/*.md'])}",
        "",
    ]
    return "\n".join(lines)


def _constraints_file() -> Path:
    candidate = (CHECKOUT_ROOT if _in_checkout() else PACKAGE_COPIES) / "constraints.txt"
    if not candidate.is_file():
        raise SkillError(f"{candidate} not found -> reinstall vzskill, or run from a source checkout")
    return candidate


def write_scripts(folder: Path) -> Path:
    """Lay out ``folder/scripts/``: pyproject.toml, constraints.txt and the vzskill package source.

    Built next to the old copy and swapped in, so an interrupted install never leaves half a package.

    Parameters
    ----------
    folder
        The skill folder (holds SKILL.md); ``scripts/`` inside it is replaced.

    Returns
    -------
    Path
        ``folder / "scripts"``.
    """
    tmp = folder / f".{SCRIPTS}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    package = tmp / "vzskill"
    package.mkdir(parents=True)
    for source in sorted(PACKAGE_DIR.iterdir()):
        if source.is_file() and (source.suffix == ".py" or source.name == "py.typed"):
            shutil.copyfile(source, package / source.name)
    data = package / "skill"
    data.mkdir()
    (data / "constraints.txt").symlink_to(Path("..", "..", "constraints.txt"))
    for name in (*SKILL_FILES, REFERENCES):  # the skill folder's own files: one copy only
        (data / name).symlink_to(Path("..", "..", "..", name))
    shutil.copyfile(_constraints_file(), tmp / "constraints.txt")
    (tmp / "pyproject.toml").write_text(scripts_pyproject(), encoding="utf-8")
    scripts = folder / SCRIPTS
    if scripts.is_symlink() or scripts.is_file():
        scripts.unlink()
    elif scripts.exists():
        shutil.rmtree(scripts)
    os.replace(tmp, scripts)
    return scripts


def reference_files(root: Path) -> list[Path]:
    """The ``references/*.md`` files under ``root`` (sorted; none when the folder is absent)."""
    folder = root / REFERENCES
    return sorted(p for p in folder.glob("*.md") if p.is_file()) if folder.is_dir() else []


def _copy_references(src: Path, folder: Path) -> None:
    """Replace ``folder/references`` with a copy of ``src/references`` (built aside, then swapped in)."""
    tmp = folder / f".{REFERENCES}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for path in reference_files(src):
        shutil.copyfile(path, tmp / path.name)
    target = folder / REFERENCES
    old = folder / f".{REFERENCES}.old"
    if old.exists():
        shutil.rmtree(old)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old)


def install_skill(dest: str | os.PathLike[str]) -> Path:
    """Lay out ``dest/<name>/`` with the skill files and the bundled helper in ``scripts/``.

    Parameters
    ----------
    dest
        The skills directory (e.g. ``~/.claude/skills`` or ``.agents/skills``); created if needed.

    Returns
    -------
    Path
        The skill folder. Re-installing replaces the three Markdown files, ``references/`` and
        ``scripts/``; other files in the folder are left alone.
    """
    src = source_dir()
    name = skill_name(src / "SKILL.md")
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise SkillError(f"{dest} is a file -> pass the skills directory the '{name}' folder goes into")
    folder = dest / name
    folder.mkdir(parents=True, exist_ok=True)
    for filename in SKILL_FILES:
        tmp = folder / f".{filename}.tmp"
        shutil.copyfile(src / filename, tmp)
        os.replace(tmp, folder / filename)
    _copy_references(src, folder)
    write_scripts(folder)
    return folder


def sync_package_copies(root: Path = CHECKOUT_ROOT) -> list[Path]:
    """Make ``vzskill/skill/*`` relative symlinks to the root files (wheels copy their content).

    Returns the entries that were (re)created. Symlinks cannot drift from the files the doc tests run.
    """
    missing = [name for name in PACKAGE_DATA if not (root / name).is_file()]
    if missing:
        raise SkillError(f"{root} is missing {', '.join(missing)}")
    PACKAGE_COPIES.mkdir(exist_ok=True)
    changed = []
    for filename in (*PACKAGE_DATA, REFERENCES):
        link = PACKAGE_COPIES / filename
        target = Path(os.path.relpath(root / filename, PACKAGE_COPIES))
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)
        changed.append(link)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--sync"]:
        for path in sync_package_copies():
            print(f"updated {path}")
        return 0
    if len(args) == 1 and not args[0].startswith("-"):
        print(install_skill(args[0]))
        return 0
    print("usage: python -m vzskill.skill DEST | --sync", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
