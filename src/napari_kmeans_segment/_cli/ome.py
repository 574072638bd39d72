"""Minimal OME-Zarr (OME-NGFF 0.4 on zarr format 2, the version most viewers read) for the
outputs of large images: one resolution level, axes, scale, and label colours."""

from __future__ import annotations

from pathlib import Path

from .inputs import Source

NGFF_VERSION = "0.4"
_SPACE_NAMES = {1: ["x"], 2: ["y", "x"], 3: ["z", "y", "x"]}


def ome_axes(src: Source, channel_dim: int | None) -> tuple[list[dict], list[float] | None]:
    """Axes and level-0 scale of the spatial axes: the input's own when it is OME-Zarr,
    else z/y/x (and t before them for 4 spatial axes)."""
    shape = src.shape or ()
    n = len(shape) - (channel_dim is not None)
    scale = None
    if src.scale is not None and len(src.scale) == len(shape):
        scale = [s for d, s in enumerate(src.scale) if d != channel_dim]
    if n in _SPACE_NAMES:
        axes = [{"name": a, "type": "space"} for a in _SPACE_NAMES[n]]
    elif n == 4:
        axes = [{"name": "t", "type": "time"}] + [{"name": a, "type": "space"} for a in "zyx"]
    else:  # beyond what OME-NGFF 0.4 describes: plain names, no types
        axes = [{"name": f"dim_{i}"} for i in range(n)]
    return axes, scale


def create_ome_array(
    group_path: Path,
    name: str,
    arr,
    axes: list[dict],
    scale: list[float] | None,
    colors: list[dict] | None = None,
) -> str:
    """Create an empty OME-Zarr image (level "0" shaped and chunked like the dask array
    ``arr``) at ``group_path``; return the level's path for the block writers."""
    import zarr

    group = zarr.open_group(str(group_path), mode="w", zarr_format=2)
    ndim = len(arr.shape)
    group.attrs["multiscales"] = [
        {
            "version": NGFF_VERSION,
            "name": name,
            "axes": axes,
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": scale if scale is not None else [1.0] * ndim}
                    ],
                }
            ],
        }
    ]
    if colors is not None:
        group.attrs["image-label"] = {"version": NGFF_VERSION, "colors": colors}
    group.create_array(
        "0",
        shape=arr.shape,
        chunks=tuple(c[0] for c in arr.chunks),
        dtype=arr.dtype,
        fill_value=0,
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )
    return str(Path(group_path) / "0")
