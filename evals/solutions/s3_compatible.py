"""Reference solution for s3_compatible: examples.md "S3 with an explicit endpoint and keys (plain library calls)"."""

from __future__ import annotations

import sys
from pathlib import Path

SHOWN_IN = ['S3 with an explicit endpoint and keys (plain library calls)']  # headings / gotchas of the installed skill this copies from


def solve(task_dir: Path) -> None:
    """Sources s3://bucket/archive/temp_*.nc, repository s3://repo_bucket/archive.icechunk; keys from the environment."""
    import os

    import icechunk
    import virtualizarr as vz
    import xarray as xr
    from obspec_utils.registry import ObjectStoreRegistry
    from obstore.store import S3Store
    from virtualizarr.parsers import HDFParser

    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _task import params
    else:
        from evals.solutions._task import params

    given = params(task_dir)
    endpoint, bucket, repo_bucket = given["endpoint"], given["bucket"], given["repo_bucket"]
    region = "us-east-1"
    keys = dict(access_key_id=os.environ["AWS_ACCESS_KEY_ID"], secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    plain_http = endpoint.startswith("http://")
    urls = [f"s3://{bucket}/archive/temp_{i:03d}.nc" for i in range(3)]

    store = S3Store(bucket, endpoint=endpoint, region=region, client_options={"allow_http": plain_http}, **keys)
    registry = ObjectStoreRegistry({f"s3://{bucket}": store})
    parts = [vz.open_virtual_dataset(u, registry=registry, parser=HDFParser()) for u in urls]
    vds = xr.concat(parts, dim="time", coords="minimal", compat="override", combine_attrs="override")

    prefix = f"s3://{bucket}/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(prefix, icechunk.s3_store(
        region=region, endpoint_url=endpoint, allow_http=plain_http, s3_compatible=True, force_path_style=True)))
    credentials = icechunk.containers_credentials({prefix: icechunk.s3_credentials(**keys)})

    storage = icechunk.s3_storage(bucket=repo_bucket, prefix="archive.icechunk", endpoint_url=endpoint,
                                  region=region, allow_http=plain_http, force_path_style=True, **keys)
    repo = icechunk.Repository.create(storage, config, credentials)
    with repo.transaction("main", message="3 files from S3") as session_store:
        vds.vz.to_icechunk(session_store)

    reader = icechunk.Repository.open(storage, authorize_virtual_chunk_access=credentials)
    ds = xr.open_zarr(reader.readonly_session("main").store, consolidated=False, zarr_format=3)
    assert ds.sizes["time"] == 12


if __name__ == "__main__":
    solve(Path(sys.argv[1]))
