"""CLI output: the program name, ``CLIError`` (a ready one-line failure), one-line messages, JSON on stdout (:func:`vzskill.jsonable.jsonable`), the stage progress bar (stderr,
terminals only; ``rich`` is imported when a bar is drawn). Standard library only at module level.
"""

from __future__ import annotations

import json
import sys
from typing import Any


PROG = "vzskill"


class CLIError(Exception):
    """A failure with a ready one-line message and an exit code."""

    def __init__(self, message: str, exit_code: int = 2, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.payload = payload or {}


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _emit_json(data: Any) -> None:
    from vzskill.jsonable import jsonable  # numpy: imported when JSON is written, not for --help

    sys.stdout.write(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")


class _Progress:
    """Stage progress on stderr (rich), only when stderr is a terminal; a no-op otherwise."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> "_Progress":
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

                self._progress = Progress(
                    SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                )
                self._progress.start()
            except Exception:  # noqa: BLE001 - no rich: no bar
                self._progress = None
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(stage)
        if task is None:
            task = self._tasks[stage] = self._progress.add_task(stage, total=max(total, 1))
        self._progress.update(task, completed=done, total=max(total, 1))

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
