"""What :func:`vzskill.check` reports: a :class:`Finding` (one problem, one line, with its fix)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vzskill.parse import display_name

__all__ = ["Finding", "SEVERITIES"]

SEVERITIES = ("error", "warning")


@dataclass
class Finding:
    """One problem. ``message`` is the complete one-line text (it ends with ``-> fix``); ``fix`` is the fix alone."""

    severity: str  # "error" | "warning"
    file: str | None  # URL of the odd file (None: about the whole set of files)
    variable: str | None
    kind: str
    message: str
    fix: str

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (adds ``file_name``, the file's basename)."""
        return {
            "severity": self.severity,
            "file": self.file,
            "file_name": display_name(self.file) if self.file else None,
            "variable": self.variable,
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix,
        }
