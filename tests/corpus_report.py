"""Run the corpus outside pytest and print the outcome table (``.venv/bin/python -m tests.corpus_report``).

``--markdown`` prints the failing files grouped by owner, the body of ``.notes/corpus-findings.md``.
``--only SUBSTRING`` limits the run to files whose package-relative path contains SUBSTRING.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

from tests.corpus_outcome import run_file
from tests.plugins.corpus import collect_corpus, format_outcomes

OWNERS = {"A": "A (verify)", "B": "B (check)", "C": "C (parse/errors)", "D": "D (virtualize/CLI)", "E": "E (corpus harness)"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--concat-dim-none", action="store_true", help="pass concat_dim=None to check and virtualize")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    corpus = collect_corpus()
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, cf in enumerate(f for f in corpus.files if args.only in f.relpath):
            out = run_file(cf.path, cf.kind, Path(tmp) / f"f{i}", {"concat_dim": None} if args.concat_dim_none else None)
            rows.append(out.row(cf.package, cf.relpath))
    total = time.perf_counter() - t0
    if not args.markdown:
        print(corpus.summary())
        print("\n".join(format_outcomes(rows)))
        print(f"{len(rows)} files in {total:.1f} s")
        return 0
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# Corpus findings (run {stamp})\n")
    print(f"{corpus.summary()}; {len(rows)} files in {total:.1f} s.")
    print("Reproduce one file: `.venv/bin/python -m tests.corpus_report --only <path>`; the whole table: "
          "`.venv/bin/pytest -q tests/test_corpus.py` (summary at the end).\n")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    print("Outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + "\n")
    bad = [r for r in rows if r["outcome"] not in ("VERIFIED", "REFUSED")]
    for owner, title in OWNERS.items():
        mine = [r for r in bad if r["owner"] == owner]
        if not mine:
            continue
        print(f"## {title}: {len(mine)}\n")
        print("| file | outcome | stage | reason |\n|---|---|---|---|")
        for r in sorted(mine, key=lambda r: (r["outcome"], r["file"])):
            reason = r["reason"].replace("|", "\\|")
            print(f"| `{r['file']}` | {r['outcome']} | {r['stage']} | {reason} |")
        print()
    print("## Passing\n")
    print("| file | outcome | reason |\n|---|---|---|")
    for r in sorted((r for r in rows if r not in bad), key=lambda r: (r["outcome"], r["file"])):
        print(f"| `{r['file']}` | {r['outcome']} | {r['reason'].replace('|', chr(92) + '|')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
