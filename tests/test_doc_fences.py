"""Guard for the executed docs (tests/plugins/docs.py): nothing in the Markdown is silently not run.

* fences Sybil would ignore (```py, ```python3, ```Python, ```python title=..., "``` python") fail;
* an expect-error comment not directly above a ```python fence fails;
* at most 3 skipped blocks across the four files, each with a reason;
* python/pycon blocks counted by an independent line scanner == Sybil code items == items pytest collects;
* visible code in SKILL.md / examples.md names no test fixture of the servers; every doc_bindings name is
  used by a visible block and no visible placeholder runs unbound (static, ``binding_problems``);
* the plugin itself: expected-error, skip location, pycon, bindings and the Sybil #118 work-around on a
  broken document.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.docs import (
    DOC_FILES,
    EXPECT_ERROR,
    ROOT,
    SYBIL,
    ExpectErrorEvaluator,
    binding_problems,
    is_visible,
    make_sybil,
)
from tests.plugins.docs_links import broken_links
from tests.plugins.docs_paste import USER_SETUPS, UserSetup, run_as_pasted, unstated

MAX_SKIPPED_BLOCKS = 3

FENCE = re.compile(r"^(?P<prefix>[ \t]*(?:>[ \t]*)*(?:(?:[-*+]|\d+[.)])[ \t]+)?)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
EXECUTED_INFO = ("python", "pycon")
PYTHONISH = re.compile(r"^(py|py3|python\d*(\.\d+)*|pycon|ipython\d*|python-?repl|repl)$", re.IGNORECASE)
INVISIBLE = re.compile(r"^[ \t]*<!--+\s*(?:;\s*)?(?:invisible-)?code(?:-block)?:?[ \t]*python[ \t]*$")
SKIP = re.compile(r"^[ \t]*<!--+\s*(?:;\s*)?skip:?[ \t]*(?P<args>.*?)[ \t]*(?:--+>)?[ \t]*$")
EXPECT_ANY = re.compile(r"<!--+\s*expect[-_ ]?error", re.IGNORECASE)


@dataclass
class Fence:
    path: str
    line: int  # 1-based line of the opening fence
    info: str  # raw info string (everything after the backticks)


def doc_paths() -> list[Path]:
    return [ROOT / name for name in DOC_FILES if (ROOT / name).exists()]


def scan_fences(text: str, path: str) -> tuple[list[Fence], list[int]]:
    """CommonMark-style fences (nothing opens inside an open fence). Returns (openings, lines inside fences)."""
    fences: list[Fence] = []
    inside: list[int] = []
    open_fence: re.Match[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if open_fence is None:
            if match and not (match["fence"][0] == "`" and "`" in match["info"]):
                open_fence = match
                fences.append(Fence(path, number, match["info"]))
            continue
        if (
            match
            and match["fence"][0] == open_fence["fence"][0]
            and len(match["fence"]) >= len(open_fence["fence"])
            and not match["info"].strip()
        ):
            open_fence = None
        else:
            inside.append(number)
    return fences, inside


def fenced_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(opening line, info, body lines) of every top-level fenced block."""
    fences, inside = scan_fences(text, "")
    lines = text.splitlines()
    inside_set = set(inside)
    blocks = []
    for fence in fences:
        body = []
        number = fence.line + 1
        while number in inside_set:
            body.append(lines[number - 1])
            number += 1
        blocks.append((fence.line, fence.info.strip(), body))
    return blocks


def executed_block_lines(path: Path) -> list[int]:
    """Lines of the code blocks Sybil must run: ```python/```pycon fences + invisible python blocks."""
    text = path.read_text(encoding="utf-8")
    fences, _ = scan_fences(text, path.name)
    lines = [f.line for f in fences if f.info in EXECUTED_INFO]
    lines += [n for n, line in enumerate(text.splitlines(), start=1) if INVISIBLE.match(line)]
    return sorted(lines)


def sybil_examples(path: Path):
    document = make_sybil().parse(path)
    return list(document.examples())


def is_skip(example) -> bool:
    return type(example.region.evaluator).__name__ == "Skipper"


def is_code(example) -> bool:
    return isinstance(example.region.parsed, str) and not is_skip(example)


# ----------------------------------------------------------------------------------------------


def test_all_doc_files_exist_and_are_collected_by_default():
    missing = [name for name in DOC_FILES if not (ROOT / name).exists()]
    assert not missing, f"missing doc files in {ROOT}: {missing}"
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    listed = [name for name in DOC_FILES if name in testpaths or name.split("/")[0] in testpaths]
    assert listed == list(DOC_FILES), f"pyproject [tool.pytest.ini_options] testpaths must list {DOC_FILES} (or their folder)"


@pytest.mark.parametrize("path", doc_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_silently_ignored_fences(path: Path):
    fences, _ = scan_fences(path.read_text(encoding="utf-8"), path.name)
    bad = []
    for fence in fences:
        first = re.split(r"[\s{,;]", fence.info.strip(), maxsplit=1)[0] if fence.info.strip() else ""
        if fence.info in EXECUTED_INFO:
            continue
        if PYTHONISH.match(first) or fence.info.strip() in EXECUTED_INFO:
            bad.append(f"{path.name}:{fence.line}: ```{fence.info} is not run by the doc tests -> write exactly ```python (or ```pycon)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", doc_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_expect_error_directly_above_python_fence(path: Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    _, inside = scan_fences("\n".join(lines), path.name)
    inside_set = set(inside)
    bad = []
    for index, line in enumerate(lines):
        number = index + 1
        if number in inside_set or not EXPECT_ANY.search(line):
            continue
        if not EXPECT_ERROR.search(line + "\n"):
            bad.append(f"{path.name}:{number}: malformed, write <!-- expect-error: ExcType: message substring -->")
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        fence = FENCE.match(following)
        if not ((fence and fence["info"] == "python") or INVISIBLE.match(following)):
            bad.append(f"{path.name}:{number}: expect-error must be on the line directly above a ```python fence")
    assert not bad, "\n".join(bad)
    # and the plugin attached every one of them
    expected = sum(1 for n, line in enumerate(lines, start=1) if n not in inside_set and EXPECT_ERROR.search(line + "\n"))
    attached = sum(1 for ex in sybil_examples(path) if isinstance(ex.region.evaluator, ExpectErrorEvaluator))
    assert attached == expected


def test_skips_are_few_visible_and_have_reasons():
    skipped: list[str] = []
    bad: list[str] = []
    for path in doc_paths():
        pending = None  # "next" | "start"
        for example in sybil_examples(path):
            if is_skip(example):
                action, reason = example.region.parsed
                where = f"{path.name}:{example.line}"
                if action in ("next", "start"):
                    if not reason or not reason.strip():
                        bad.append(f"{where}: skip: {action} needs a visible reason: <!-- skip: {action} \"why\" -->")
                    pending = action
                elif action == "end":
                    pending = None
                continue
            if pending is not None:
                skipped.append(f"{path.name}:{example.line}")
                if pending == "next":
                    pending = None
    assert not bad, "\n".join(bad)
    assert len(skipped) <= MAX_SKIPPED_BLOCKS, f"{len(skipped)} skipped blocks (max {MAX_SKIPPED_BLOCKS}): {skipped}"


@pytest.mark.parametrize("path", doc_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_block_is_a_sybil_item(path: Path):
    scanned = executed_block_lines(path)
    examples = sybil_examples(path)
    code = sorted(ex.line for ex in examples if is_code(ex))
    only_scanned = sorted(set(scanned) - set(code))
    only_sybil = sorted(set(code) - set(scanned))
    assert scanned == code, (
        f"{path.name}: {len(scanned)} python/pycon blocks but {len(code)} Sybil code items; "
        f"not run: lines {only_scanned}; run but not a top-level block: lines {only_sybil}"
    )
    text = path.read_text(encoding="utf-8").splitlines()
    _, inside = scan_fences("\n".join(text), path.name)
    skip_lines = [n for n, line in enumerate(text, start=1) if n not in set(inside) and SKIP.match(line)]
    assert sorted(ex.line for ex in examples if is_skip(ex)) == skip_lines


SHELL_INFO = ("bash", "sh", "shell", "console", "zsh")


def documented_cli_calls(path: Path) -> list[tuple[int, list[str]]]:
    """`vzskill ...` command lines in the shell blocks of ``path`` (comments and `$ ` prompts stripped)."""
    calls = []
    for start, info, body in fenced_blocks(path.read_text(encoding="utf-8")):
        if info.split(" ")[0] not in SHELL_INFO:
            continue
        joined: list[tuple[int, str]] = []
        for offset, line in enumerate(body, start=1):
            if joined and joined[-1][1].endswith("\\"):
                joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + line.strip())
            else:
                joined.append((start + offset, line.strip()))
        for number, line in joined:
            line = line.removeprefix("$ ").strip()
            if not line.startswith("vzskill "):
                continue
            argv = shlex.split(line, comments=True)
            if "|" in argv:
                argv = argv[: argv.index("|")]
            calls.append((number, argv))
    return calls


@pytest.mark.parametrize("path", doc_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documented_cli_calls_parse(path: Path, capsys: pytest.CaptureFixture[str]):
    """Every `vzskill ...` line in a shell block is accepted by the current CLI's argument parser
    (not executed here: tests/test_cli.py runs the commands)."""
    from vzskill.cli import build_parser

    bad = []
    for number, argv in documented_cli_calls(path):
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exc:
            if exc.code not in (0, None):
                bad.append(f"{path.name}:{number}: {' '.join(argv)} -> {capsys.readouterr().err.strip()}")
    assert not bad, "\n".join(bad)


def expected_item_count() -> dict[str, int]:
    return {path.relative_to(ROOT).as_posix(): len(sybil_examples(path)) for path in doc_paths()}


@pytest.mark.timeout(120)
def test_pytest_collects_every_item():
    """What a plain `pytest` run collects from the md files == the blocks in them (nothing dropped)."""
    expected = expected_item_count()
    if not expected:
        pytest.fail(f"none of {DOC_FILES} exist")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *expected],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )
    counts: dict[str, int] = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(?P<file>[\w./-]+\.md)::line:\d+,column:\d+$", line.strip())
        if match:
            counts[match["file"]] = counts.get(match["file"], 0) + 1
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert counts == expected, f"collected {counts}, blocks {expected}"


# ----------------------------------------------------------------------------------------------
# what a reader copies: no test fixture in visible code, every binding used

#: Names a reader cannot have (the loopback servers); data_dir / work_dir are explained in the docs.
SERVER_FIXTURES = ("make_bucket", "s3_public_bucket", "s3_data_bucket", "s3_endpoint", "http_base_url")
READER_DOCS = DOC_FILES  # every executed document is read by someone who copies from it


@pytest.mark.parametrize("name", READER_DOCS)
def test_visible_code_names_no_server_fixture(name: str):
    document = SYBIL.parse(ROOT / name)
    pattern = re.compile(rf"\b({'|'.join(SERVER_FIXTURES)})\b")
    hits = []
    for _, region in document.regions:
        if isinstance(region.parsed, str) and is_visible(document, region):
            line = document.text.count("\n", 0, region.start) + 1
            hits += [f"{name}:{line}: {m[0]}" for m in pattern.finditer(str(region.parsed))]
    assert not hits, f"bind these in an invisible block (doc_bindings), visible code is copied by readers: {hits}"


@pytest.mark.parametrize("path", doc_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path):
    """Every [text](file.md#anchor) between the documents points at a file and an anchor that exist
    (entries moved between files keep their links working)."""
    assert broken_links(path) == []


def test_broken_links_are_found(tmp_path: Path):
    """Negative control for the link check: a missing file, a missing anchor, a fenced link (ignored)."""
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "b.md").write_text('<a id="there"></a>\n## A heading: `x` → y\n')
    doc = tmp_path / "a.md"
    doc.write_text("[ok](refs/b.md#there) [ok](refs/b.md#a-heading-x--y) [no](refs/c.md) [no](refs/b.md#gone)\n"
                   "```text\n[fenced](nowhere.md)\n```\n[self](#nope)\n")
    assert broken_links(doc) == ["a.md:1: refs/c.md (no such file)", "a.md:1: refs/b.md#gone (no anchor #gone in b.md)",
                                 "a.md:5: #nope (no anchor #nope in a.md)"]


@pytest.mark.parametrize("path", doc_paths(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_binding_is_used_and_no_placeholder_runs_unbound(path: Path):
    assert binding_problems(SYBIL.parse(path)) == []


BINDINGS_DOC = '''\
# bindings

```python
endpoint = "placeholder-before"
```

<!-- invisible-code-block: python
doc_bindings = {"endpoint": "bound", "renamed": "x"}
-->

```python
import os
endpoint = "http://127.0.0.1:9000"
later = endpoint
assert endpoint == "bound"
print("x")
endpoint = "not at the top"
```

<!-- invisible-code-block: python
doc_bindings = dict(endpoint="not a literal")
-->
'''


def test_binding_problems_on_a_broken_document(tmp_path: Path):
    doc = tmp_path / "SKILL.md"
    doc.write_text(BINDINGS_DOC)
    problems = binding_problems(make_sybil(tmp_path).parse(doc))
    assert problems == [
        "SKILL.md:20: doc_bindings must be a dict literal with string keys",
        "SKILL.md:3: visible `endpoint = ...` would run with its placeholder: no doc_bindings in force here "
        "binds 'endpoint' (declare it in an invisible block above)",
        "SKILL.md:7: doc_bindings['renamed'] is used by no visible block below it "
        "(a top-of-block `renamed = ...` was renamed or moved?)",
    ], problems


# ----------------------------------------------------------------------------------------------
# the plugin itself, on a deliberately broken document (subprocess, so the real hooks run)

BROKEN = '''\
# broken

```python
x = 1
```

<!-- expect-error: ValueError: invalid literal -->
```python
int("abc")
```

<!-- expect-error: ValueError: some other message -->
```python
int("abc")
```

<!-- expect-error: KeyError: abc -->
```python
int("abc")
```

<!-- expect-error: ValueError: anything -->
```python
y = 2
```

```python
try:
    {}["k"]
except KeyError:
    raise ValueError("chained") from None
```

```python
import pytest
try:
    {}["k"]
except KeyError:
    pytest.fail("inside except")
```

```pycon
>>> x + 1
2
>>> y
2
```

```pycon
>>> x + 1
3
```

<!-- skip: next "needs a real bucket" -->
```python
raise RuntimeError("must not run")
```

<!-- invisible-code-block: python
import os
assert work_dir.is_dir() and not any(work_dir.iterdir())
assert os.environ["VZ_DOC_AUTOUSE"] == "1" and "monkeypatch" not in globals()
-->

<!-- invisible-code-block: python
doc_bindings = {"endpoint": "bound"}
-->

```python
endpoint = "http://127.0.0.1:9000"
assert endpoint == "bound"
endpoint = "below the top: not bound"
```

<!-- expect-error: ValueError: bound at line 79 -->
```python
endpoint = "placeholder"
import sys
raise ValueError(f"{endpoint} at line {sys._getframe().f_lineno}")
```

```python
assert endpoint == "bound" and doc_bindings == {"endpoint": "bound"}
```
'''

CONFTEST = '''\
from pathlib import Path
from tests.plugins.docs import DocFile, make_sybil

import pytest

pytest_plugins = ["tests.plugins.docs"]


@pytest.fixture(autouse=True)
def _autouse_marker(monkeypatch):
    monkeypatch.setenv("VZ_DOC_AUTOUSE", "1")

SYBIL = make_sybil(Path(__file__).parent)

def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".md":
        return DocFile.from_parent(parent, path=file_path, sybils=[SYBIL])
'''

SELECTION = '''\
# selection

```python
a = 1
```

<!-- skip: next "not here" -->
```python
raise RuntimeError("skipped block ran")
```

```python
assert a == 1
```

```python
undefined_function()
```

```python
c = 3
```
'''


@pytest.mark.timeout(120)
def test_plugin_on_a_broken_document(tmp_path: Path):
    (tmp_path / "SKILL.md").write_text(BROKEN)
    (tmp_path / "sel.md").write_text(SELECTION)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "--tb=short", "SKILL.md",
         "sel.md::line:12,column:1", "sel.md::line:20,column:1"],  # selected alone: blocks above run first
        cwd=tmp_path, capture_output=True, text=True, timeout=110, env=env,
    )
    out = result.stdout
    assert "INTERNALERROR" not in out + result.stderr, out[-3000:]
    outcomes = {int(line): word for word, line in re.findall(r"^(PASSED|FAILED|ERROR) SKILL\.md::line:(\d+)", out, re.MULTILINE)}
    assert outcomes == {
        3: "PASSED",
        8: "PASSED",  # right type + message
        13: "FAILED",  # message differs
        18: "FAILED",  # wrong type
        23: "FAILED",  # nothing raised
        27: "FAILED",  # chained exception (#118)
        34: "FAILED",  # pytest.fail inside except (#118)
        42: "PASSED",  # pycon, shared namespace (y from the no-error block)
        49: "FAILED",  # pycon mismatch
        54: "PASSED",  # the skip comment itself
        59: "PASSED",  # invisible block: per-document work_dir, autouse fixtures applied
        65: "PASSED",  # doc_bindings declared
        69: "PASSED",  # top-of-block assignment bound, a later one not
        76: "PASSED",  # bound + expect-error; .md line numbers unchanged
        82: "PASSED",
    }, out[-4000:]
    assert "SKIPPED [1] SKILL.md:55: needs a real bucket" in out, out[-2000:]
    selected = {int(line): word for word, line in re.findall(r"^(PASSED|FAILED) sel\.md::line:(\d+)", out, re.MULTILINE)}
    assert selected == {12: "PASSED", 20: "FAILED"}, out[-3000:]
    assert "PrerequisiteFailed: sel.md:16: an earlier block" in out and "skipped block ran" not in out
    assert "expected substring: 'some other message'" in out
    assert "expect-error: KeyError: abc -> got builtins.ValueError instead" in out
    assert "the block raised nothing" in out
    assert "SKILL.md:50: >>> x + 1" in out
    assert result.returncode == 1


def test_scanner_flags_ignored_fences(tmp_path: Path):
    text = "```py\nx\n```\n```python title=a.py\nx\n```\n```Python\nx\n```\n``` python\nx\n```\n````markdown\n```python\nx\n```\n````\n```python\nok\n```\n"
    fences, inside = scan_fences(text, "t.md")
    assert [f.info for f in fences] == ["py", "python title=a.py", "Python", " python", "markdown", "python"]
    assert 14 in inside  # the nested ```python is text, not a block


def test_cli_line_extraction(tmp_path: Path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "```bash\n$ vzskill check a.nc b.nc \\\n    --json   # comment\nls -l\nvzskill doctor | head\n```\n"
        "```text\nvzskill not-a-shell-block\n```\n"
    )
    assert documented_cli_calls(doc) == [(2, ["vzskill", "check", "a.nc", "b.nc", "--json"]), (5, ["vzskill", "doctor"])]
    from vzskill.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["check", "a.nc", "--no-such-flag"])
    assert exc.value.code == 2


# ----------------------------------------------------------------------------------------------
# Copy-paste truth (tests/plugins/docs_paste.py): the visible blocks alone, in order, in a fresh Python
# ----------------------------------------------------------------------------------------------

#: Run on every test run (the documents readers copy whole examples from; ~25 s). The other documents
#: run with VZSKILL_PASTE=all (`make test-paste`, ~2 min on 2 cores): their code costs what it costs.
PASTE_ALWAYS = ("SKILL.md", "README.md", "examples.md")
PASTE_ALL = os.environ.get("VZSKILL_PASTE") == "all"


def test_every_document_has_a_user_setup_and_the_documents_state_it():
    assert sorted(USER_SETUPS) == sorted(DOC_FILES)
    problems = [p for doc, setup in USER_SETUPS.items() if not setup.skip for p in unstated(doc, setup)]
    assert not problems, problems
    for doc, setup in USER_SETUPS.items():
        if setup.until:  # the cut is a heading of the document, with a reason
            assert setup.reason and re.search(rf"^{re.escape(setup.until)}", (ROOT / doc).read_text(), re.M), doc


@pytest.mark.timeout(300)
@pytest.mark.parametrize("doc", DOC_FILES)
def test_visible_blocks_run_as_pasted(doc: str, tmp_path: Path):
    """A reader pastes the rendered blocks in order into one fresh Python in an empty folder, after the
    set-up the document states: every block runs (or raises what its expect-error says)."""
    setup = USER_SETUPS[doc]
    if setup.skip:
        pytest.skip(f"{doc}: not pasted: {setup.skip}")
    if doc not in PASTE_ALWAYS and not PASTE_ALL:
        pytest.skip(f"{doc}: pasted with VZSKILL_PASTE=all (make test-paste) only, to keep the suite short")
    folder = tmp_path / "reader"
    folder.mkdir()
    result = run_as_pasted(doc, folder)
    assert result.ok, result.message()
    if setup.until:
        print(f"{doc}: blocks from {setup.until!r} on not pasted: {setup.reason}")


def test_paste_run_finds_hidden_wiring_and_wrong_errors(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "<!-- invisible-code-block: python\nhidden = 41\n-->\n\n"
        "```python\nx = 1\n```\n\n"
        "<!-- expect-error: KeyError: 'b' -->\n```python\n{'a': 1}['b']\n```\n\n"
        "```pycon\n>>> x + 1\n2\n```\n\n"
        "```python\nassert hidden + x == 42\n```\n"
    )
    folder = tmp_path / "reader"
    folder.mkdir()
    result = run_as_pasted("doc.md", folder, UserSetup(), root=tmp_path)
    assert (result.failed_line, result.error) == (19, "NameError: name 'hidden' is not defined"), result.message()
    assert "doc.md\", line 20" in result.output  # the traceback names the .md line
    doc.write_text("<!-- expect-error: KeyError: 'b' -->\n```python\n{'b': 1}['b']\n```\n")
    result = run_as_pasted("doc.md", folder, UserSetup(), root=tmp_path)
    assert (result.failed_line, "raised nothing" in result.error) == (2, True), result.message()
    doc.write_text("```pycon\n>>> 1 + 1\n3\n```\n\n```python\nimport tests.plugins\n```\n")
    result = run_as_pasted("doc.md", folder, UserSetup(), root=tmp_path)
    assert result.failed_line == 1 and "Expected:\n    3\nGot:\n    2" in result.error, result.message()
    doc.write_text("```python\nimport tests.plugins\n```\n")  # the repository is not on a reader's sys.path
    result = run_as_pasted("doc.md", folder, UserSetup(), root=tmp_path)
    assert result.error == "ModuleNotFoundError: No module named 'tests'", result.message()
