"""What every reference solution reads first: the task folder's task.json (the prompt's parameters)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def params(task_dir: Path) -> dict[str, Any]:
    """The values the prompt names (endpoint, bucket, base_url, ...)."""
    return dict(json.loads((Path(task_dir) / "task.json").read_text())["params"])
