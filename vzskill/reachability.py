"""The roots that the virtual references point to can be read, checked before anything is written.

Kerchunk references and Zarr stores may point below other folders, buckets or hosts than the input
files: :func:`probe_references` reads the metadata of one referenced object below every such root
(one request each), so a moved archive or a missing permission is one line before the commit.
"""

from __future__ import annotations

import os
from typing import Sequence

import xarray as xr

from vzskill.containers import covered, source_prefixes
from vzskill.outcome import VirtualizeError
from vzskill.sources import Access, Source, local_path, parse_source

__all__ = ["reference_urls", "probe_references"]


def reference_urls(datasets: Sequence[xr.Dataset]) -> list[str]:
    """Every distinct chunk path the datasets' manifests reference (:func:`vzskill.parse.reference_urls`)."""
    from vzskill.parse import reference_urls as from_parse

    return list(from_parse(list(datasets)))


def probe_references(prefixes: list[str], refs: list[str], inputs: Sequence[Source | str], access: Access | None) -> None:
    """Read the metadata of one referenced object below every prefix the input files do not cover.

    Raises
    ------
    VirtualizeError
        A referenced root is missing or refuses access: one line naming it and the option that fixes it.
    """
    import obstore
    from obstore.exceptions import NotFoundError

    from vzskill.registry import store_for

    own = source_prefixes(inputs)
    for prefix in prefixes:
        if covered(prefix, own):
            continue
        sample = next((u for u in refs if u.startswith(prefix)), None)
        if sample is None:
            continue
        if sample.startswith("file://"):
            if not os.path.exists(local_path(sample)):
                raise VirtualizeError(
                    f"referenced data {sample} does not exist (the references point below {prefix}) -> "
                    "restore the data there, or regenerate the references for where the data is now"
                )
            continue
        source = parse_source(sample)
        try:
            obstore.head(store_for(source, access), source.path)
        except NotFoundError:
            raise VirtualizeError(
                f"referenced data {sample} does not exist (the references point below {prefix}) -> "
                "regenerate the references for where the data is now"
            ) from None
        except Exception as exc:  # noqa: BLE001 - permission/auth/network: name the root and the options
            raise VirtualizeError(
                f"referenced data below {prefix} cannot be read ({type(exc).__name__}) -> pass --anonymous for a public "
                "bucket, or --endpoint URL / --region R / credentials in the environment (Python: access=Access(...))"
            ) from None
