"""Install the agent skill: a folder named after SKILL.md's ``name`` holding the three Markdown files.

Where the files come from:

* a source / editable checkout: the repository root next to the ``vzskill`` package (the files
  that the doc tests execute);
* an installed wheel: the package data in ``vzskill/skill/`` - in the repository these are symlinks
  to the root files (``python -m vzskill.skill --sync`` recreates them), so they cannot drift.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

SKILL_FILES = ("SKILL.md", "examples.md", "troubleshooting.md")
PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_COPIES = PACKAGE_DIR / "skill"
CHECKOUT_ROOT = PACKAGE_DIR.parent

_FRONTMATTER = re.compile(r"\A---[ \t]*\n(?P<body>.*?)\n---[ \t]*\n", re.DOTALL)
_NAME = re.compile(r"^name:[ \t]*(?P<q>['\"]?)(?P<name>[^'\"\n#]+?)(?P=q)[ \t]*$", re.MULTILINE)


class SkillError(RuntimeError):
    """The skill files cannot be found or installed."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in SKILL_FILES)


def source_dir() -> Path:
    """The directory holding SKILL.md, examples.md and troubleshooting.md (checkout first, then package data)."""
    if (CHECKOUT_ROOT / "pyproject.toml").is_file() and _complete(CHECKOUT_ROOT):
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


def install_skill(dest: str | os.PathLike[str]) -> Path:
    """Lay out ``dest/<name>/`` with SKILL.md, examples.md and troubleshooting.md; return that folder.

    ``dest`` is the skills directory (e.g. ``~/.claude/skills`` or ``.agents/skills``); it is created
    if needed. Re-installing replaces the three files (other files in the folder are left alone).
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
    return folder


def sync_package_copies(root: Path = CHECKOUT_ROOT) -> list[Path]:
    """Make ``vzskill/skill/*.md`` relative symlinks to the root Markdown files (wheels copy their content).

    Returns the entries that were (re)created. Symlinks cannot drift from the files the doc tests run.
    """
    if not _complete(root):
        raise SkillError(f"{root} is missing one of {', '.join(SKILL_FILES)}")
    PACKAGE_COPIES.mkdir(exist_ok=True)
    changed = []
    for filename in SKILL_FILES:
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
