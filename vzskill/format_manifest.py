"""Rebuild a ManifestStore from (some of) the variables of a virtual dataset.

The format wrappers (:mod:`vzskill.format_tiff`, :mod:`vzskill.format_hdf4`,
:mod:`vzskill.format_grib`) keep, drop or correct arrays of what an upstream parser returned; they
do it through the public virtual-dataset view (``ManifestStore.to_virtual_dataset`` /
``to_virtual_datatree``), where a variable's dims and attributes live on the xarray variable, and
put them back into each array's Zarr metadata here.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

__all__ = ["manifest_array", "manifest_store"]


def manifest_array(var: Any, edit: Callable[[dict[str, Any]], None] | None = None) -> Any:
    """The virtual variable's ManifestArray with its dims and attributes in the metadata (``edit`` may change it)."""
    from virtualizarr.manifests import ManifestArray
    from zarr.core.metadata.v3 import ArrayV3Metadata

    meta = var.data.metadata.to_dict()
    meta["dimension_names"] = [str(d) for d in var.dims]
    meta["attributes"] = {str(k): (int(v) if isinstance(v, int) else v) for k, v in var.attrs.items()}
    if edit is not None:
        edit(meta)
    return ManifestArray(metadata=ArrayV3Metadata.from_dict(meta), chunkmanifest=var.data.manifest)


def manifest_store(arrays: Mapping[str, Any], attrs: Mapping[str, Any], registry: Any,
                   coords: list[str] | None = None) -> Any:
    """A one-group ManifestStore of ``arrays`` (``coords`` are flagged as coordinates, as parsers do)."""
    from virtualizarr.manifests import ManifestGroup, ManifestStore

    attributes = dict(attrs)
    if coords:
        attributes["coordinates"] = " ".join(coords)
    return ManifestStore(ManifestGroup(arrays=dict(arrays), attributes=attributes), registry=registry)
