"""What a write returns (:class:`WriteResult`) and how it fails (:class:`VirtualizeError`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ATTRS_RULE = (
    "global attributes: drop_conflicts (kept when equal in every file and in the stored data, "
    "added when only some have them, dropped when their values differ)"
)


class VirtualizeError(RuntimeError):
    """The pipeline stopped before committing; nothing was written.

    Attributes
    ----------
    report
        The :class:`vzskill.preflight.CheckReport` when the check found errors, else None.
    exit_code
        1 for findings (check errors), 2 when the write could not run.
    """

    def __init__(self, message: str, report: Any = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.report = report
        self.exit_code = exit_code


@dataclass
class WriteResult:
    """One committed write.

    ``concat_dim`` is what the files were combined/appended along (None: one file, no concat;
    a list for N-D grids) and ``concat_reason`` says why. ``dropped_attrs`` names the global
    attributes removed because their values differ (see ``attrs_rule``). ``containers`` are the
    repository's virtual chunk container prefixes this write needs. An append's ``skipped`` files
    were in the repository already (same values, same source: not written again); ``inserted``
    files went before the stored tail (references moved, no data copied); ``attempts`` counts the
    tries (more than 1: other writers committed first and this write was redone on their tip).
    ``snapshots`` are the commits this call made, in order (one, or none when every file was stored
    already; a batched write makes one per batch of at most ``batch_refs`` references: ``batches``);
    ``resumed_files`` counts the files an earlier run of the same batched command had committed
    (not parsed again); ``batch_refs`` is the batch size in references (None: no batches).
    """

    snapshot_id: str
    branch: str
    n_files: int
    variables: list[str]
    nrefs: int
    repo: str | None = None
    appended: bool = False
    dims: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    concat_dim: str | list[str] | None = None
    concat_reason: str = ""
    dropped_attrs: list[str] = field(default_factory=list)
    attrs_rule: str = ATTRS_RULE
    containers: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)
    attempts: int = 1
    snapshots: list[str] = field(default_factory=list)
    batches: int = 1
    resumed_files: int = 0
    batch_refs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
