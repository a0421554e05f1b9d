"""Reference solution for big_archive_batches: SKILL.md "Appending later" (virtualize(..., append=True) commits
once per call), in batches sized by the references one file holds (formats.md: parse_files; SKILL.md: vz.nrefs())."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['**Appending**', 'The same with plain library calls']


def solve(task_dir: Path) -> None:
    """First file alone (how many references a file holds), then batches of whole files, each one append commit."""
    import vzskill
    from vzskill.parse import parse_files

    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _task import params
    else:
        from evals.solutions._task import params

    root = Path(task_dir).resolve()
    batch_refs = int(params(root)["batch_refs"])
    paths = sorted((root / "inputs" / "archive").glob("temp_*.nc"))
    location = root / "output" / "archive.icechunk"

    [first] = parse_files(paths[:1])
    assert first.dataset is not None, first.error
    per_file = first.dataset.vz.nrefs()
    step = max(1, batch_refs // per_file)       # whole files per commit, at most batch_refs references
    first_batch = 0
    if not location.exists():                   # a rerun appends everything: stored files are skipped
        vzskill.virtualize(paths[:1], location)
        first_batch = 1
    for start in range(first_batch, len(paths), step):
        vzskill.virtualize(paths[start:start + step], location, append=True)
    report = vzskill.verify(location)
    assert report.ok, report.format_table()


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
