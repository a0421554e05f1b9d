"""The skill bundle: install_skill layout (+ the bundled helper in scripts/), `skills-ref validate`,
frontmatter + size rules, links. The one slow test (marked ``slow``) pip-installs scripts/ into a fresh venv."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from vzskill import skill
from vzskill.skill import PACKAGE_DATA, REFERENCES, SCRIPTS, SKILL_FILES, SkillError, install_skill, skill_name

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_KEYS = {"name", "description", "license", "compatibility", "metadata"}  # allowed-tools: not used
NAME_RULE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def frontmatter(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"\A---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, f"{path.name} must start with YAML frontmatter between --- lines"
    return yaml.safe_load(match[1]), text[match.end():]


def skills_ref_validate(folder: Path) -> subprocess.CompletedProcess[str]:
    """`skills-ref validate` (the skills-ref package installs the console script `agentskills`)."""
    exe = Path(sys.executable).with_name("agentskills")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from skills_ref.cli import main; main()"]
    return subprocess.run([*cmd, "validate", str(folder)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_skill(tmp_path_factory.mktemp("skills") / "nested" / "dir")


def test_install_lays_out_a_folder_named_after_the_skill(installed: Path):
    meta, _ = frontmatter(ROOT / "SKILL.md")
    assert installed.name == meta["name"] == skill_name()
    assert sorted(p.name for p in installed.iterdir()) == sorted([*SKILL_FILES, REFERENCES, SCRIPTS])
    for name in SKILL_FILES:
        assert (installed / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_install_copies_every_reference_file(installed: Path):
    """references/*.md: the same files, byte for byte, as plain files (not links into the checkout)."""
    expected = sorted(p.name for p in (ROOT / REFERENCES).glob("*.md"))
    assert expected, "references/ holds no .md file"
    copied = installed / REFERENCES
    assert not copied.is_symlink() and sorted(p.name for p in copied.iterdir()) == expected
    for name in expected:
        assert not (copied / name).is_symlink()
        assert (copied / name).read_bytes() == (ROOT / REFERENCES / name).read_bytes(), name


def test_reinstall_replaces_references_whole(tmp_path: Path):
    folder = install_skill(tmp_path)
    (folder / REFERENCES / "removed-topic.md").write_text("stale")
    install_skill(tmp_path)
    assert not (folder / REFERENCES / "removed-topic.md").exists()
    assert sorted(p.name for p in (folder / REFERENCES).iterdir()) == sorted(p.name for p in (ROOT / REFERENCES).glob("*.md"))
    assert not list(folder.glob(".*.tmp")) and not list(folder.glob(".*.old"))


def _requirement(req: str) -> str:
    """Normalize 'pkg[b,a]>=1' -> 'pkg[a,b]>=1' (metadata sorts extras, pyproject keeps their order)."""
    return re.sub(r"\[([^\]]+)\]", lambda m: "[" + ",".join(sorted(m[1].split(","))) + "]", req.replace(" ", ""))


def test_scripts_is_an_installable_copy_of_the_helper(installed: Path):
    scripts = installed / SCRIPTS
    project = tomllib.loads((scripts / "pyproject.toml").read_text())["project"]
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (project["name"], project["version"], project["requires-python"]) == (root["name"], root["version"], root["requires-python"])
    assert project["dependencies"] == root["dependencies"]
    assert project["optional-dependencies"] == {k: root["optional-dependencies"][k] for k in ("kerchunk", "scale")}
    assert project["scripts"] == {"vzskill": "vzskill.cli:main"}
    assert (scripts / "constraints.txt").read_bytes() == (ROOT / "constraints.txt").read_bytes()
    modules = sorted(p.name for p in (ROOT / "vzskill").glob("*.py"))
    assert sorted(p.name for p in (scripts / "vzskill").glob("*.py")) == modules
    for name in modules:
        assert (scripts / "vzskill" / name).read_bytes() == (ROOT / "vzskill" / name).read_bytes(), name
    assert not list(scripts.rglob("__pycache__"))
    # package data: relative symlinks into the skill folder (one copy of each file, resolved by the build)
    for name in PACKAGE_DATA:
        link = scripts / "vzskill" / "skill" / name
        assert link.is_symlink() and not Path(os.readlink(link)).is_absolute(), name
        assert link.read_bytes() == (ROOT / name).read_bytes(), name
    references = scripts / "vzskill" / "skill" / REFERENCES
    assert references.is_symlink() and references.resolve() == (installed / REFERENCES).resolve()
    package_data = tomllib.loads((scripts / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vzskill"]
    assert f"skill/{REFERENCES}/*.md" in package_data


def test_scripts_metadata_from_an_installed_wheel_matches_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Outside a checkout the bundled pyproject.toml comes from the installed distribution's metadata."""
    from_checkout = skill.project_metadata()
    monkeypatch.setattr(skill, "CHECKOUT_ROOT", tmp_path / "site-packages")
    from_metadata = skill.project_metadata()
    assert {k: from_metadata[k] for k in ("name", "version", "requires-python")} == {
        k: from_checkout[k] for k in ("name", "version", "requires-python")}
    assert sorted(map(_requirement, from_metadata["dependencies"])) == sorted(map(_requirement, from_checkout["dependencies"]))
    assert {k: sorted(map(_requirement, v)) for k, v in from_metadata["optional-dependencies"].items()} == {
        k: sorted(map(_requirement, v)) for k, v in from_checkout["optional-dependencies"].items()}
    assert tomllib.loads(skill.scripts_pyproject(from_metadata))["project"]["name"] == "vzskill"


def test_reinstall_replaces_scripts_whole(tmp_path: Path):
    folder = install_skill(tmp_path)
    (folder / SCRIPTS / "vzskill" / "stale_module.py").write_text("raise SystemExit")
    (folder / SCRIPTS / "build").mkdir()
    install_skill(tmp_path)
    assert not (folder / SCRIPTS / "vzskill" / "stale_module.py").exists()
    assert not (folder / SCRIPTS / "build").exists()
    assert not list(folder.glob(".*.tmp"))


def test_skills_ref_validate_passes(installed: Path):
    result = skills_ref_validate(installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid skill" in result.stdout


def test_skills_ref_validate_rejects_a_broken_copy(tmp_path: Path, installed: Path):
    """Negative control: the validator really runs (wrong folder name + an unknown key)."""
    broken = tmp_path / "wrong-name"
    shutil.copytree(installed, broken)
    text = (broken / "SKILL.md").read_text().replace("\nname:", "\nmodel: opus\nname:", 1)
    (broken / "SKILL.md").write_text(text)
    result = skills_ref_validate(broken)
    assert result.returncode == 1
    assert "must match skill name" in result.stderr and "Unexpected fields" in result.stderr


def test_reinstall_replaces_files_and_rejects_a_file_dest(tmp_path: Path):
    first = install_skill(tmp_path)
    (first / "SKILL.md").write_text("stale")
    (first / "notes.txt").write_text("mine")
    again = install_skill(tmp_path)
    assert again == first
    assert (again / "SKILL.md").read_bytes() == (ROOT / "SKILL.md").read_bytes()
    assert (again / "notes.txt").read_text() == "mine"
    assert not list(again.glob(".*.tmp"))
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(SkillError, match="is a file"):
        install_skill(target)


def test_frontmatter_follows_the_agent_skills_spec():
    meta, _ = frontmatter(ROOT / "SKILL.md")
    assert set(meta) <= ALLOWED_KEYS, f"unexpected keys {set(meta) - ALLOWED_KEYS}"
    assert {"name", "description", "license", "compatibility", "metadata"} <= set(meta)
    name = meta["name"]
    assert isinstance(name, str) and len(name) <= 64 and NAME_RULE.match(name), name
    assert "claude" not in name and "anthropic" not in name
    description = meta["description"]
    assert isinstance(description, str) and 0 < len(description) <= 1024, len(description)
    assert "<" not in description and ">" not in description
    for word in ("NetCDF", "HDF5", "FITS", "kerchunk", "icechunk", "virtual", "without copying", "open_mfdataset"):
        assert word.lower() in description.lower(), f"description should mention {word!r} (trigger word)"
    compatibility = meta["compatibility"]
    assert isinstance(compatibility, str) and 0 < len(compatibility) <= 500
    assert "3.12" in compatibility and "icechunk" in compatibility and "virtualizarr" in compatibility
    assert isinstance(meta["metadata"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta["metadata"].items()), "metadata: str -> str"


def test_skill_md_size_and_links():
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 500
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert "examples.md" in local and "troubleshooting.md" in local
    for link in local:
        assert (ROOT / link).exists(), f"SKILL.md links {link}, which does not exist"
        assert "/" not in link or (link.startswith(f"{REFERENCES}/") and link.count("/") == 1), (
            f"{link}: keep references one level deep (SKILL.md -> file, or SKILL.md -> {REFERENCES}/file)")
    section = text.split("## Reference files: when to read which", 1)[1].split("\n## ", 1)[0]
    bullets = [" ".join(item.split()) for item in re.split(r"^- ", section, flags=re.M)[1:]]
    for path in sorted((ROOT / REFERENCES).glob("*.md")):
        assert f"{REFERENCES}/{path.name}" in local, f"SKILL.md should name {REFERENCES}/{path.name} (and when to read it)"
        item = [b for b in bullets if f"]({REFERENCES}/{path.name})" in b]
        assert item and item[0].startswith("Read [") and (" when " in item[0] or " for " in item[0]), (
            f"{REFERENCES}/{path.name}: name it in a 'Read [...] when/for ...' item of the reference list")
    lowered = text.lower()
    assert re.search(r"read \[?`?examples\.md", lowered) and re.search(r"read \[?`?troubleshooting\.md", lowered)
    assert "grep" in lowered and "references/" in lowered


def test_compatibility_states_the_tested_versions():
    """The versions in the frontmatter are the ones this venv runs the doc tests with."""
    from importlib.metadata import version

    meta, body = frontmatter(ROOT / "SKILL.md")
    for package in ("virtualizarr", "icechunk", "zarr", "xarray", "obstore"):
        tested = version(package)
        assert f"{package} {tested}" in meta["compatibility"] or f"{package}=={tested}" in meta["compatibility"], (
            f"compatibility should state {package} {tested} (the tested version)"
        )
        assert tested in body, f"SKILL.md body should state the tested {package} version {tested}"


def test_package_copies_are_in_sync():
    """Wheels ship vzskill/skill/*.md; refresh them with `python -m vzskill.skill --sync`."""
    stale = [
        name
        for name in PACKAGE_DATA
        if not (skill.PACKAGE_COPIES / name).exists()
        or (skill.PACKAGE_COPIES / name).read_bytes() != (ROOT / name).read_bytes()
    ]
    assert not stale, f"vzskill/skill/{stale} differ from the root files -> run: python -m vzskill.skill --sync"


def test_package_copies_are_used_outside_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(skill, "CHECKOUT_ROOT", tmp_path / "no-checkout")
    assert skill.source_dir() == skill.PACKAGE_COPIES
    monkeypatch.setattr(skill, "PACKAGE_COPIES", tmp_path / "empty")
    with pytest.raises(SkillError, match="skill files not found"):
        install_skill(tmp_path / "dest")


GOTCHAS = {
    "trailing slash": ("url_prefix must end in a / character", "troubleshooting-writing.md#prefix-slash"),
    "authorize at open, also the writing repo": ("including the repository object that wrote", "#unauthorized"),
    "credential sentinels": ("icechunk.credentials.LocalFileSystemAccess", "#unauthorized"),
    "by_coords": ('combine="by_coords"` needs loaded coordinates and no `concat_dim`', "#by-coords-concat-dim"),
    "all-virtual concat": ('coords="minimal", compat="override"', "#lat-2d"),
    "mixed CF time units": ("Mixed CF time units give silently wrong times", "#mixed-time-units"),
    "python version": ("**Python 3.12+.**", "#python-311"),
    "local storage concurrency": ("not safe for concurrent commits", "#conflict"),
    "accessor": ("The accessor is `.vz`", "#virtualize-accessor"),
    "loadable_variables list": ("`loadable_variables` must be a list", "#loadable-tuple"),
    "drop in the parser": ("HDFParser(drop_variables=", "#vlen-references"),
    "ancestry keyword": ("repo.ancestry(branch=...)` is keyword-only", "#ancestry-positional"),
    "process pool": ('get_context("forkserver")', "#process-pool"),
    "homogeneity": ("**Homogeneity**", "#mixed-chunks"),
    "stale sources": ("Sources changed after writing", "#stale-source"),
}


def gotcha_lines() -> list[str]:
    """The Gotchas section's bullet items (continuation lines joined)."""
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    section = text.split("## Gotchas", 1)[1].split("\n## ", 1)[0]
    return [" ".join(item.split()) for item in re.split(r"^- ", section, flags=re.M)[1:]]


@pytest.mark.parametrize("topic", sorted(GOTCHAS))
def test_skill_md_keeps_the_gotchas(topic: str):
    """Each gotcha is one short item that links the entry holding the executed detail."""
    text, link = GOTCHAS[topic]
    items = [item for item in gotcha_lines() if text in item]
    assert items, f"SKILL.md's Gotchas section lost: {topic}"
    assert link in items[0], f"gotcha {topic!r} should link the entry {link}"


def test_gotchas_are_short_and_link_executed_entries():
    """Progressive disclosure: one or two lines each, no code block, every link resolves (docs_links) to
    an entry that has a ```python block."""
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    section = text.split("## Gotchas", 1)[1].split("\n## ", 1)[0]
    assert "```" not in section, "Gotchas hold no code: the linked entries run it"
    for item in gotcha_lines():
        assert len(item) <= 3 * 100, f"gotcha longer than ~2-3 lines: {item[:80]}"
        links = re.findall(r"\]\(([^)#\s]*)#([\w-]+)\)", item)
        assert links, f"gotcha without an entry link: {item[:80]}"
        for doc, anchor in links:
            target = (ROOT / doc).read_text(encoding="utf-8")
            entry = target.split(f'<a id="{anchor}"></a>', 1)
            assert len(entry) == 2, f"{doc}#{anchor}: no such entry"
            assert "```python" in re.split(r'^<a id="', entry[1], maxsplit=1, flags=re.M)[0], f"{doc}#{anchor}: no executed block"


def test_tested_versions_are_named_once():
    """The tested versions appear in SKILL.md only (examples/troubleshooting/references point at it)."""
    from importlib.metadata import version

    pattern = re.compile(rf"virtualizarr {re.escape(version('virtualizarr'))}|icechunk {re.escape(version('icechunk'))},")
    for path in [ROOT / "examples.md", ROOT / "troubleshooting.md", ROOT / "README.md", *sorted((ROOT / REFERENCES).glob("*.md"))]:
        assert not pattern.search(path.read_text(encoding="utf-8")), f"{path.name} repeats the tested versions: name SKILL.md"


def test_benchmark_figures_are_quoted_once():
    """SKILL.md's "Scale" section is the one place of the measured figures in the skill docs."""
    figure = "~21 ms CPU and ~20 KB RAM per file"
    assert figure in (ROOT / "SKILL.md").read_text(encoding="utf-8").split("## Scale", 1)[1].split("\n## ", 1)[0]
    for path in [ROOT / "examples.md", ROOT / "troubleshooting.md", ROOT / "README.md", *sorted((ROOT / REFERENCES).glob("*.md"))]:
        assert figure not in path.read_text(encoding="utf-8"), f"{path.name} repeats the benchmark figures: link SKILL.md#scale"


def test_package_copies_are_symlinks_to_the_root_files():
    """In the repository the package data are symlinks (wheels copy the content), so they cannot drift."""
    for name in (*PACKAGE_DATA, REFERENCES):
        link = skill.PACKAGE_COPIES / name
        assert link.is_symlink(), f"{link} should be a symlink -> run: python -m vzskill.skill --sync"
        assert link.resolve() == (ROOT / name).resolve()


# --------------------------------------------------------------------------------------------
# SLOW (~1.5-2.5 min): the skill folder alone, as a new user's agent has it
# --------------------------------------------------------------------------------------------

INSTALL_LINE = "pip install ./scripts"


def _python312() -> str:
    pyenv = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"
    return str(pyenv) if pyenv.exists() else sys.executable


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bundled_helper_installs_and_runs_in_a_fresh_venv(tmp_path: Path):
    """`pip install ./scripts` (SKILL.md's line, run in the skill folder) into a fresh 3.12 venv, then
    `vzskill doctor` and `vzskill demo --json` from that venv, far from the checkout."""
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    assert INSTALL_LINE in text and "python3.12 -m venv" in text
    folder = install_skill(tmp_path / "skills")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    started = time.monotonic()
    subprocess.run([_python312(), "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    # SKILL.md's line; --no-compile only skips pip's byte-compiling of every installed module (~30 of 56 s
    # on 2 cores; the interpreter compiles what doctor/demo import on first use), nothing else changes
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", "-c", "scripts/constraints.txt", "./scripts"],
        cwd=folder, capture_output=True, text=True, timeout=540, env=env,
    )
    seconds = time.monotonic() - started
    print(f"fresh venv + pip install ./scripts: {seconds:.0f} s")
    assert pip.returncode == 0, pip.stderr[-3000:]
    bin_dir = venv / "bin"
    where = subprocess.run([str(bin_dir / "python"), "-c", "import vzskill; print(vzskill.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy, not the checkout
    doctor = subprocess.run([str(bin_dir / "vzskill"), "doctor", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env=env)
    assert doctor.returncode == 0 and json.loads(doctor.stdout)["ok"] is True, doctor.stdout + doctor.stderr
    demo = subprocess.run([str(bin_dir / "vzskill"), "demo", "--json", "--dir", str(tmp_path / "demo")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, env=env)
    assert demo.returncode == 0, demo.stderr
    out = json.loads(demo.stdout)
    assert out["equal"] is True and out["dims"] == {"time": 12, "lat": 20, "lon": 30}
    # the installed helper lays out the same skill folder (package data copied into the wheel)
    again = subprocess.run([str(bin_dir / "vzskill"), "install-skill", str(tmp_path / "again"), "--json"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 0, again.stderr
    copy = Path(json.loads(again.stdout)["path"])
    for name in SKILL_FILES:
        assert (copy / name).read_bytes() == (folder / name).read_bytes(), name
    references = sorted(p.name for p in (folder / REFERENCES).glob("*.md"))
    assert references and sorted(p.name for p in (copy / REFERENCES).glob("*.md")) == references
    for name in references:
        assert (copy / REFERENCES / name).read_bytes() == (folder / REFERENCES / name).read_bytes(), name
    assert (copy / SCRIPTS / "pyproject.toml").is_file() and skills_ref_validate(copy).returncode == 0
    assert skills_ref_validate(folder).returncode == 0  # still valid after the in-tree build


@pytest.mark.parametrize("path", sorted((ROOT / REFERENCES).glob("*.md")), ids=lambda p: p.name)
def test_reference_files_say_when_to_read_them(path: Path):
    """A reference file opens with its title and 'Read this file when ...' (an agent decides from the top),
    and stays under ~800 lines (split by domain beyond that)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# "), f"{path.name}: start with a '# Title' line"
    assert "Read this file when" in " ".join(lines[:6]), f"{path.name}: say 'Read this file when ...' in its first lines"
    assert len(lines) <= 800, f"{path.name}: {len(lines)} lines, split it by domain"
