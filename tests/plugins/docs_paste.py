"""Copy-paste truth: a document's VISIBLE python blocks, run in order as a reader would paste them.

Sybil (tests/plugins/docs.py) runs every block with the test fixtures and the invisible blocks. A reader
has neither: they paste the rendered blocks, in order, into one fresh Python session in an empty
folder, after doing what the document tells them to do first. ``run_as_pasted`` does exactly that:

* a fresh ``python`` subprocess (the project's interpreter, vzskill installed; the repository is NOT on
  ``sys.path``, so ``tests.plugins`` cannot be imported) with an empty temporary folder as its cwd;
* first the document's user set-up (``USER_SETUPS``): the shell commands it tells the reader to run,
  then the Python it tells them to set (``data_dir = Path("data").resolve()`` ...). Every line of that
  set-up is quoted from the document that states it (``unstated``), so the set-up a reader needs is in
  the rendered text, not only here;
* then the visible ```python / ```pycon blocks in file order, in one namespace; no invisible block,
  no ``doc_bindings`` (the placeholders run as written: where they name a server the reader supplies,
  the document is cut there, ``until`` with its reason, or skipped as a whole);
* an ``<!-- expect-error: T: msg -->`` block must raise T with msg (the reader sees that error and goes
  on); a pycon block runs as a doctest. The first failing block stops the run: its line and error are
  the result (later blocks would only fail because of it).

A block that needs a name only an invisible block defines fails here with its NameError: that is a
defect of the document (hidden wiring), fixed in the document.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sybil import Example

from tests.plugins.docs import ROOT, ExpectErrorEvaluator, is_visible, make_sybil
from tests.plugins.docs_setup import SETUP_HEADING, setup_code

#: What the examples and references say a reader runs first (examples.md "Conventions used here" and
#: troubleshooting.md "Setup used by the examples" state it in these words).
SAMPLE_FILES = ("python", "-c", "from vzskill import fixtures; fixtures.make_all('data')")
SCRATCH = ("mkdir", "scratch")
NAMES = 'from pathlib import Path\n\ndata_dir = Path("data").resolve()\nwork_dir = Path("scratch").resolve()\n'


@dataclass(frozen=True)
class UserSetup:
    """What a reader of one document does before pasting its first block.

    ``stated_in`` is the document whose text states the set-up (every command and every non-import line
    of ``prelude`` appears in it verbatim); ``setup_block`` adds troubleshooting.md's visible set-up block
    (the troubleshooting references say to run it first); ``until`` is a heading from which on the
    blocks need a server the reader supplies (not run here, ``reason`` says why); ``skip`` skips the
    whole document with that reason.
    """

    stated_in: str = ""
    shell: tuple[tuple[str, ...], ...] = ()
    prelude: str = ""
    setup_block: bool = False
    until: str | None = None
    reason: str = ""
    skip: str | None = None


_EXAMPLES = {"stated_in": "examples.md", "shell": (SAMPLE_FILES, SCRATCH), "prelude": NAMES}
_TROUBLESHOOTING = {"stated_in": "troubleshooting.md", "shell": (SAMPLE_FILES, SCRATCH), "prelude": NAMES}
_SERVER = "needs an S3-compatible server and bucket (or an HTTP server) the reader supplies"

USER_SETUPS: dict[str, UserSetup] = {
    "SKILL.md": UserSetup(stated_in="SKILL.md", shell=(("vzskill", "demo", "--dir", "demo"),)),
    "examples.md": UserSetup(**_EXAMPLES),
    "troubleshooting.md": UserSetup(**_TROUBLESHOOTING),
    "README.md": UserSetup(),
    "references/formats.md": UserSetup(skip="its sample TIFF/GRIB/HDF4 files are written by an invisible set-up "
                                            "(vzskill.format_fixtures); a reader brings their own archive"),
    "references/kerchunk.md": UserSetup(**_EXAMPLES),
    "references/remote.md": UserSetup(**_EXAMPLES, until="## Remote sources: S3", reason=_SERVER),
    "references/scale.md": UserSetup(**_EXAMPLES),
    "references/troubleshooting-environment.md": UserSetup(**_TROUBLESHOOTING, setup_block=True),
    "references/troubleshooting-remote.md": UserSetup(skip=f"every entry {_SERVER}"),
    "references/troubleshooting-writing.md": UserSetup(**_TROUBLESHOOTING, setup_block=True),
    "references/versioning.md": UserSetup(**_EXAMPLES, until="## Concurrent appends from separate processes",
                                          reason=_SERVER),
}


@dataclass
class Block:
    """One visible block as a reader pastes it."""

    line: int  # the fence line (1-based)
    code: str  # padded with newlines so tracebacks show the .md line
    kind: str = "python"  # "python" | "pycon"
    expect: tuple[str, str] | None = None  # (exception type, message substring)


def _block(example: Example) -> Block:
    code = "\n" * (example.line + example.parsed.line_offset) + str(example.parsed)  # as Sybil's pad()
    evaluator = example.region.evaluator
    expect = (evaluator.exc_name, evaluator.message) if isinstance(evaluator, ExpectErrorEvaluator) else None
    kind = "pycon" if str(example.parsed).lstrip().startswith(">>>") else "python"
    return Block(example.line, code, kind, expect)


def visible_blocks(path: Path, until: str | None = None) -> list[Block]:
    """The rendered python/pycon blocks of ``path`` in order (Sybil's own parse), up to heading ``until``."""
    document = make_sybil().parse(path)
    stop = len(document.text)
    if until is not None:
        match = re.search(rf"^{re.escape(until)}", document.text, re.M)
        if match is None:
            raise ValueError(f"{path.name}: no heading {until!r}")
        stop = match.start()
    blocks = []
    for example in document.examples():
        if example.region.start >= stop:
            break
        if not isinstance(example.region.parsed, str) or not is_visible(document, example.region):
            continue  # invisible blocks, skip directives, clear-namespace
        blocks.append(_block(example))
    return blocks


def unstated(doc: str, setup: UserSetup, root: Path = ROOT) -> list[str]:
    """The parts of ``setup`` that the document it names does not state verbatim (empty = all stated)."""
    if not setup.stated_in:
        return [f"{doc}: set-up {part!r} is stated nowhere" for part in (*setup.shell, setup.prelude) if part]
    text = (root / setup.stated_in).read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", text)
    wanted = [" ".join(cmd) if cmd[0] != "python" else f'python -c "{cmd[2]}"' for cmd in setup.shell]
    wanted += [line for line in setup.prelude.splitlines() if line and not line.startswith(("import ", "from "))]
    return [f"{doc}: {setup.stated_in} does not say `{part}`" for part in wanted if part not in text]


DRIVER = r'''
import builtins, doctest, importlib, json, sys, traceback

plan = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__", "__builtins__": builtins}


def resolve(name):
    head, *rest = name.split(".")
    obj = namespace[head] if head in namespace else getattr(builtins, head, None) or importlib.import_module(head)
    for part in rest:
        obj = getattr(obj, part)
    return obj


def run(block):
    if block["kind"] == "pycon":
        examples = doctest.DocTestParser().get_examples(block["code"])
        test = doctest.DocTest(examples, namespace, plan["doc"], plan["doc"], 0, block["code"])
        out = []
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, clear_globs=False, out=out.append)
        if runner.failures:
            raise AssertionError("".join(out)[-3000:])
        return
    exec(compile(block["code"], plan["doc"], "exec"), namespace)


ran = 0
for block in plan["blocks"]:
    try:
        run(block)
    except Exception as exc:
        expect = block["expect"]
        if expect and isinstance(exc, resolve(expect[0])) and expect[1] in str(exc):
            ran += 1
            continue
        text = "".join(traceback.format_exception(exc)[-6:])
        print(json.dumps({"failed": block["line"], "error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": text[-3000:]}))
        if not plan.get("keep_going"):
            sys.exit(1)
    else:
        if block["expect"]:
            print(json.dumps({"failed": block["line"], "error": f"expected {block['expect'][0]}: {block['expect'][1]!r}, raised nothing"}))
            if not plan.get("keep_going"):
                sys.exit(1)
    ran += 1
print(json.dumps({"ran": ran}))
'''


@dataclass
class PasteResult:
    doc: str
    blocks: int
    ran: int = 0
    failed_line: int | None = None
    error: str = ""
    output: str = ""
    seconds: float = 0.0
    setup_output: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed_line is None and self.ran == self.blocks

    def message(self) -> str:
        if self.ok:
            return f"{self.doc}: {self.ran} blocks ran as pasted ({self.seconds:.1f} s)"
        where = f"{self.doc}:{self.failed_line}" if self.failed_line else self.doc
        return f"{where}: pasted in order after the stated set-up, it fails: {self.error}\n{self.output}"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["ICECHUNK_LOG"] = "error"
    return env


def run_as_pasted(doc: str, folder: Path, setup: UserSetup | None = None, root: Path = ROOT,
                  timeout: float = 300, keep_going: bool = False) -> PasteResult:
    """Run ``doc``'s visible blocks in order in a fresh interpreter in the empty ``folder``."""
    setup = setup or USER_SETUPS[doc]
    path = root / doc
    blocks = visible_blocks(path, setup.until)
    prelude = Block(0, setup.prelude) if setup.prelude else None
    pasted = [b for b in [prelude] if b]
    if setup.setup_block:
        code = setup_code(root / "troubleshooting.md")
        pasted.append(Block(0, code))
    pasted += blocks
    result = PasteResult(doc, len(pasted))
    env = _environment()
    start = time.perf_counter()
    for command in setup.shell:
        argv = [sys.executable, *command[1:]] if command[0] == "python" else list(command)
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            result.error = f"set-up `{' '.join(command)}` exited {done.returncode}: {done.stderr[-1500:]}"
            return result
    plan = folder.parent / f"{folder.name}-plan.json"
    plan.write_text(json.dumps({"doc": str(path), "blocks": [b.__dict__ for b in pasted], "keep_going": keep_going}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", DRIVER, str(plan)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout)
    result.seconds = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1:] or ["{}"]
    try:
        report = json.loads(last[0])
    except json.JSONDecodeError:
        report = {}
    if "ran" in report:
        result.ran = report["ran"]
        if keep_going:
            result.output = done.stdout
    else:
        result.failed_line = report.get("failed") or None
        result.error = report.get("error") or f"exit {done.returncode}: {done.stderr[-2000:]}"
        result.output = report.get("traceback", "")
    return result


__all__ = ["SETUP_HEADING", "USER_SETUPS", "Block", "PasteResult", "UserSetup", "run_as_pasted", "unstated",
           "visible_blocks"]
