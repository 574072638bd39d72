"""Inputs: what each file is (probed before any work), read into memory or opened lazily.

Probing reads headers only: TIFF and zarr metadata give shape, type and channel layout;
other formats are checked by OpenCV's signature test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .console import CliError

# TIFF files holding more than this are read block by block.
LAZY_BYTES = 1 << 30
_COMPOUND = (".ome.zarr", ".ome.tiff", ".ome.tif")


@dataclass
class Source:
    """One input: where it is, how it is read and how its channels are laid out."""

    path: Path
    kind: str  # "image" (OpenCV), "tiff" or "zarr"
    lazy: bool
    shape: tuple[int, ...] | None = None  # None until read (OpenCV formats)
    dtype: np.dtype | None = None
    rgb: bool = False
    channel_axis: int | None = None
    zarr_path: str | None = None  # the level-0 array inside a zarr store
    store_chunks: tuple[int, ...] | None = None
    scale: list[float] | None = None  # OME-Zarr level-0 scale, one per axis
    layout_given: bool = False  # --channel-axis was given: never guess

    @property
    def stem(self) -> str:
        name = self.path.name
        for ext in _COMPOUND:
            if name.lower().endswith(ext):
                return name[: -len(ext)]
        return self.path.stem

    @property
    def spatial_ndim(self) -> int | None:
        if self.shape is None:
            return 2  # every format OpenCV reads holds one 2D image
        return len(self.shape) - int(self.rgb or self.channel_axis is not None)

    @property
    def n_channels(self) -> int | None:
        if self.shape is None:
            return None
        if self.channel_axis is not None:
            return self.shape[self.channel_axis]
        return self.shape[-1] if self.rgb else 1

    @property
    def png_recolored(self) -> bool:
        """Whether the recoloured image fits a PNG: one 2D plane, gray or RGB(A) with the
        colour last. Any channel axis (pages read as samples, --channel-axis) means TIFF,
        as --help promises: PNG cannot hold channels first or a channel count it lacks."""
        return self.spatial_ndim == 2 and self.channel_axis is None


def probe(path: Path, channel_axis, force_lazy: bool) -> Source:
    """Describe ``path`` from its header, or raise CliError saying what is wrong with it."""
    if not os.path.lexists(path):
        raise CliError(f"{path}: no such file.")
    if not path.exists():
        raise CliError(f"{path}: a link to a file that does not exist.")
    if not os.access(path, os.R_OK):
        raise CliError(f"{path}: not readable (check its permissions).")
    if path.is_dir():
        src = _probe_zarr(path)
    elif path.suffix.lower() in (".tif", ".tiff", ".svs", ".ndpi", ".scn", ".btf", ".tf8"):
        src = _probe_tiff(path, force_lazy)
    else:
        import cv2

        try:
            ok = cv2.haveImageReader(str(path))
        except cv2.error:
            ok = False
        if not ok:
            raise CliError(f"{path}: not an image OpenCV can read.")
        src = Source(path, "image", lazy=False)
    if channel_axis != "auto":
        src.rgb, src.channel_axis, src.layout_given = False, channel_axis, True
        if src.shape is None and not -3 <= channel_axis < 3:  # PNG, JPEG...: at most 3 axes
            raise CliError(
                f"{path}: --channel-axis {channel_axis} is out of range: this kind of image has "
                "2 or 3 axes (rows, columns, channels)."
            )
    if src.shape is not None:
        if 0 in src.shape:  # else a ZeroDivisionError deep in the block planning
            raise CliError(f"{path}: an empty image (shape {src.shape}); nothing to segment.")
        check_axis(src)
    return src


def check_axis(src: Source) -> None:
    """CliError unless the channel axis exists; a negative axis becomes its positive number."""
    if src.shape is None or src.channel_axis is None:
        return
    n = len(src.shape)
    if not -n <= src.channel_axis < n:
        raise CliError(
            f"{src.path}: --channel-axis {src.channel_axis} is out of range for its "
            f"{n} axes (shape {src.shape})."
        )
    src.channel_axis %= n


def _probe_tiff(path: Path, force_lazy: bool) -> Source:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
            photometric = series.keyframe.photometric
            big = len(series.levels) > 1 or tf.is_svs or series.size * dtype.itemsize > LAZY_BYTES
    except (OSError, ValueError, IndexError, tifffile.TiffFileError) as e:
        raise CliError(f"{path}: not a TIFF file tifffile can read ({e}).") from None
    rgb, ca = tiff_layout(axes, shape, photometric)
    return Source(path, "tiff", lazy=big or force_lazy, shape=shape, dtype=dtype, rgb=rgb, channel_axis=ca)


def tiff_layout(axes: str, shape: tuple[int, ...], photometric) -> tuple[bool, int | None]:
    """(rgb, channel_axis) from tifffile's axes: S (samples) and C are channels, others
    (pages Q/I, depth Z, time T, ...) are spatial axes of a stack."""
    import tifffile

    if "C" in axes:
        return False, axes.index("C")
    if "S" in axes:
        i = axes.index("S")
        colour = photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
        if i == len(axes) - 1 and shape[i] in (3, 4) and colour:
            return True, None
        return False, i
    return False, None


def _probe_zarr(path: Path) -> Source:
    import zarr

    try:
        node: Any = zarr.open(str(path), mode="r")
    except Exception as e:  # zarr raises many kinds for a folder that is not a store
        raise CliError(f"{path}: a folder that is not a zarr store ({type(e).__name__}).") from None
    inner, axes, scale = "", None, None
    if isinstance(node, zarr.Group):
        attrs: dict[str, Any] = dict(node.attrs.asdict())
        ms = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
        if not ms:
            raise CliError(
                f"{path}: a zarr group without OME-Zarr 'multiscales' metadata; give "
                "the path of the image array inside it instead."
            )
        level0 = ms[0]["datasets"][0]
        inner, axes = level0["path"], ms[0].get("axes")
        for t in level0.get("coordinateTransformations", []):
            if t.get("type") == "scale":
                scale = [float(s) for s in t["scale"]]
        node = node[inner]
    shape, dtype = tuple(node.shape), np.dtype(node.dtype)
    rgb, ca = False, None
    if axes:
        names = [a.get("type") if isinstance(a, dict) else None for a in axes]
        if "channel" in names:
            ca = names.index("channel")
            rgb = shape[ca] in (3, 4) and dtype == np.uint8
    else:
        from .._core.image import guess_rgb

        rgb = guess_rgb(shape)
    return Source(
        path,
        "zarr",
        lazy=True,
        shape=shape,
        dtype=dtype,
        rgb=rgb,
        channel_axis=ca,
        zarr_path=str(Path(path) / inner) if inner else str(path),
        store_chunks=tuple(node.chunks),
        scale=scale,
    )


def read_array(src: Source) -> np.ndarray:
    """The whole image in memory, channels as the probe described them."""
    if src.kind == "tiff":
        import tifffile

        with tifffile.TiffFile(src.path) as tf:
            return tf.series[0].asarray()
    import cv2

    img = cv2.imread(str(src.path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"OpenCV could not decode {src.path}")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    src.shape, src.dtype = img.shape, img.dtype  # now the layout is known
    if not src.layout_given and img.ndim == 3:
        src.rgb, src.channel_axis = (True, None) if img.shape[2] in (3, 4) else (False, 2)
    check_axis(src)
    return img
