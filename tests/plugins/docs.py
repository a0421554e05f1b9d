"""Executed docs: Sybil runs the code blocks of SKILL.md, examples.md, troubleshooting.md, README.md.

Conventions for doc authors (read this before writing a ```python block)
=======================================================================

Files: only the four Markdown files in the repository root are collected (``DOC_FILES``).

What runs
  * every fenced block whose info string is exactly ``python``  -> one test item, executed with exec()
  * every fenced block whose info string is exactly ``pycon``   -> one test item, run as ONE doctest
    (``>>>``/``...`` prompts, expected output checked with ELLIPSIS + NORMALIZE_WHITESPACE)
  * a ```python block whose first line starts with ``>>>`` is treated like ```pycon
  * ``<!-- invisible-code-block: python`` ... ``-->``  -> hidden setup / asserts (not rendered), one item
  * NOT run: ```bash, ```text, ```toml ... . ```py, ```python3, ```Python and ```python title=...
    would be silently ignored by Sybil, so tests/test_doc_fences.py FAILS on them. Use exactly ```python.

Namespace
  One namespace per document, shared by all its blocks in file order (block 2 sees block 1's names).
  Selecting one block (``pytest SKILL.md::line:120,column:1``, ``-k``, ``--deselect``) first runs the
  blocks above it (unreported, once), so its names exist; a failure there is reported on the
  selected block as ``PrerequisiteFailed`` naming the earlier block's line.

Fixtures (injected as plain names, only those a document's code actually mentions are requested)
  * ``data_dir``          pathlib.Path, session, READ-ONLY sample archives (tests/plugins/data.py):
                          series/temp_000.nc..temp_002.nc, variants/<kind>.nc, ensemble/, grouped/groups.nc,
                          bounds/with_bounds.nc, fits/image.fits, bad/<kind>.nc
  * ``work_dir``          pathlib.Path, a fresh empty temporary directory per document (module scope);
                          write repos / copies here (``work_dir / "repo"``). Never write into data_dir.
  * ``s3_endpoint``, ``s3_data_bucket``, ``s3_public_bucket``, ``make_bucket``, ``http_base_url``
                          loopback moto S3 / HTTP range server (tests/plugins/servers.py), session scope.
                          Started only when a document's code uses the name.
  Only session/module-scoped fixtures may be exposed (function-scoped ones would change per block).
  Autouse fixtures (tests/plugins/safety.py: loopback-only AWS env + test credentials) apply to every
  block as to any test, but are not injected as names.

Running
  ``pytest SKILL.md examples.md troubleshooting.md README.md -rs`` (whole documents; ``-rs`` lists skips
  with their .md line). Item ids are ``FILE.md::line:N,column:1`` (N = the fence line).

Directives (HTML comments: invisible when the Markdown is rendered)
  * Expected error: put the comment on the line DIRECTLY above the ```python fence (no blank line)::

        <!-- expect-error: ValueError: url_prefix must end in a / character -->
        ```python
        icechunk.VirtualChunkContainer("file:///data", icechunk.local_filesystem_store("/data"))
        ```

    ``ExcType`` is resolved from builtins or the document namespace (dotted names allowed:
    ``icechunk.ConflictError``, ``zarr.errors.ContainsGroupError``); the check is
    ``isinstance(exc, ExcType)`` and ``message substring in str(exc)`` (literal, case-sensitive;
    str() of a KeyError includes quotes). The item FAILS if nothing is raised, the type differs, or the
    message differs. Statements before the raising line still run (their names stay defined).
    Adds no test item.
  * Skip (at most 3 skipped blocks across all four files, reason required; guard-tested)::

        <!-- skip: next "needs credentials for a real AWS bucket" -->

    The reason is shown by ``pytest -rs`` at the .md line of the skipped block. ``skip: start`` /
    ``skip: end`` also work; every block between them counts towards the limit. A skip comment is
    itself a (passing) test item.
  * Hidden code::

        <!-- invisible-code-block: python
        np.testing.assert_array_equal(ds["temperature"].values, expected)
        -->

  * ``<!-- clear-namespace -->`` empties the document namespace (fixtures are re-injected).

Assert values: prefer ``np.testing.assert_array_equal`` / ``assert`` in visible or invisible blocks,
so a snippet that silently returns wrong data fails.

Counting (guard-tested): items == python blocks + pycon blocks + invisible blocks + skip comments.

Implementation notes
  * Sybil issue #118: ``SybilItem._traceback_filter`` does ``tb[1]`` and crashes pytest
    (INTERNALERROR) on a chained exception with a one-frame traceback; ``DocItem`` falls back to
    the full traceback.
  * Skips are raised by Sybil as ``unittest.SkipTest``; the report location is rewritten to the .md line.
  * pytest-xdist ``--dist load``/``worksteal`` would split a document across workers (lost namespace,
    skips ignored): they are switched to ``loadfile``.
"""

from __future__ import annotations

import builtins
import doctest
import importlib
import re
import unittest
from pathlib import Path
from typing import Any, Iterable

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.doctest import DocTest, DocTestRunner
from sybil.evaluators.python import PythonEvaluator
from sybil.integration.pytest import SybilFile, SybilItem
from sybil.parsers.markdown import ClearNamespaceParser, CodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = ("SKILL.md", "examples.md", "troubleshooting.md", "README.md")

#: Every fixture a document may use, in injection order.
DOC_FIXTURES = (
    "data_dir",
    "work_dir",
    "s3_endpoint",
    "s3_data_bucket",
    "s3_public_bucket",
    "make_bucket",
    "http_base_url",
)

PYCON_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: ``<!-- expect-error: ExcType: message substring -->`` directly above a fence.
EXPECT_ERROR = re.compile(
    r"<!--\s*expect-error:\s*(?P<exc>[A-Za-z_][\w.]*)\s*:\s*(?P<message>.*?)\s*-->[ \t]*\n[ \t]*\Z"
)


# --------------------------------------------------------------------------------------------
# Evaluators
# --------------------------------------------------------------------------------------------


def _resolve_type(name: str, namespace: dict[str, Any]) -> type[BaseException]:
    head, *rest = name.split(".")
    if head in namespace:
        obj: Any = namespace[head]
    elif hasattr(builtins, head):
        obj = getattr(builtins, head)
    else:
        obj = importlib.import_module(head)
    for i, part in enumerate(rest):
        if not hasattr(obj, part) and isinstance(obj, type(builtins)):
            importlib.import_module(".".join([obj.__name__, *rest[: i + 1]]))
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, BaseException)):
        raise TypeError(f"{name!r} is not an exception class")
    return obj


class ExpectErrorEvaluator:
    """Run a python block that must raise ``exc_name`` with ``message`` in ``str(exc)``."""

    def __init__(self, exc_name: str, message: str, inner: Any) -> None:
        self.exc_name = exc_name
        self.message = message
        self.inner = inner

    def __call__(self, example: Example) -> str | None:
        __tracebackhide__ = True
        spec = f"expect-error: {self.exc_name}: {self.message}"
        try:
            self.inner(example)
        except Exception as exc:
            # PythonEvaluator deletes __builtins__ only on success.
            example.namespace.pop("__builtins__", None)
            try:
                expected = _resolve_type(self.exc_name, example.namespace)
            except Exception as lookup_error:
                return f"{spec}: cannot resolve {self.exc_name!r} ({lookup_error}); the block raised {type(exc).__name__}: {exc}"
            if not isinstance(exc, expected):
                exc.add_note(f"[{example.path}:{example.line}] {spec} -> got {type(exc).__module__}.{type(exc).__qualname__} instead")
                raise
            if self.message not in str(exc):
                return (
                    f"{spec}\nthe block raised the right type but the message differs:\n"
                    f"  expected substring: {self.message!r}\n  actual message:     {str(exc)!r}"
                )
            return None
        return f"{spec}\nthe block raised nothing"

    def __repr__(self) -> str:
        return f"<ExpectError {self.exc_name}: {self.message!r}>"


class _PyconRunner(DocTestRunner):
    def _failure_header(self, test: doctest.DocTest, example: doctest.Example) -> str:
        line = (test.lineno or 0) + example.lineno + 1
        return f"{test.filename}:{line}: >>> {example.source.strip()}\n"


class PyconEvaluator:
    """Run a whole ```pycon block as one doctest in the document namespace."""

    def __call__(self, example: Example) -> str:
        __tracebackhide__ = True
        source = str(example.parsed)
        parser = doctest.DocTestParser()
        examples = parser.get_examples(source, name=example.path)
        namespace = example.namespace
        remove_name = "__name__" not in namespace
        if remove_name:
            namespace["__name__"] = "__test__"
        output: list[str] = []
        try:
            # line numbers: doctest reports test.lineno + example.lineno + 1 = the .md line
            test = DocTest(examples, namespace, name=example.path, filename=example.path,
                           lineno=example.line + example.parsed.line_offset, docstring=source)
            runner = _PyconRunner(PYCON_FLAGS)
            runner.run(test, clear_globs=False, out=output.append)
        finally:
            if remove_name:
                namespace.pop("__name__", None)
        return "".join(output)


# --------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------


class PythonBlockParser:
    """```python fences + invisible python blocks, with the expect-error directive."""

    def __init__(self) -> None:
        self.python = PythonEvaluator()
        self.pycon = PyconEvaluator()
        self.blocks = CodeBlockParser("python", self.python)

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.blocks(document):
            if str(region.parsed).lstrip().startswith(">>>"):
                region.evaluator = self.pycon
            before = document.text[: region.start]
            match = EXPECT_ERROR.search(before[-2000:])
            if match:
                region.evaluator = ExpectErrorEvaluator(match["exc"], match["message"], region.evaluator)
            yield region


class PyconBlockParser:
    def __init__(self) -> None:
        self.blocks = CodeBlockParser("pycon", PyconEvaluator())

    def __call__(self, document: Document) -> Iterable[Region]:
        yield from self.blocks(document)


def make_sybil(root: Path = ROOT) -> Sybil:
    """The Sybil used for collection (also used by tests/test_doc_fences.py for counting)."""
    return Sybil(
        parsers=[PythonBlockParser(), PyconBlockParser(), SkipParser(), ClearNamespaceParser()],
        path=str(root),
        filenames=DOC_FILES,
        name="",
    )


SYBIL = make_sybil()


def is_doc_file(path: Path) -> bool:
    path = Path(path).resolve()
    return path.parent == ROOT and path.name in DOC_FILES


_NAME_RE = {name: re.compile(rf"\b{name}\b") for name in DOC_FIXTURES}


def fixtures_used(document: Document) -> list[str]:
    """Fixture names mentioned in the document's code regions (lazy: unused servers never start)."""
    code = "\n".join(str(region.parsed) for _, region in document.regions if isinstance(region.parsed, str))
    return [name for name in DOC_FIXTURES if _NAME_RE[name].search(code)]


# --------------------------------------------------------------------------------------------
# pytest integration (Sybil's SybilFile/SybilItem with the work-arounds)
# --------------------------------------------------------------------------------------------


class DocItem(SybilItem):
    def __init__(self, parent: Any, sybil: Sybil, example: Example, fixtures: list[str]) -> None:
        self._doc_fixtures = fixtures
        super().__init__(parent, sybil, example)

    def request_fixtures(self, names: Iterable[str]) -> None:  # type: ignore[override]
        # autouse fixtures (e.g. tests/plugins/safety.py's loopback-only AWS env) apply to doc
        # items as to any test; Sybil itself requests only the names it is given.
        try:
            autouse = list(self.session._fixturemanager._getautousenames(self))
        except AttributeError:  # pragma: no cover - pytest internals moved
            autouse = []
        super().request_fixtures(list(dict.fromkeys([*autouse, *self._doc_fixtures])))

    def setup(self) -> None:
        # inject only the document fixtures as names (not autouse helpers such as monkeypatch)
        self._request._fillfixtures()
        for name in self._doc_fixtures:
            self.example.namespace[name] = self.funcargs[name]

    def runtest(self) -> None:
        # A block selected on its own (``file.md::line:N``, ``-k``, ``--deselect``) still needs the
        # names of the blocks above it: run those first, once, in document order.
        __tracebackhide__ = True
        doc: DocFile = self.parent
        for earlier in doc.ordered[: doc.ordered.index(self.example)]:
            if earlier.start in doc.evaluated:
                continue
            doc.evaluated.add(earlier.start)
            try:
                earlier.evaluate()
            except unittest.SkipTest:
                continue
            except Exception as exc:
                raise PrerequisiteFailed(
                    f"{Path(earlier.path).name}:{earlier.line}: an earlier block, run first because this block "
                    f"needs its names, failed: {type(exc).__name__}: {exc}"
                ) from exc
        doc.evaluated.add(self.example.start)
        self.example.evaluate()

    def _traceback_filter(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        # Sybil #118: tb[1] raises IndexError for one-frame (chained) tracebacks -> INTERNALERROR.
        try:
            return super()._traceback_filter(excinfo)
        except IndexError:
            in_doc = excinfo.traceback.filter(lambda entry: str(entry.path) == self.example.path)
            return in_doc or excinfo.traceback


class PrerequisiteFailed(Exception):
    """An earlier block of the document failed while being run for a block selected on its own."""


class DocFile(SybilFile):
    def collect(self) -> Iterable[DocItem]:
        self.ordered: list[Example] = []
        self.evaluated: set[int] = set()  # Example.start of the blocks already run this session
        for sybil in self.sybils:
            document = sybil.parse(self.path)
            self.documents.append(document)
            names = fixtures_used(document)
            for example in document.examples():
                self.ordered.append(example)
                yield DocItem.from_parent(self, sybil=sybil, example=example, fixtures=names)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DocFile | None:
    if file_path.suffix == ".md" and is_doc_file(file_path):
        return DocFile.from_parent(parent, path=file_path, sybils=[SYBIL])
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if isinstance(item, SybilItem) and report.skipped and isinstance(report.longrepr, tuple):
        _, _, message = report.longrepr
        prefix = "Skipped: "
        if isinstance(message, str) and message.startswith(prefix):
            message = message[len(prefix):]
        # longrepr carries the 1-based line that `pytest -rs` prints
        report.longrepr = (str(item.example.path), item.example.line, message)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    dist = getattr(config.option, "dist", None)
    if dist in ("load", "worksteal"):
        config.option.dist = "loadfile"


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A fresh temporary directory per document (module scope = one value per .md file)."""
    return tmp_path_factory.mktemp(Path(str(request.node.path)).stem.lower() + "-")


__all__ = ["DOC_FILES", "DOC_FIXTURES", "EXPECT_ERROR", "SYBIL", "fixtures_used", "is_doc_file", "make_sybil", "work_dir"]
