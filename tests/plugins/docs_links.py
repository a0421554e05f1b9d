"""Relative links between the executed documents: every ``[text](file.md#anchor)`` must resolve.

Anchors are explicit ``<a id="..."></a>`` tags or GitHub heading slugs (lower case, punctuation
dropped, spaces -> ``-``). Links inside code fences and absolute URLs are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
ANCHOR = re.compile(r'<a id="(?P<id>[^"]+)"></a>')
HEADING = re.compile(r"^#{1,6}[ \t]+(?P<title>.+?)[ \t]*#*[ \t]*$", re.M)
FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def prose(text: str) -> str:
    """``text`` with fenced blocks blanked (line count kept)."""
    return FENCE.sub(lambda m: "\n" * m[0].count("\n"), text)


def anchors(path: Path) -> set[str]:
    text = prose(path.read_text(encoding="utf-8"))
    return {m["id"] for m in ANCHOR.finditer(text)} | {slug(m["title"]) for m in HEADING.finditer(text)}


def broken_links(path: Path) -> list[str]:
    """``file:line: target`` for every relative link of ``path`` whose file or anchor does not exist."""
    text = prose(path.read_text(encoding="utf-8"))
    problems = []
    cache: dict[Path, set[str]] = {}
    for match in LINK.finditer(text):
        target = match["target"]
        if "://" in target or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path.resolve()
        line = text.count("\n", 0, match.start()) + 1
        if not linked.exists():
            problems.append(f"{path.name}:{line}: {target} (no such file)")
            continue
        if anchor and linked.suffix == ".md":
            if linked not in cache:
                cache[linked] = anchors(linked)
            if anchor not in cache[linked]:
                problems.append(f"{path.name}:{line}: {target} (no anchor #{anchor} in {linked.name})")
    return problems
