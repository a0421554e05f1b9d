"""The result of :func:`vzskill.verify`: mismatches, stale sources, findings, counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vzskill.parse import display_name

__all__ = ["MAX_CHUNKS_PER_FILE", "Mismatch", "Stale", "VerifyFinding", "VerifyReport"]

MAX_CHUNKS_PER_FILE = 20  # mismatching chunks listed per (variable, file); the count is always complete


@dataclass
class Mismatch:
    variable: str
    chunk: tuple[int, ...]
    file: str | None
    n_values: int  # differing values in the chunk
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "chunk": list(self.chunk), "file": self.file,
                "file_name": display_name(self.file) if self.file else None, "n_values": self.n_values,
                "message": self.message}


@dataclass
class Stale:
    file: str
    reason: str  # "missing" | "modified" | "unreadable"
    n_refs: int
    variables: list[str]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "file_name": display_name(self.file), "reason": self.reason,
                "n_refs": self.n_refs, "variables": self.variables, "message": self.message}


@dataclass
class VerifyFinding:
    """``severity`` "error" (fails the report) or "warning" (e.g. decoded-dtype / CF-attribute drift)."""

    severity: str
    kind: str
    message: str
    file: str | None = None
    variable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "message": self.message, "file": self.file,
                "variable": self.variable}


def _add(counts: dict[str, dict[str, int]], var: str, reason: str, n: int) -> None:
    per = counts.setdefault(var, {})
    per[reason] = per.get(reason, 0) + n


@dataclass
class VerifyReport:
    """What was compared, what differs, what could not be compared.

    ``compared``: variable -> chunks compared (virtual and stored in the repository);
    ``skipped``: variable -> reason -> chunks not compared (fails the report);
    ``skipped_by_request``: the same for what the caller asked to skip (``skip=``, ``skip_unreadable``) and what
    has nothing to compare with (a new dimension's coordinate supplied when writing).
    ``exit_code``: 0 ok / 1 mismatches, stale sources, errors or unrequested skips / 2 could not run.
    """

    ref: str = "main"
    snapshot_id: str | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    stale: list[Stale] = field(default_factory=list)
    findings: list[VerifyFinding] = field(default_factory=list)
    n_variables: int = 0  # arrays with virtual chunks
    n_chunks: int = 0  # virtual chunks compared
    n_native: int = 0  # chunks stored in the repository, compared
    n_refs: int = 0  # virtual chunk references in the snapshot
    files: list[str] = field(default_factory=list)  # referenced source files
    compared: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped_by_request: dict[str, dict[str, int]] = field(default_factory=dict)
    sample: int | None = None
    fatal: str | None = None
    mismatch_counts: dict[str, int] = field(default_factory=dict)  # variable -> differing chunks (complete)
    sampled: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (variable, chunk) picked by sample=N

    # ------------------------------------------------------------------ recording

    def count(self, var: str, n: int = 1, *, native: bool = False) -> None:
        self.compared[var] = self.compared.get(var, 0) + n
        if native:
            self.n_native += n
        else:
            self.n_chunks += n

    def skip(self, var: str, reason: str, n: int = 1, *, requested: bool = False) -> None:
        _add(self.skipped_by_request if requested else self.skipped, var, reason, n)

    def error(self, kind: str, message: str, file: str | None = None, variable: str | None = None) -> None:
        self.findings.append(VerifyFinding("error", kind, message, file, variable))

    def warn(self, kind: str, message: str, file: str | None = None, variable: str | None = None) -> None:
        if not any(f.kind == kind and f.variable == variable and f.message == message for f in self.findings):
            self.findings.append(VerifyFinding("warning", kind, message, file, variable))

    # ------------------------------------------------------------------ verdict

    @property
    def errors(self) -> list[VerifyFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[VerifyFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return (self.fatal is None and not self.mismatches and not self.stale and not self.errors
                and not self.skipped)

    @property
    def exit_code(self) -> int:
        if self.fatal is not None:
            return 2
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (:func:`vzskill.jsonable.jsonable`)."""
        from vzskill.jsonable import jsonable

        names = sorted(set(self.compared) | set(self.skipped) | set(self.skipped_by_request))
        return jsonable({
            "ok": self.ok,
            "exit_code": self.exit_code,
            "fatal": self.fatal,
            "ref": self.ref,
            "snapshot_id": self.snapshot_id,
            "sample": self.sample,
            "sampled": [[v, list(c)] for v, c in self.sampled],
            "n_variables": self.n_variables,
            "n_chunks_compared": self.n_chunks,
            "n_native_chunks_compared": self.n_native,
            "n_refs": self.n_refs,
            "n_files": len(self.files),
            "variables": {v: {"compared": self.compared.get(v, 0), "skipped": self.skipped.get(v, {}),
                              "skipped_by_request": self.skipped_by_request.get(v, {})} for v in names},
            "mismatch_counts": dict(self.mismatch_counts),
            "mismatches": [m.to_dict() for m in self.mismatches],
            "stale": [s.to_dict() for s in self.stale],
            "findings": [f.to_dict() for f in self.findings],
            "warnings": [f.to_dict() for f in self.warnings],
            "files": self.files,
        })

    def format_table(self) -> str:
        head = f"vzskill verify: {self.ref}" + (f" (snapshot {self.snapshot_id})" if self.snapshot_id else "")
        if self.fatal is not None:
            return f"{head}\ncould not run: {self.fatal}"
        what = f"{self.sample} sampled chunk(s) per variable" if self.sample else "every chunk"
        lines = [
            f"{head} -> {'OK' if self.ok else 'FAILED'}: {self.n_chunks} virtual chunk(s) of {self.n_variables} "
            f"virtual variable(s) and {self.n_native} chunk(s) stored in the repository compared with their sources "
            f"({what}), {len(self.files)} source file(s), {self.n_refs} reference(s)"
        ]
        if self.compared:
            lines.append("Compared: " + ", ".join(f"{v} {n}" for v, n in sorted(self.compared.items())))
        for title, table in (("Not compared", self.skipped), ("Not compared, not failing (skipped on request, or nothing to compare)", self.skipped_by_request)):
            if table:
                parts = [f"{v}: " + ", ".join(f"{n} chunk(s) {why}" for why, n in sorted(r.items()))
                         for v, r in sorted(table.items())]
                lines.append(f"{title}: " + "; ".join(parts))
        if self.stale:
            lines += ["", "Stale sources:"] + [f"  {s.reason.upper():<10}  {s.message}" for s in self.stale]
        if self.mismatches:
            lines += ["", "Value mismatches (variable, chunk index, source file):"]
            lines += [f"  {m.message}" for m in self.mismatches]
            for var, n in self.mismatch_counts.items():
                shown = sum(1 for m in self.mismatches if m.variable == var)
                if n > shown:
                    lines.append(f"  ... {var}: {n - shown} more differing chunk(s)")
        if self.findings:
            lines += [""] + [f"  {f.severity.upper():<7}  {f.message}" for f in self.findings]
        return "\n".join(lines)
