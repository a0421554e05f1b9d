"""Credentials and authorization.

* the secret (a distinctive test key in the environment) never appears in stdout, stderr or JSON of
  S3 CLI runs - successes, failures, ``VZSKILL_DEBUG=1`` tracebacks, icechunk debug logging asked for;
* library WARN log lines (icechunk's "not safe for concurrent commits" ...) stay off the CLI's stderr;
* a repository authorizes exactly the container prefixes of its sources (their folder, also in an S3
  bucket): a reference outside them is refused at write;
* ``--anonymous`` (``Access(anonymous=True)``) is for the sources only, never the repository storage.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import icechunk
import pytest

import vzskill
from vzskill.containers import declared_prefixes, open_repo
from vzskill.repo import storage_for
from vzskill.write import virtualize

SECRET = "vzSeCrEt+Do/Not/Print+7f3a91c2e4b8d6"
KEY_ID = "VZKEYIDDONOTPRINT42"


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_EC2_METADATA_DISABLED": "true", **env}
    return subprocess.run([sys.executable, "-m", "vzskill", *args], capture_output=True, text=True, env=full, timeout=120)


@pytest.mark.s3
@pytest.mark.timeout(240)
def test_secret_never_in_cli_output_and_no_library_warnings(s3_endpoint: str, s3_data_bucket: str, make_bucket) -> None:
    """moto accepts any credentials: the CLI runs sign with SECRET, and no byte of their output holds it."""
    urls = [f"s3://{s3_data_bucket}/series/temp_00{i}.nc" for i in range(3)]
    repo = f"s3://{make_bucket()}/repo"
    remote = ["--endpoint", s3_endpoint]
    runs = {
        "virtualize --json (icechunk debug log asked)": (["virtualize", *urls[:2], "--repo", repo, *remote, "--json"],
                                                         {"ICECHUNK_LOG": "debug", "RUST_LOG": "debug"}),
        "append": (["virtualize", urls[2], "--repo", repo, "--append", *remote], {}),
        "verify --json": (["verify", "--repo", repo, *remote, "--json"], {}),
        "missing source, debug traceback": (["virtualize", f"s3://{s3_data_bucket}/series/nope.nc", "--repo", repo,
                                             "--append", *remote], {"VZSKILL_DEBUG": "1"}),
    }
    codes = {}
    for name, (args, env) in runs.items():
        out = _cli(args, **env)
        codes[name] = out.returncode
        for stream, text in (("stdout", out.stdout), ("stderr", out.stderr)):
            assert SECRET not in text, f"{name}: the secret is in {stream}"
            assert SECRET.replace("/", "%2F").replace("+", "%2B") not in text, f"{name}: the secret (URL-quoted) in {stream}"
        if "debug" not in name:
            warn = [line for line in out.stderr.splitlines() if " WARN " in line or "Warning:" in line]
            assert not warn, f"{name}: library warnings on stderr: {warn[:3]}"
    assert codes == {**{n: 0 for n in runs}, "missing source, debug traceback": codes["missing source, debug traceback"]}
    assert codes["missing source, debug traceback"] != 0


def test_local_cli_write_keeps_icechunk_warnings_off_stderr(tmp_path: Path, series_files: list[Path]) -> None:
    out = _cli(["virtualize", *map(str, series_files), "--repo", str(tmp_path / "repo")])
    assert out.returncode == 0, out.stderr
    assert "WARN" not in out.stderr and "not safe for concurrent commits" not in out.stderr, out.stderr


def test_repository_authorizes_exactly_the_source_prefixes(tmp_path: Path, series_files: list[Path]) -> None:
    (tmp_path / "other").mkdir()
    outside = tmp_path / "other" / "x.nc"
    outside.write_bytes(series_files[0].read_bytes())
    virtualize(series_files[:1], tmp_path / "repo")
    prefix = series_files[0].parent.as_uri() + "/"
    assert declared_prefixes(storage_for(tmp_path / "repo")) == [prefix]  # the folder, not file:/// or its parent
    repo = open_repo(storage_for(tmp_path / "repo"))
    assert repo.authorized_virtual_container_prefixes == {prefix}
    session = repo.writable_session("main")
    with pytest.raises(icechunk.IcechunkError) as info:  # a reference outside the containers: refused at write
        session.store.set_virtual_ref("temperature/c/0/0/0", outside.as_uri(), offset=0, length=8)
    assert getattr(info.value, "kind", None) in {icechunk.ErrorKind.NO_CONTAINER_FOR_VIRTUAL_CHUNK,
                                                 icechunk.ErrorKind.INVALID_VIRTUAL_REF}, info.value


@pytest.mark.s3
def test_anonymous_is_never_applied_to_the_repository(s3_endpoint: str, s3_public_bucket: str, make_bucket) -> None:
    """Sources read unsigned (public bucket); the private repository bucket needs (and gets) the credentials."""
    from tests.plugins.servers import repo_storage

    urls = [f"s3://{s3_public_bucket}/series/temp_00{i}.nc" for i in range(2)]
    bucket = make_bucket()
    access = vzskill.Access(anonymous=True, endpoint=s3_endpoint)
    result = virtualize(urls, f"s3://{bucket}/repo", access=access)
    assert result.n_files == 2
    storage = repo_storage(s3_endpoint, bucket, "repo")
    assert icechunk.Repository.open(storage).lookup_branch("main") == result.snapshot_id
    folder = f"s3://{s3_public_bucket}/series/"  # the sources' common folder, not the whole bucket
    assert declared_prefixes(storage) == [folder]
    repo = open_repo(storage, access)
    assert repo.authorized_virtual_container_prefixes == {folder}
    session = repo.writable_session("main")
    for outside in (f"s3://{s3_public_bucket}/other/x.nc", f"s3://{s3_public_bucket}/series2/x.nc"):
        with pytest.raises(icechunk.IcechunkError) as info:  # elsewhere in the same bucket: refused at write
            session.store.set_virtual_ref("temperature/c/0/0/0", outside, offset=0, length=8)
        assert info.value.kind == icechunk.ErrorKind.NO_CONTAINER_FOR_VIRTUAL_CHUNK, info.value
    anonymous_storage = icechunk.s3_storage(bucket=bucket, prefix="repo", endpoint_url=s3_endpoint, region="us-east-1",
                                            allow_http=True, force_path_style=True, anonymous=True)
    with pytest.raises(Exception):  # noqa: B017 - the private bucket refuses unsigned requests (moto ACLs):
        # so the write above was signed - the anonymous flag stayed with the sources
        icechunk.Repository.open(anonymous_storage).lookup_branch("main")
