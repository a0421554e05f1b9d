"""``vzskill`` command line: demo, inspect, virtualize, check, verify, doctor, install-skill.

Non-interactive. Every command has ``--help`` and ``--json`` (one JSON document on stdout, for
agents), exits 0 (ok) / 1 (findings: check errors, value mismatches, files that cannot be read) /
2 (could not run: bad arguments, unsupported stack, unreachable repository), and reports a failure
as ONE line on stderr (no traceback; set ``VZSKILL_DEBUG=1`` for one). A progress bar is drawn on
stderr only when stderr is a terminal.

Only the standard library is imported at module level, so ``vzskill --help`` and ``vzskill doctor``
work on any Python and the stack guard can explain an unsupported environment (Python 3.11,
icechunk 1.x) instead of failing with an ImportError.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from vzskill import __version__
from vzskill import doctor as _doctor
from vzskill.cli_demo import cmd_demo
from vzskill.cli_output import PROG, CLIError, _emit_json, _one_line, _Progress
from vzskill.errors import quiet
from vzskill.sources import Access

if TYPE_CHECKING:
    from vzskill.preflight import CheckReport
    from vzskill.verify_report import VerifyReport

class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage errors exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _access(args: argparse.Namespace) -> Access:
    """The sources' Access from --anonymous/--endpoint/--region (commands without them: the defaults)."""
    return Access(
        anonymous=getattr(args, "anonymous", False),
        region=getattr(args, "region", None),
        endpoint=getattr(args, "endpoint", None),
    )


# --------------------------------------------------------------------------- commands


def cmd_doctor(args: argparse.Namespace) -> int:
    report = _doctor.diagnose()
    if args.json:
        _emit_json(report.to_dict())
    else:
        print(report.format_table())
    if not report.ok:
        sys.stderr.write(f"{PROG} doctor: {_one_line(report.errors[0].message)}\n")
    return report.exit_code


def cmd_inspect(args: argparse.Namespace) -> int:
    from vzskill.inventory import format_info, inspect_files

    with _Progress(None if not args.json else False) as progress:
        progress("inspect", 0, len(args.files))
        infos = inspect_files(args.files, _access(args), group=args.group)
        progress("inspect", len(args.files), len(args.files))
    if args.json:
        _emit_json({"ok": not any(i.error for i in infos), "files": [i.to_dict() for i in infos]})
    else:
        print("\n\n".join(format_info(i) for i in infos))
    failed = [i for i in infos if i.error]
    if failed:
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        sys.stderr.write(f"{PROG} inspect: {_one_line(failed[0].error or '')}{more}\n")
        return 1
    return 0


def cmd_virtualize(args: argparse.Namespace) -> int:
    from vzskill.cli_write import LayoutArgError, format_result, layout_from_args, parallel_options
    from vzskill.write import VirtualizeError, virtualize

    try:
        layout = layout_from_args(args)
    except LayoutArgError as exc:
        raise CLIError(str(exc), exit_code=2) from None
    try:
        with _Progress(None if not args.json else False) as progress:
            result = virtualize(
                layout.urls,
                args.repo,
                concat_dim=layout.concat_dim,
                combine=args.combine,
                access=_access(args),
                append=args.append,
                branch=args.branch,
                message=args.message,
                loadable_variables=args.loadable,
                drop_variables=args.drop,
                check=not args.no_check,
                progress=progress,
                coords=layout.coords,
                **({} if args.retries is None else {"conflict_retries": args.retries}),
                **parallel_options(args),
            )
    except VirtualizeError as exc:
        payload: dict[str, Any] = {}
        if exc.report is not None:
            payload["check"] = exc.report.to_dict()
            if not args.json:
                print(exc.report.format_table())
        raise CLIError(str(exc), exit_code=exc.exit_code, payload=payload) from exc
    if args.json:
        _emit_json({"ok": True, **result.to_dict()})
    else:
        print("\n".join(format_result(result, args.repo)))
    return 0


def _finish_report(command: str, report: CheckReport | VerifyReport, as_json: bool, fallback: str) -> int:
    """Print a check/verify report (JSON or table) and, on failure, one line on stderr; return its exit code."""
    if as_json:
        _emit_json(report.to_dict())
    else:
        print(report.format_table())
    code = int(report.exit_code)
    if code:
        errors = report.errors
        if report.fatal:
            line = f"error: {_one_line(report.fatal)}"
        elif errors:
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            line = f"{_one_line(errors[0].message)}{more}"
        else:
            line = fallback
        sys.stderr.write(f"{PROG} {command}: {line}\n")
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from vzskill import check
    from vzskill.cli_write import parallel_options

    with _Progress(None if not args.json else False) as progress:
        progress("check", 0, 1)
        dims = list(args.concat_dim or [])
        report = check(args.urls, concat_dim=None if not dims else dims[0] if len(dims) == 1 else dims, access=_access(args),
                       **parallel_options(args))
        progress("check", 1, 1)
    return _finish_report("check", report, args.json, "error: check could not run")


def cmd_verify(args: argparse.Namespace) -> int:
    from vzskill.repo import RepositoryNotFound, open_location
    from vzskill import verify

    access = _access(args)
    try:
        repo = open_location(args.repo, access)
    except RepositoryNotFound as exc:
        raise CLIError(str(exc)) from None
    with _Progress(None if not args.json else False) as progress:
        progress("verify", 0, 1)
        report = verify(
            repo, args.urls or None, branch=args.branch, tag=args.tag, snapshot_id=args.snapshot,
            sample=args.sample, access=access, skip=args.skip, skip_unreadable=args.skip_unreadable,
        )
        progress("verify", 1, 1)
    n_bad = len(report.mismatches) + len(report.stale)
    return _finish_report(
        "verify", report, args.json,
        f"repository does not match its sources ({n_bad} problem(s)) -> see the report on stdout",
    )


def cmd_install_skill(args: argparse.Namespace) -> int:
    from vzskill.skill import install_skill

    path = install_skill(args.dest)
    if args.json:
        _emit_json({"ok": True, "path": str(path), "files": sorted(p.name for p in Path(path).iterdir())})
    else:
        print(f"installed the skill into {path}")
    return 0


# --------------------------------------------------------------------------- parser


def _add_access(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("remote sources")
    g.add_argument("--anonymous", action="store_true", help="unsigned requests for public S3/GCS/Azure sources")
    g.add_argument("--endpoint", metavar="URL", help="S3-compatible endpoint (MinIO, Ceph, moto...); implies path-style")
    g.add_argument("--region", metavar="R", help="S3 region (default: AWS_REGION or us-east-1)")


def build_parser() -> _Parser:
    from vzskill.cli_write import add_parallel_arguments, whole_number  # standard library only

    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout (for agents)")

    parser = _Parser(
        prog=PROG,
        description="Virtualize NetCDF/HDF5/FITS/GRIB/TIFF/HDF4 archives with VirtualiZarr into Icechunk, check them first, verify them after.",
        epilog="Exit codes: 0 ok, 1 findings (check errors, mismatches), 2 could not run. VZSKILL_DEBUG=1 shows tracebacks.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", parents=[common], help="make sample files, virtualize, read back, compare (seconds)",
                       description="Make sample NetCDF4 files, virtualize them into a local Icechunk repo, read back and "
                                   "compare with a direct h5netcdf read.")
    p.add_argument("--dir", metavar="D", help="work directory (default: a new temporary directory); D/repo is replaced")
    p.add_argument("--files", type=int, default=3, metavar="N", help="number of sample files (default 3)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("inspect", parents=[common], help="variables, shapes, chunks, codecs, dtypes, fill values, time units",
                       description="Describe files as VirtualiZarr sees them (every variable virtual).")
    p.add_argument("files", nargs="+", metavar="FILE", help="local paths or URLs (file://, s3://, gs://, az://, http(s)://)")
    p.add_argument("--group", help="HDF5/NetCDF4 group to describe")
    _add_access(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("virtualize", parents=[common], help="parse + check + combine + write to Icechunk in one commit",
                       description="Virtualize URLs into an Icechunk repository in ONE commit. Nothing is written when "
                                   "check finds an error or the write fails.")
    p.add_argument("urls", nargs="*", metavar="URL", help="source files (local paths or URLs), in concat order")
    p.add_argument("--repo", required=True, metavar="PATH_OR_URL", help="repository: local directory, s3://bucket/prefix, gs://, az://")
    p.add_argument("--concat-dim", action="append", metavar="DIM",
                   help="dimension to concatenate/append along (default: inferred - one file: none; several: the dimension "
                        "whose values differ, else the record dimension); repeat for a grid, outermost first")
    p.add_argument("--grid", metavar="FILE.json",
                   help='N-D grid of files: {"concat_dim": ["member", "time"], "files": [[...], [...]], "coords": '
                        '{"member": [...]}} (coords optional; relative paths are relative to the JSON file)')
    p.add_argument("--new-dim", metavar="NAME=REGEX",
                   help="stack the URLs along a new outer dimension NAME, grouped by a regex capture on the file name "
                        "(values = the captures), e.g. --new-dim member='ens(\\d+)'")
    p.add_argument("--combine", choices=["nested", "by_coords"], default="nested", help="nested (default, uses --concat-dim) or by_coords")
    p.add_argument("--append", action="store_true", help="append along --concat-dim to the data on --branch")
    p.add_argument("--branch", default="main", help="branch to commit to (created from main if missing)")
    p.add_argument("--message", "-m", help="commit message")
    p.add_argument("--loadable", action="append", metavar="VAR", help="load VAR into the repo instead of referencing it (repeatable)")
    p.add_argument("--drop", action="append", metavar="VAR", help="drop VAR while parsing (repeatable)")
    p.add_argument("--no-check", action="store_true", help="skip the consistency check (not recommended)")
    p.add_argument("--retries", type=whole_number(0), metavar="N",
                   help="redo attempts when other writers committed first (default 16; 0: fail on the first conflict)")
    add_parallel_arguments(p, write=True)
    _add_access(p)
    p.set_defaults(func=cmd_virtualize)

    p = sub.add_parser("check", parents=[common], help="find what would make virtualize fail or give wrong data",
                       description="Parse the files once and report inconsistent chunks, codecs, dtypes, time units, "
                                   "unreadable variables.")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.add_argument("--concat-dim", action="append", metavar="DIM",
                   help="dimension the files will be concatenated along (default: inferred); repeat for a grid")
    add_parallel_arguments(p)
    _add_access(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("verify", parents=[common], help="compare a repository's values with its sources; find stale sources",
                       description="Read the repository and the source files and compare values; report missing or "
                                   "modified sources.")
    p.add_argument("urls", nargs="*", metavar="URL", help="source files (default: the ones the repository references)")
    p.add_argument("--repo", required=True, metavar="PATH_OR_URL")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--branch", default="main")
    ref.add_argument("--tag")
    ref.add_argument("--snapshot", metavar="ID")
    p.add_argument("--sample", type=int, metavar="N", help="compare N sampled chunks per variable instead of everything")
    p.add_argument("--skip", action="append", metavar="VAR_OR_FORMAT",
                   help="do not compare this variable (array path) or format (fits, hdf5, netcdf3, zarr...); listed as "
                        "skipped by request, not failing the report (repeatable)")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="skip sources without a direct reader (or that cannot be opened) instead of failing the report")
    _add_access(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("doctor", parents=[common], help="installed versions vs tested versions, known drift",
                       description="Compare Python and package versions with the tested stack; exit 2 when unsupported.")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("install-skill", parents=[common], help="copy the agent skill (SKILL.md + references) into DEST",
                       description="Install the skill folder (named after SKILL.md's name) into DEST, e.g. ~/.claude/skills.")
    p.add_argument("dest", metavar="DEST")
    p.set_defaults(func=cmd_install_skill)
    return parser


def _unexpected(exc: Exception) -> str:
    """The one-line message of an exception vzskill did not turn into a CLIError (its type named unless known)."""
    from vzskill.doctor import UnsupportedStackError
    from vzskill.sources import SourceError

    text = _one_line(str(exc))
    known = isinstance(exc, (SourceError, FileNotFoundError, PermissionError, UnsupportedStackError))
    if known and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _refuse_stack(args: argparse.Namespace) -> bool:
    """An unsupported stack (every command but doctor): one line (and JSON), True."""
    problem = _doctor.stack_problem()
    if not problem:
        return False
    if getattr(args, "json", False):
        _emit_json({"ok": False, "exit_code": 2, "error": problem})
    sys.stderr.write(f"{PROG}: {problem}\n")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vzskill`` command line.

    Parameters
    ----------
    argv
        The arguments after the program name; ``None``: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 ok, 1 findings, 2 could not run, 130 interrupted. A failure is one line on stderr
        (``--json``: also a JSON document on stdout).

    Raises
    ------
    SystemExit
        From argparse: ``--help`` / ``--version`` (code 0) and usage errors (code 2, one line on stderr).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stdout)
        sys.stderr.write(f"{PROG}: error: missing COMMAND (see `{PROG} --help`)\n")
        return 2
    command = args.command
    func: Callable[[argparse.Namespace], int] = args.func
    if command != "doctor" and _refuse_stack(args):
        return 2
    payload: dict[str, Any] = {}
    try:
        with quiet():
            return int(func(args) or 0)
    except CLIError as exc:
        message, code, payload = _one_line(str(exc)), exc.exit_code, exc.payload
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {command}: interrupted\n")
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        if os.environ.get("VZSKILL_DEBUG"):
            raise
        message, code = _unexpected(exc), 2
    if getattr(args, "json", False):
        _emit_json({"ok": False, "exit_code": code, "error": message, **payload})
    sys.stderr.write(f"{PROG} {command}: error: {message}\n")
    return code
