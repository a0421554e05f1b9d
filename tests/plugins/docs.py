"""Executed docs: Sybil runs the code blocks of SKILL.md, examples.md, troubleshooting.md, README.md
and every references/*.md.

Conventions for doc authors (read this before writing a ```python block)
=======================================================================

Files: the four Markdown files in the repository root and every ``references/*.md`` (one level, no
sub-folders) are collected (``DOC_FILES``: paths relative to the repository root; ``doc_files()``
re-reads the folder). A reference file is a document like examples.md: its own namespace and its own
``work_dir``, so it starts with the invisible set-up its blocks need (it cannot see examples.md's names).
Shared hidden code lives in tests/plugins/docs_setup.py (examples' ``sources``/``read_back``/``assert_same``;
``troubleshooting_setup`` runs troubleshooting.md's visible set-up block for references/troubleshooting-*.md),
and tests/plugins/docs_links.py checks every relative link between the documents (file + anchor).

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
  Visible code in SKILL.md / examples.md never names the server fixtures (readers cannot run them):
  bind them with ``doc_bindings`` (next section); tests/test_doc_fences.py enforces it.

Bindings: what a reader supplies is a plain assignment in the visible code, bound to the test servers
  The visible block starts with the values a reader replaces, as plain assignments::

        endpoint = "http://127.0.0.1:9000"   # e.g. "https://projects.pawsey.org.au"
        bucket = "my-archive"

  An invisible block above it declares what they are in the tests::

        <!-- invisible-code-block: python
        doc_bindings = {"endpoint": s3_endpoint, "bucket": s3_data_bucket}
        -->

  Every later VISIBLE python block (until the next ``doc_bindings = {...}`` or ``clear-namespace``) runs
  with the right-hand side of its top-of-block plain assignments ``name = ...`` to a bound name
  replaced by the bound value (``doc_bindings["name"]``, line numbers unchanged). "Top of block" = the
  leading statements that are imports, assignments or a docstring (``top_assignments``); a bound name
  assigned further down, or in an invisible block, is left alone. The values are computed once, when
  the declaration runs (``make_bucket()`` there = one bucket for all the blocks it applies to).
  tests/test_doc_fences.py (``binding_problems``) fails when a declared name is assigned by no visible
  block it applies to (a renamed variable would run against the placeholder), when a visible block
  assigns a name bound elsewhere in the document but not where it stands, and when a declaration is
  not a dict literal with string keys.
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

import ast
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
from sybil.evaluators.python import PythonEvaluator, pad
from sybil.integration.pytest import SybilFile, SybilItem
from sybil.parsers.abstract.clear import AbstractClearNamespaceParser
from sybil.parsers.markdown import ClearNamespaceParser, CodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[2]
#: The documents in the repository root.
ROOT_DOCS = ("SKILL.md", "examples.md", "troubleshooting.md", "README.md")
#: The folder of the reference files (one level deep from SKILL.md, shipped with the skill).
REFERENCES = "references"


def doc_files(root: Path = ROOT) -> tuple[str, ...]:
    """Every executed document, relative to ``root``: the root docs, then ``references/*.md`` sorted."""
    references = sorted(p.name for p in (root / REFERENCES).glob("*.md") if p.is_file())
    return (*ROOT_DOCS, *(f"{REFERENCES}/{name}" for name in references))


DOC_FILES = doc_files()

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


#: The name an invisible block assigns to declare bindings (see the module docstring).
BINDINGS = "doc_bindings"
_TOP_STATEMENTS = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)


def top_assignments(tree: ast.Module) -> dict[str, ast.Assign]:
    """The plain ``name = value`` statements at the top of a block (first one per name).

    The top ends at the first statement that is not an import, an assignment or a docstring.
    """
    found: dict[str, ast.Assign] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if not isinstance(node, _TOP_STATEMENTS):
            break
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found.setdefault(node.targets[0].id, node)
    return found


def declared_bindings(tree: ast.Module) -> list[str] | None:
    """Keys of a top-level ``doc_bindings = {...}`` in a block; None when the block declares none.

    Raises ValueError when the declaration is not a dict literal with string keys (then it cannot be
    checked statically).
    """
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == BINDINGS for t in node.targets):
            if not isinstance(node.value, ast.Dict) or not all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.value.keys
            ):
                raise ValueError(f"{BINDINGS} must be a dict literal with string keys")
            return [k.value for k in node.value.keys]  # type: ignore[union-attr]
    return None


def is_visible(document: Document, region: Region) -> bool:
    """A rendered code block (a fence), not an ``<!-- invisible-code-block`` comment."""
    return not document.text.startswith("<!--", region.start)


class BoundPythonEvaluator(PythonEvaluator):
    """PythonEvaluator that applies the document's ``doc_bindings`` to visible blocks."""

    def __call__(self, example: Example) -> None:
        __tracebackhide__ = True
        bindings = example.namespace.get(BINDINGS)
        if not bindings or not is_visible(example.document, example.region):
            return super().__call__(example)
        source = pad(example.parsed, example.line + example.parsed.line_offset)
        tree = ast.parse(source, example.path)
        for name, node in top_assignments(tree).items():
            if name in bindings:
                lookup = ast.Subscript(ast.Name(BINDINGS, ast.Load()), ast.Constant(name), ast.Load())
                node.value = ast.copy_location(lookup, node.value)
        code = compile(ast.fix_missing_locations(tree), example.path, "exec", flags=self.flags, dont_inherit=True)
        exec(code, example.namespace)
        del example.namespace["__builtins__"]
        return None


def _binding_events(document: Document, problems: list[str]) -> list[tuple[int, str, set[str]]]:
    """(line, "clear" | "declare" | "visible", names) for the regions that matter to bindings, in order."""
    name = Path(document.path).name
    events: list[tuple[int, str, set[str]]] = []
    for _, region in document.regions:
        line = document.text.count("\n", 0, region.start) + 1
        if region.evaluator is AbstractClearNamespaceParser.evaluate:
            events.append((line, "clear", set()))
            continue
        if not isinstance(region.parsed, str) or str(region.parsed).lstrip().startswith(">>>"):
            continue
        if not isinstance(region.evaluator, (BoundPythonEvaluator, ExpectErrorEvaluator)):
            continue
        try:
            tree = ast.parse(str(region.parsed))
        except SyntaxError as exc:
            problems.append(f"{name}:{line}: does not parse: {exc}")
            continue
        if is_visible(document, region):
            events.append((line, "visible", set(top_assignments(tree))))
            continue
        try:
            keys = declared_bindings(tree)
        except ValueError as exc:
            problems.append(f"{name}:{line}: {exc}")
            continue
        if keys is not None:
            events.append((line, "declare", set(keys)))
    return events


def binding_problems(document: Document) -> list[str]:
    """Static check of a document's bindings (see the module docstring); one message per problem."""
    problems: list[str] = []
    name = Path(document.path).name
    events = _binding_events(document, problems)
    everywhere = set().union(*(names for _, kind, names in events if kind == "declare"))
    active: tuple[int, set[str]] = (0, set())
    used: dict[int, set[str]] = {}
    for line, kind, names in events:
        if kind != "visible":
            active = (line, names)  # a declaration replaces the bindings; clear-namespace drops them
            used.setdefault(line, set())
            continue
        used.setdefault(active[0], set()).update(names & active[1])
        for unbound in sorted((names & everywhere) - active[1]):
            problems.append(f"{name}:{line}: visible `{unbound} = ...` would run with its placeholder: no "
                            f"{BINDINGS} in force here binds {unbound!r} (declare it in an invisible block above)")
    for line, kind, names in events:
        if kind == "declare":
            for key in sorted(names - used[line]):
                problems.append(f"{name}:{line}: {BINDINGS}[{key!r}] is used by no visible block below it "
                                f"(a top-of-block `{key} = ...` was renamed or moved?)")
    return problems


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
        self.python = BoundPythonEvaluator()
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
        filenames=ROOT_DOCS,
        patterns=[f"{REFERENCES}/*.md"],
        name="",
    )


SYBIL = make_sybil()


def is_doc_file(path: Path) -> bool:
    """A root document (``ROOT_DOCS``) or a ``references/*.md`` file of this repository."""
    path = Path(path).resolve()
    if path.parent == ROOT:
        return path.name in ROOT_DOCS
    return path.parent == ROOT / REFERENCES and path.suffix == ".md"


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


__all__ = [
    "BINDINGS", "DOC_FILES", "DOC_FIXTURES", "REFERENCES", "ROOT_DOCS", "doc_files", "EXPECT_ERROR", "SYBIL", "binding_problems", "declared_bindings",
    "fixtures_used", "is_doc_file", "is_visible", "make_sybil", "top_assignments", "work_dir",
]
