"""One corpus file through the public pipeline, as a user runs it, and the verdict.

``inspect_files([f])`` -> ``check([f])`` -> ``virtualize([f], repo)`` (no concat_dim: the default)
-> ``verify(repo)``, then an independent comparison (:mod:`tests.corpus_truth`).

Outcomes (the first two pass; every other one is a defect):

========================  =================================================================
VERIFIED                  verify ok, it compared > 0 chunks/values, and the independent
                          comparison finds every source variable equal in the repository
REFUSED                   a documented vzskill error, one line, naming the file, with a fix
                          after "->", nothing written; a machine-applicable fix
                          (``drop_variables=[...]`` / ``loadable_variables=[...]``, decompress
                          for gzip) was applied and ended VERIFIED, or there was none to apply
TRACEBACK                 an exception other than vzskill's own error types escaped, or a
                          message (error, finding) spans several lines
BAD_MESSAGE               a refusal that does not name the file, has no "-> fix", or calls a
                          file its own library reads fine "corrupt"
HALF_WRITTEN              refused, but main has a new commit or arrays
INCONSISTENT              check reported errors, virtualize wrote anyway
UNREADABLE                committed, reading the repository with zarr fails
VERIFY_ERROR              committed and readable, verify could not run (fatal)
UNVERIFIED                verify not ok only because it compared nothing for some variable (skipped)
FALSE_MISMATCH            verify reports mismatches, the independent comparison finds equal values
MISMATCH                  verify reports mismatches and they are real: wrong references committed
FALSE_OK                  verify ok but compared nothing, or values differ independently, or a
                          source variable is missing from the repository without a warning
BAD_FIX                   the refusal's machine-applicable fix, applied, still fails
========================  =================================================================
"""

from __future__ import annotations

import gzip
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import corpus_truth

PASSING = ("VERIFIED", "REFUSED")
OWNER = {  # who fixes it (session 2026-12-02 board): A verify, B check, C parse/errors, D write/CLI
    "TRACEBACK": "C", "BAD_MESSAGE": "C", "BAD_FIX": "C", "MISMATCH": "C", "HALF_WRITTEN": "D", "INCONSISTENT": "D",
    "UNREADABLE": "C", "VERIFY_ERROR": "A", "UNVERIFIED": "A", "FALSE_MISMATCH": "A", "FALSE_OK": "A",
}
_FIX_RE = re.compile(r"\b(drop_variables|loadable_variables|skip_variables)\s*=\s*(\[[^\]]*\])")
_CORRUPT_RE = re.compile(r"\b(corrupt|damaged|not a valid)\b", re.IGNORECASE)


@dataclass
class Outcome:
    outcome: str
    reason: str
    stage: str = ""  # inspect | check | virtualize | verify | compare | fix
    owner: str = ""
    seconds: float = 0.0
    fix: str = ""  # the fix applied, and what it gave
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING

    def row(self, package: str, file: str) -> dict[str, Any]:
        reason = self.reason + (f" [fix {self.fix}]" if self.fix else "") + ("; " + "; ".join(self.notes) if self.notes else "")
        return {"package": package, "file": file, "outcome": self.outcome, "reason": reason, "stage": self.stage,
                "owner": self.owner, "seconds": round(self.seconds, 2)}


def _one_line(text: str, limit: int = 220) -> str:
    first = text.strip().splitlines()[0] if text and text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _is_ours(exc: BaseException) -> bool:
    """A documented vzskill error type (VirtualizeError, SourceError, ParseError, LayoutError, ...)."""
    return type(exc).__module__.split(".")[0] == "vzskill"


def _fail(outcome: str, reason: str, stage: str, owner: str | None = None) -> Outcome:
    return Outcome(outcome, _one_line(reason), stage, owner or OWNER.get(outcome, ""))


def _traceback(exc: BaseException, stage: str, owner: str) -> Outcome:
    return _fail("TRACEBACK", f"{stage}: {type(exc).__name__} escaped: {_one_line(str(exc))}", stage, owner)


def _multiline(texts: list[str]) -> str | None:
    for t in texts:
        if t and "\n" in t.strip():
            return t
    return None


def judge_refusal(message: str, f: Path, kind: str, repo: Path) -> Outcome | None:
    """None when the refusal is a good one (one line, names the file, '-> fix', nothing written)."""
    if "\n" in message.strip():
        return _fail("TRACEBACK", f"refusal spans {message.count(chr(10)) + 1} lines: {_one_line(message)}", "virtualize")
    if f.name not in message and str(f) not in message:
        return _fail("BAD_MESSAGE", f"refusal does not name the file: {message}", "virtualize")
    if "->" not in message or not message.split("->")[-1].strip():
        return _fail("BAD_MESSAGE", f"refusal has no '-> fix': {message}", "virtualize")
    if re.search(r"(drop|loadable|skip)_variables=\[\s*(\.\.\.)?\s*\]", message):
        return _fail("BAD_MESSAGE", f"the fix names no variable ('[...]'): {message}", "virtualize")
    if kind == "gzip" and not re.search(r"gzip|gunzip|decompress|uncompress", message, re.IGNORECASE):
        return _fail("BAD_MESSAGE", f"gzip file, the refusal does not say to decompress it: {message}", "virtualize")
    if _CORRUPT_RE.search(message) and kind in ("hdf5", "netcdf3", "fits") and corpus_truth.opens_cleanly(f, kind):
        return _fail("BAD_MESSAGE", f"calls a file its own library reads 'corrupt': {message}", "virtualize")
    untouched, why = corpus_truth.repo_is_untouched(repo)
    if not untouched:
        return _fail("HALF_WRITTEN", f"refused but {why}: {message}", "virtualize")
    return None


def machine_fix(message: str, kind: str) -> dict[str, Any] | None:
    """The fix as keyword arguments of virtualize(), when the message spells one out."""
    m = _FIX_RE.search(message.split("->", 1)[-1]) or _FIX_RE.search(message)
    if m:
        try:
            names = eval(m.group(2), {"__builtins__": {}}, {})  # a literal list of names
        except Exception:  # noqa: BLE001
            return None
        if not names or not all(isinstance(n, str) for n in names):
            return None  # a placeholder such as drop_variables=[...]
        return {m.group(1): names}
    if kind == "gzip" and re.search(r"gunzip|decompress|uncompress", message, re.IGNORECASE):
        return {"decompress": True}
    return None


def _verify_written(f: Path, kind: str, repo: Path, result: Any, dropped: list[str]) -> Outcome:
    from vzskill import verify

    t_kind = "netcdf3" if kind == "netcdf3" else kind
    try:
        report = verify(repo)
        skipped = getattr(report, "skipped", None) or {}
        if not report.ok and skipped and "pass the source URLs" in str(skipped):  # its own fix: name the sources
            report = verify(repo, [str(f)])
    except Exception as exc:  # noqa: BLE001
        return _traceback(exc, "verify", "A")
    texts = [getattr(report, "fatal", None) or ""] + [m.message for m in report.mismatches] + [x.message for x in report.findings]
    if (bad := _multiline(texts)) is not None:
        return _fail("TRACEBACK", f"verify message spans several lines: {_one_line(bad)}", "verify", "A")
    cmp = corpus_truth.compare(f, t_kind, repo, dropped=dropped)
    if cmp.error and "repository" in cmp.error:
        return _fail("UNREADABLE", cmp.error, "compare")
    if cmp.error:  # the source's own library cannot read it (e.g. a truncated file), yet it was committed
        try:
            corpus_truth.read_all(repo)
        except Exception as exc:  # noqa: BLE001
            return _fail("UNREADABLE", f"committed a file its own library cannot read ({cmp.error}); reading the repo: "
                         f"{type(exc).__name__}: {_one_line(str(exc))}", "compare", "C")
        return _fail("FALSE_OK" if report.ok else "VERIFY_ERROR", f"committed a file its own library cannot read: {cmp.error}",
                     "compare", "C")
    if report.fatal:
        return _fail("VERIFY_ERROR", f"verify could not run: {report.fatal}", "verify")
    if not report.ok:
        skipped = getattr(report, "skipped", None) or {}
        if not report.mismatches and not report.errors and not report.stale and skipped:
            what = "; ".join(f"{v}: {', '.join(r)}" for v, r in list(skipped.items())[:2]) if isinstance(skipped, dict) else str(skipped[:2])
            return _fail("UNVERIFIED", f"verify did not compare {what} (data equal read independently: "
                         f"{len(cmp.compared)} array(s))" if cmp.equal else f"verify did not compare {what}", "verify", "A")
        first = (report.mismatches[0].message if report.mismatches else report.errors[0].message if report.errors
                 else report.stale[0].message if report.stale else "not ok")
        if cmp.equal and not cmp.differ:
            return _fail("FALSE_MISMATCH", f"verify: {first} -- but {len(cmp.compared)} array(s) equal read independently", "verify")
        return _fail("MISMATCH", f"verify: {first}; independently: {'; '.join(cmp.differ[:2]) or 'no values'}", "verify")
    compared = getattr(report, "compared", None)
    unknown = compared is None
    n = report.n_chunks if unknown else sum(compared.values()) if isinstance(compared, dict) else compared
    if cmp.differ:
        return _fail("FALSE_OK", f"verify ok but independently {'; '.join(cmp.differ[:2])}", "compare")
    if cmp.extra_in_repo:
        return _fail("FALSE_OK", f"verify ok but repo arrays with no source variable: {cmp.extra_in_repo[:4]}", "compare")
    warned = " ".join(getattr(result, "warnings", []) or [])
    silent = [v for v in cmp.missing_in_repo if v not in warned]
    if silent:
        return _fail("FALSE_OK", f"source variables silently missing from the repo: {silent[:4]} (no warning, no error)", "compare", "C")
    if not cmp.compared and not cmp.missing_in_repo and cmp.n_values == 0:
        return _fail("FALSE_OK", "committed a repository with no arrays (the file holds no data) and said ok -> "
                     "should refuse: nothing to virtualize", "virtualize", "D")
    if not n:
        skipped = "; ".join(list(report.skipped)[:1]) if report.skipped else ""
        return _fail("FALSE_OK", f"verify ok but compared 0 chunks ({cmp.n_values} values equal independently)"
                     + (f"; skipped: {skipped}" if skipped else ""), "verify")
    if cmp.n_values == 0:
        return _fail("FALSE_OK", "verify ok but the repository holds no values to compare", "compare")
    out = Outcome("VERIFIED", f"{n} chunk(s) compared by verify{' (compared count unknown: n_chunks used)' if unknown else ''}, "
                  f"{len(cmp.compared)} array(s) / {cmp.n_values} values equal independently", "verify")
    if cmp.missing_in_repo:
        out.notes.append(f"warned and missing: {cmp.missing_in_repo[:4]}")
    return out


def run_pipeline(f: Path, kind: str, work: Path, *, extra: dict[str, Any] | None = None, depth: int = 0,
                 base: dict[str, Any] | None = None) -> Outcome:
    """inspect -> check -> virtualize -> verify ``f`` (a private copy) in ``work``; the verdict.

    ``base``: keyword arguments for both check() and virtualize() (the test passes none: the user's
    defaults; the report script may pass ``concat_dim=None`` to look past a default being changed).
    """
    base = dict(base or {})
    from vzskill import check
    from vzskill.write import virtualize

    extra = dict(extra or {})
    repo = work / f"repo{depth}"
    if depth == 0:
        try:
            infos = _inspect([f])
        except Exception as exc:  # noqa: BLE001
            return _traceback(exc, "inspect", "C")
        if (bad := _multiline([getattr(i, "error", None) or "" for i in infos])) is not None:
            return _fail("TRACEBACK", f"inspect error spans several lines: {_one_line(bad)}", "inspect", "C")
        try:
            report = check([str(f)], **base)
        except Exception as exc:  # noqa: BLE001
            return _traceback(exc, "check", "B")
        texts = [report.fatal or ""] + [x.message for x in report.findings]
        if (bad := _multiline(texts)) is not None:
            return _fail("TRACEBACK", f"check message spans several lines: {_one_line(bad)}", "check", "B")
        check_ok = report.ok
    else:
        check_ok = None
    try:
        result = virtualize([str(f)], repo, **base, **extra)
    except TypeError as exc:
        if depth and "unexpected keyword" in str(exc):
            return _fail("BAD_FIX", f"the suggested fix {extra} is not an argument of virtualize(): {exc}", "fix", "C")
        return _traceback(exc, "virtualize", "D")
    except Exception as exc:  # noqa: BLE001
        if not _is_ours(exc):
            return _traceback(exc, "virtualize", "D")
        message = str(exc)
        if (verdict := judge_refusal(message, f, kind, repo)) is not None:
            return verdict
        return _refused(f, kind, work, message, extra, depth, base)
    if check_ok is False:
        return _fail("INCONSISTENT", "check reported errors but virtualize wrote a commit", "virtualize")
    return _verify_written(f, kind, repo, result, extra.get("drop_variables", []))


def _inspect(urls: list[Path]) -> list[Any]:
    """``vzskill.inventory.inspect_files`` (what ``vzskill inspect`` runs)."""
    from vzskill.inventory import inspect_files

    return inspect_files(urls)


def _refused(f: Path, kind: str, work: Path, message: str, extra: dict[str, Any], depth: int, base: dict[str, Any]) -> Outcome:
    fix = machine_fix(message, kind)
    out = Outcome("REFUSED", _one_line(message), "virtualize")
    if fix is None:
        out.fix = "none machine-applicable"
        return out
    if depth >= 3:
        return _fail("BAD_FIX", f"still refused after 3 suggested fixes: {message}", "fix")
    if fix.get("decompress"):
        plain = work / f.name[: -len(".gz")]
        with gzip.open(f, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        inner = "hdf5" if plain.read_bytes()[:4] == b"\x89HDF" else "netcdf3" if plain.read_bytes()[:3] == b"CDF" else "fits"
        then = run_pipeline(plain, inner, work, depth=depth + 1, base=base)
        fixed = {"decompress": True}
    else:
        merged = dict(extra)
        for k, v in fix.items():
            merged[k] = sorted(set(merged.get(k, [])) | set(v))
        then = run_pipeline(f, kind, work, extra=merged, depth=depth + 1, base=base)
        fixed = merged
    if then.outcome == "VERIFIED":
        out.fix = f"{fixed} -> VERIFIED"
        return out
    if then.outcome == "REFUSED":
        if _nothing_left(f, kind, fixed):  # the fix dropped every data variable: refusing again is right
            out.fix = f"{fixed} -> refused again, nothing else in the file ({_one_line(then.reason, 100)})"
            return out
        if then.fix.endswith("-> VERIFIED"):
            out.fix = f"{fixed} then {then.fix}"
            return out
        return _fail("BAD_FIX", f"fix {fixed} -> refused again: {then.reason}", "fix")
    if then.outcome == "FALSE_OK" and _nothing_left(f, kind, fixed):
        return _fail("BAD_FIX", f"fix {fixed} drops every data variable -> virtualize committed an empty repository and said "
                     "ok (should refuse: nothing to virtualize; or the first message should not offer the drop)", "fix", "D")
    return _fail("BAD_FIX", f"fix {fixed} -> {then.outcome}: {then.reason}", "fix", then.owner or "C")


def _nothing_left(f: Path, kind: str, fixed: dict[str, Any]) -> bool:
    """True when dropping ``fixed['drop_variables']`` leaves no variable of the source (read by its own library)."""
    dropped = set(fixed.get("drop_variables") or [])
    if not dropped or kind not in ("hdf5", "netcdf3", "fits"):
        return False
    try:
        names = set(corpus_truth.source_variables(f, kind))
    except Exception:  # noqa: BLE001
        return False
    return not (names - dropped)


def run_file(src: Path, kind: str, work: Path, base: dict[str, Any] | None = None) -> Outcome:
    """Copy ``src`` (read-only session data) into ``work`` and run the pipeline on the copy, timed."""
    work.mkdir(parents=True, exist_ok=True)
    f = work / src.name
    shutil.copyfile(src, f)
    t0 = time.perf_counter()
    try:
        out = run_pipeline(f, kind, work, base=base)
    except Exception as exc:  # noqa: BLE001 - a bug in the harness or an escaped error: never hide it
        out = _traceback(exc, "harness", "E")
    out.seconds = time.perf_counter() - t0
    return out
