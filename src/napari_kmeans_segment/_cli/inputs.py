"""Inputs: what each file is (probed before any work), read into memory or opened lazily.

Probing reads headers only: TIFF and zarr metadata give shape, type and channel layout;
other formats are checked by OpenCV's signature test.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .console import CliError
from .image_header import damage, image_size

# TIFF files holding more than this are read block by block.
LAZY_BYTES = 1 << 30
# Inputs read into memory with more pixels than this are refused before decoding (a 1 MB PNG
# can hold 20000 x 20000 pixels); 16384 x 16384 by default, --max-pixels or this variable.
MAX_PIXELS = 1 << 28
MAX_PIXELS_ENV = "NAPARI_KMEANS_SEGMENT_MAX_PIXELS"
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


def probe(path: Path, channel_axis, force_lazy: bool, max_pixels: int | None = None) -> Source:
    """Describe ``path`` from its header, or raise CliError saying, in one line, what is wrong
    with it. Whatever zarr, tifffile, OpenCV or the system raise while reading the metadata
    of a damaged file ends here as that one line.

    ``max_pixels``: inputs read into memory with more pixels than this are refused before
    anything is decoded.
    """
    is_dir = file_kind(path)
    try:
        src = _probe(path, is_dir, channel_axis, force_lazy)
        if max_pixels is not None and not src.lazy:
            check_pixels(src, max_pixels)
    except CliError:
        raise
    except MemoryError:
        raise CliError(
            f"{path}: its metadata asks for more memory than there is; the file is damaged."
        ) from None
    except Exception as e:  # noqa: BLE001 - zarr/tifffile/OpenCV/os raise many types for damaged files
        raise CliError(f"{path}: could not read its metadata ({one_line(e)}); the file is damaged.") from None
    return src


def one_line(e: BaseException, limit: int = 200) -> str:
    """``Type: message`` on one line, at most ``limit`` characters."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def file_kind(path: Path) -> bool:
    """True for a folder, False for a regular file; CliError for anything else (missing, a
    link loop, a FIFO or a device, whose reading could wait forever or never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise CliError(f"{path}: a link to a file that does not exist.") from None
        raise CliError(f"{path}: no such file.") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CliError(f"{path}: a loop of symbolic links; point it at an image file.") from None
        raise CliError(f"{path}: cannot be read ({e.strerror}).") from None
    if stat.S_ISDIR(st.st_mode):
        is_dir = True
    elif stat.S_ISREG(st.st_mode):
        is_dir = False
    else:
        what = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
        )
        raise CliError(f"{path}: {what}, not an image file; give image files or zarr folders.")
    if not os.access(path, os.R_OK):
        raise CliError(f"{path}: not readable (check its permissions).")
    return is_dir


def check_pixels(src: Source, max_pixels: int) -> None:
    """CliError when an input read into memory has more than ``max_pixels`` pixels (the
    header's size; OpenCV formats whose header cannot be read are left to OpenCV's own cap)."""
    if src.shape is not None:
        n = int(np.prod(src.shape, dtype=np.float64)) // max(src.n_channels or 1, 1)
        size = " x ".join(map(str, src.shape))
    else:
        hw = image_size(src.path)
        if hw is None:
            return
        n, size = hw[0] * hw[1], f"{hw[1]} x {hw[0]}"
    if n > max_pixels:
        lazy = " read it block by block with --lazy, or" if src.kind == "tiff" else ""
        raise CliError(
            f"{src.path}: {size} = {n:,} pixels, more than --max-pixels {max_pixels:,} allows "
            f"decoding into memory;{lazy} raise --max-pixels (or {MAX_PIXELS_ENV}) if the "
            "memory is there."
        )


def _probe(path: Path, is_dir: bool, channel_axis, force_lazy: bool) -> Source:
    if is_dir:
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
        color = photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
        if i == len(axes) - 1 and shape[i] in (3, 4) and color:
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
        ome = attrs.get("ome")
        ms = attrs.get("multiscales") or (ome.get("multiscales") if isinstance(ome, dict) else None)
        if not ms:
            raise CliError(
                f"{path}: a zarr group without OME-Zarr 'multiscales' metadata; give "
                "the path of the image array inside it instead."
            )
        inner, axes, scale = _level0(path, ms)
        try:
            node = node[inner]
        except KeyError:
            raise CliError(
                f"{path}: its OME-Zarr metadata names the level {inner!r}, which the store does not "
                "hold; the store is damaged."
            ) from None
        if not isinstance(node, zarr.Array):
            raise CliError(f"{path}: the OME-Zarr level {inner!r} is a group, not an image array.")
    shape, dtype = tuple(node.shape), np.dtype(node.dtype)
    rgb, ca = False, None
    if axes is not None:
        ca = _check_axes(path, axes, shape)
        if ca is not None:
            rgb = shape[ca] in (3, 4) and dtype == np.uint8
    else:
        from .._core.features.image import guess_rgb

        rgb = guess_rgb(shape)
    if scale is not None and len(scale) != len(shape):
        raise CliError(
            f"{path}: the OME-Zarr scale has {len(scale)} values but the image has {len(shape)} "
            f"axes (shape {shape}); the metadata is damaged."
        )
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


def _level0(path: Path, ms) -> tuple[str, list | None, list[float] | None]:
    """(path, axes, scale) of level 0 from OME-Zarr ``multiscales``; CliError, naming what is
    wrong, for metadata that does not describe a level inside the store."""

    def damaged(what: str) -> CliError:
        return CliError(f"{path}: its OME-Zarr metadata is damaged ({what}).")

    if not isinstance(ms, list) or not isinstance(ms[0], dict):
        raise damaged("'multiscales' is not a list of images")
    datasets = ms[0].get("datasets")
    if not isinstance(datasets, list) or not datasets or not isinstance(datasets[0], dict):
        raise damaged("'datasets' lists no resolution level")
    inner = datasets[0].get("path")
    if not isinstance(inner, str) or not inner.strip():
        raise damaged("level 0 has no path")
    parts = inner.split("/")
    if inner.startswith("/") or "\\" in inner or any(p in ("", ".", "..") for p in parts):
        raise damaged(f"level 0's path {inner!r:.60} leaves the store")
    scale = None
    transforms = datasets[0].get("coordinateTransformations") or []
    if not isinstance(transforms, list):
        raise damaged("'coordinateTransformations' is not a list")
    for t in transforms:
        if isinstance(t, dict) and t.get("type") == "scale":
            values = t.get("scale")
            if not isinstance(values, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            ):
                raise damaged(f"the scale {values!r:.60} is not a list of numbers")
            scale = [float(v) for v in values]
            if not all(np.isfinite(v) and v > 0 for v in scale):
                raise damaged(f"the scale {values!r:.60} holds values that are not finite and positive")
    axes = ms[0].get("axes")
    if axes is not None and not isinstance(axes, list):
        raise damaged("'axes' is not a list")
    return inner, axes, scale


def _check_axes(path: Path, axes: list, shape: tuple[int, ...]) -> int | None:
    """The channel axis named by OME-Zarr ``axes``, after checking they describe the array:
    one axis per dimension, distinct names, at most one channel axis, two or more others."""
    names = [a.get("name") if isinstance(a, dict) else a for a in axes]
    types = [a.get("type") if isinstance(a, dict) else None for a in axes]
    problem = None
    if len(axes) != len(shape):
        problem = f"it lists {len(axes)} axes ({names}) for an array of {len(shape)} (shape {shape})"
    elif not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        problem = f"the axis names {names!r:.80} are not distinct names"
    elif types.count("channel") > 1:
        problem = f"{types.count('channel')} axes are channel axes"
    elif len(shape) - types.count("channel") < 2:
        problem = "fewer than two axes are not channels"
    if problem:
        raise CliError(f"{path}: its OME-Zarr axes contradict the array: {problem}; the metadata is damaged.")
    return types.index("channel") if "channel" in types else None


def read_array(src: Source) -> np.ndarray:
    """The whole image in memory, channels as the probe described them."""
    if src.kind == "tiff":
        import tifffile

        with tifffile.TiffFile(src.path) as tf:
            return tf.series[0].asarray()
    import cv2

    problem = damage(src.path)  # OpenCV fills the missing part of a truncated JPEG with grey
    if problem:
        raise CliError(f"{src.path}: {problem}; nothing was segmented. Copy the file again from its source.")
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
