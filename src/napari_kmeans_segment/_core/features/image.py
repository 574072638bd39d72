"""Turn an array into pixels: channel layout, validity (NaN, alpha, mask), chunks, samples.

Nothing here copies the whole image: pixels are read in slabs of rows
(:meth:`PixelImage.chunks`) or gathered by index (:meth:`PixelImage.sample`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..versions import require_working_versions

# Pixels per chunk: large enough that numpy's per-call overhead vanishes, small enough
# that a float32 feature chunk stays around 50 MB.
CHUNK_PIXELS = 1 << 22
# Pixels per piece of a stage that polls cancel between pieces (~0.02-0.1 s of work each).
STEP_PIXELS = 1 << 20

_BAD_KINDS = {
    "c": "complex",
    "O": "object",
    "U": "string",
    "S": "bytes",
    "V": "structured",
    "M": "datetime",
    "m": "timedelta",
}


# Pixels per piece of a pass that polls cancel (bounds, distinct colours): small enough
# that np.unique on a piece's rows (which holds the GIL) stays short.
DISTINCT_PIECE = 1 << 17


def _unique_rows(x: np.ndarray) -> np.ndarray:
    """Distinct rows of a small (n, C) array."""
    if x.shape[1] == 1:
        return np.unique(x[:, 0])[:, None]
    return np.unique(x, axis=0)


class Cancelled(Exception):  # noqa: N818 - reads as "the run was cancelled"
    """Raised inside a computation when its ``cancel`` callback returned True.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import Cancelled, segment
    >>> try:
    ...     segment(np.arange(100, dtype=np.uint8).reshape(10, 10), 2, cancel=lambda: True)
    ... except Cancelled as e:
    ...     print("stopped:", e)
    stopped: The k-means run was cancelled.
    """


def guess_rgb(shape: tuple[int, ...]) -> bool:
    """Guess RGB(A) like napari does: a last axis of 3 or 4 after at least two larger axes."""
    return len(shape) > 2 and shape[-1] in (3, 4) and all(d > 4 for d in shape[-3:-1])


def empty_message(shape) -> str:
    return f"The image is empty (shape {tuple(shape)}); choose an image with pixels."


def few_axes_message(shape) -> str:
    return (
        f"The image has shape {tuple(shape)}: k-means segmentation needs at least two "
        "spatial axes (a 2D image, a stack, a time series). Reshape 1-D data to 2-D first."
    )


def check_array_dtype(arr: np.ndarray, what: str = "image") -> None:
    """Raise TypeError for dtypes that have no meaningful pixel distance."""
    kind = arr.dtype.kind
    if kind in _BAD_KINDS:
        raise TypeError(
            f"The {what} has {_BAD_KINDS[kind]} data ({arr.dtype}); k-means needs numbers. "
            "Convert it to a real-valued numeric array first (for complex data, "
            "np.abs(image) is a common choice)."
        )


@dataclass(frozen=True)
class Chunk:
    """A slab of pixels: flat indices ``start:stop`` of the spatial grid."""

    start: int
    stop: int
    pixels: np.ndarray  # (n, C_full), original dtype
    valid: np.ndarray | None  # (n,) bool, None when every pixel is valid


class PixelImage:
    """An image seen as a grid of pixels, each a vector of channel values.

    Parameters
    ----------
    image : array-like
        The image. Spatial axes are all axes but the channel axis.
    rgb : bool or None
        Whether the last axis holds RGB(A) channels; None guesses as napari does.
    channel_axis : int or None
        An axis holding channels (multichannel microscopy). Takes precedence over ``rgb``.
    mask : array-like or None
        Nonzero where pixels take part; same spatial shape as the image.
    """

    def __init__(self, image, *, rgb=None, channel_axis=None, mask=None):
        require_working_versions()  # every fit and apply starts here: before any cv2 import
        if image is None:
            raise TypeError("No image was given: pass a numpy array (or a napari image layer's data).")
        # np.ma: masked entries are left out like mask=0 (a pixel with any masked channel).
        ma_mask = np.ma.getmaskarray(image) if np.ma.isMaskedArray(image) else None
        arr = np.asarray(np.ma.getdata(image) if ma_mask is not None else image)
        check_array_dtype(arr)
        self._orig_bool = arr.dtype == bool
        if self._orig_bool:
            arr = arr.view(np.uint8)
        if arr.size == 0:
            raise ValueError(empty_message(arr.shape))
        if channel_axis is not None:
            if isinstance(channel_axis, bool) or not isinstance(channel_axis, int | np.integer):
                raise TypeError(
                    f"channel_axis must be a whole number (the index of the axis holding the "
                    f"channels) or None, not {channel_axis!r}."
                )
            channel_axis = int(channel_axis)
            if not -arr.ndim <= channel_axis < arr.ndim:
                raise ValueError(
                    f"channel_axis={channel_axis} is out of range for an image with "
                    f"{arr.ndim} axes (shape {arr.shape})."
                )
            arr = np.moveaxis(arr, channel_axis, -1)
            if ma_mask is not None:
                ma_mask = np.moveaxis(ma_mask, channel_axis, -1).any(axis=-1)
            if rgb and arr.shape[-1] not in (3, 4):  # was silently rgb=False
                raise ValueError(
                    f"rgb=True with channel_axis={channel_axis}: that axis has {arr.shape[-1]} "
                    f"entries, not 3 or 4 colour channels (image shape {np.shape(image)}). Give "
                    "the colour axis as channel_axis, or pass rgb=False."
                )
            rgb = bool(rgb)
            self._layout = "channels"
        else:
            if rgb is None:
                rgb = guess_rgb(arr.shape)
            self._layout = "channels"
            if rgb:
                if arr.ndim < 3 or arr.shape[-1] not in (3, 4):
                    raise ValueError(
                        f"rgb=True needs a last axis of 3 or 4 channels; this image has shape "
                        f"{arr.shape}. Pass rgb=False for a grayscale image."
                    )
                if ma_mask is not None:
                    ma_mask = ma_mask.any(axis=-1)
            else:
                arr = arr[..., None]
                self._layout = "gray"
        if arr.ndim < 3:
            raise ValueError(few_axes_message(np.shape(image)))
        self.rgb = bool(rgb)
        self.channel_axis = channel_axis
        self.dtype = arr.dtype
        self.spatial_shape = arr.shape[:-1]
        self.n_pixels = int(np.prod(self.spatial_shape))
        self.full_channels = arr.shape[-1]
        self.has_alpha = self.rgb and self.full_channels == 4
        self.n_channels = self.full_channels - int(self.has_alpha)
        self.is_float = arr.dtype.kind == "f"
        # (P, Q, C): a view for any array whose spatial axes can be merged without a copy.
        self._q = self.spatial_shape[-1]
        self.arr3 = arr.reshape(-1, self._q, self.full_channels)
        self.mask = None
        if mask is not None:
            m = np.asarray(mask)
            if m.shape != self.spatial_shape:
                raise ValueError(
                    f"The mask has shape {m.shape} but the image's spatial shape is "
                    f"{self.spatial_shape}; draw the mask on the same grid as the image."
                )
            check_array_dtype(m, "mask")
            # NaN (an unpainted float mask) is not selected; NaN != 0 alone would say it is
            sel = (m != 0) & ~np.isnan(m) if m.dtype.kind in "fc" else m != 0
            self.mask = sel.reshape(-1, self._q)
        if ma_mask is not None and ma_mask.any():
            keep = ~ma_mask.reshape(-1, self._q)
            self.mask = keep if self.mask is None else self.mask & keep
        self.can_exclude = self.mask is not None or self.has_alpha or self.is_float
        self._n_valid: int | None = None
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None
        self._valid_cache: dict[tuple[int, int], np.ndarray | None] = {}

    def restore_layout(self, flat: np.ndarray) -> np.ndarray:
        """(N, C_full) pixel rows -> an array in the original image's shape and dtype."""
        out = flat.reshape(*self.spatial_shape, self.full_channels)
        if self._layout == "gray":
            out = out[..., 0]
        elif self.channel_axis is not None:
            out = np.moveaxis(out, -1, self.channel_axis)
        return out.view(bool) if self._orig_bool else out

    # -- chunks ---------------------------------------------------------------------------
    @property
    def rows_per_chunk(self) -> int:
        return max(1, CHUNK_PIXELS // self._q)

    def chunks(self, size: int | None = None) -> Iterator[Chunk]:
        """Yield slabs of rows covering the image, in order; with ``size``, pieces of at
        most that many pixels (a run polls cancel between pieces)."""
        step = self.rows_per_chunk
        for r0 in range(0, self.arr3.shape[0], step):
            r1 = min(r0 + step, self.arr3.shape[0])
            c = self.chunk(r0, r1)
            if size is None or c.stop - c.start <= size:
                yield c
                continue
            for a in range(0, c.stop - c.start, size):
                b = min(a + size, c.stop - c.start)
                yield Chunk(
                    c.start + a, c.start + b, c.pixels[a:b], None if c.valid is None else c.valid[a:b]
                )

    @property
    def n_chunks(self) -> int:
        return -(-self.arr3.shape[0] // self.rows_per_chunk)

    def chunk(self, r0: int, r1: int) -> Chunk:
        px = self.arr3[r0:r1].reshape(-1, self.full_channels)
        # Validity is kept (1 byte per pixel): every pass would otherwise test every float
        # pixel for NaN/inf again (~0.05-0.2 s per 4 MP chunk, without a cancel check).
        key = (r0, r1)
        if key not in self._valid_cache:
            self._valid_cache[key] = self._valid(px, r0, r1)
        return Chunk(r0 * self._q, r1 * self._q, px, self._valid_cache[key])

    def _valid(self, px: np.ndarray, r0: int, r1: int) -> np.ndarray | None:
        if not self.can_exclude:
            return None
        valid = np.ones(px.shape[0], bool)
        if self.is_float:
            for ch in range(self.n_channels):  # column by column: 7x faster than .all(axis=1)
                valid &= np.isfinite(px[:, ch])
        if self.has_alpha:
            valid &= px[:, 3] != 0
        if self.mask is not None:
            valid &= self.mask[r0:r1].ravel()
        return None if valid.all() else valid

    def features_of(self, px: np.ndarray) -> np.ndarray:
        """Colour channels (alpha dropped), in the image's dtype.

        The float32 rows k-means works on are made by :meth:`FeatureSpace.working`, which
        shifts and scales values that float32 cannot hold or resolve (1e39, 1e-30).
        """
        return px[:, : self.n_channels]

    # -- counting and sampling --------------------------------------------------------------
    @property
    def n_valid(self) -> int:
        if self._n_valid is None:
            if not self.can_exclude:
                self._n_valid = self.n_pixels
            else:
                self._n_valid = sum(
                    c.pixels.shape[0] if c.valid is None else int(c.valid.sum()) for c in self.chunks()
                )
        return self._n_valid

    def value_bounds(self, check=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (min, max) of the valid pixels as float64 (one pass, in chunks).

        Counts the valid pixels on the way. (0, 0) per channel when no pixel is valid.
        """
        if self._bounds is None:
            lo = np.full(self.n_channels, np.inf)
            hi = np.full(self.n_channels, -np.inf)
            n = 0
            for c in self.chunks():
                for a in range(0, c.stop - c.start, DISTINCT_PIECE):
                    if check is not None:
                        check()
                    px = c.pixels[a : a + DISTINCT_PIECE, : self.n_channels]
                    if c.valid is not None:
                        px = px[c.valid[a : a + DISTINCT_PIECE]]
                    n += px.shape[0]
                    for ch in range(px.shape[1] if px.shape[0] else 0):  # columns: fast
                        lo[ch] = min(lo[ch], float(px[:, ch].min()))
                        hi[ch] = max(hi[ch], float(px[:, ch].max()))
            self._n_valid = n
            if not n:
                lo = hi = np.zeros(self.n_channels)
            self._bounds = (lo, hi)
        return self._bounds

    def gather(self, flat: np.ndarray) -> np.ndarray:
        """Pixels (n, C_full) at flat spatial indices."""
        return self.arr3[flat // self._q, flat % self._q]

    def sample(self, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Uniform random sample of ``m`` valid pixels: (sorted flat indices, pixels)."""
        n_valid = self.n_valid
        m = min(m, n_valid)
        if not self.can_exclude:
            flat = np.sort(rng.choice(self.n_pixels, size=m, replace=False))
            return flat, self.gather(flat)
        # Ranks among valid pixels, mapped back to flat indices chunk by chunk.
        ranks = np.sort(rng.choice(n_valid, size=m, replace=False))
        out = np.empty(m, np.int64)
        seen = 0
        filled = 0
        for c in self.chunks():
            n = c.stop - c.start if c.valid is None else int(np.count_nonzero(c.valid))
            lo = np.searchsorted(ranks, seen)
            hi = np.searchsorted(ranks, seen + n)
            if c.valid is None:  # rank r is pixel start + r: no index array of the chunk
                out[filled : filled + hi - lo] = c.start + ranks[lo:hi] - seen
            else:
                out[filled : filled + hi - lo] = c.start + np.flatnonzero(c.valid)[ranks[lo:hi] - seen]
            filled += int(hi - lo)
            seen += n
        return out, self.gather(out)

    def has_distinct(self, k: int, rng: np.random.Generator, rows=None, check=None) -> int:
        """Count distinct colours among valid pixels, stopping as soon as ``k`` are seen.

        ``rows(px)`` gives the float32 rows k-means will see (so values that become equal
        there count once); ``check`` is called between pieces. A nearly constant image is
        read in pieces of :data:`DISTINCT_PIECE` pixels that are only compared with the
        few colours already seen, so no call holds the GIL for long.
        """
        rows = rows or (lambda px: self.features_of(px).astype(np.float32))
        _, px = self.sample(min(self.n_valid, 50 * k + 100, DISTINCT_PIECE), rng)
        seen = _unique_rows(rows(px))
        if seen.shape[0] >= k:
            return seen.shape[0]
        for c in self.chunks():
            for a in range(0, c.stop - c.start, DISTINCT_PIECE):
                if check is not None:
                    check()
                b = min(a + DISTINCT_PIECE, c.stop - c.start)
                piece = c.pixels[a:b] if c.valid is None else c.pixels[a:b][c.valid[a:b]]
                new = rows(piece)
                if seen.shape[0] > 64:  # many colours known: one sort of the piece and them
                    seen = _unique_rows(np.concatenate([seen, new]))
                else:  # a handful of colours: vectorised comparisons, no sort
                    for row in seen:
                        differs = new[:, 0] != row[0]
                        for ch in range(1, new.shape[1]):
                            differs |= new[:, ch] != row[ch]
                        new = new[differs]
                        if not new.shape[0]:
                            break
                    if new.shape[0]:
                        seen = np.concatenate([seen, _unique_rows(new)])
                if seen.shape[0] >= k:
                    return seen.shape[0]
        return seen.shape[0]

    # -- colour keys (exact histogram of small-integer images) -----------------------------------
    @property
    def key_bits(self) -> int:
        """Bits per channel when every colour packs into a 24-bit key, else 0."""
        if self.dtype.kind not in "ui" or self.n_channels > 3:
            return 0
        bits = self.dtype.itemsize * 8
        return bits if bits * self.n_channels <= 24 else 0

    def keys(self, px: np.ndarray) -> np.ndarray:
        """Pack each pixel's colour channels into one integer key (see :attr:`key_bits`)."""
        bits = self.key_bits
        offset = 0 if self.dtype.kind == "u" else 1 << (bits - 1)
        key = np.zeros(px.shape[0], np.int64 if bits > 8 else np.int32)
        for ch in range(self.n_channels):
            v = px[:, ch].astype(key.dtype)
            if offset:
                v += offset
            if ch:
                np.left_shift(key, bits, out=key)
            np.bitwise_or(key, v, out=key)
        return key

    def colors_of_keys(self, keys: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`keys`: (n, C) float32 colours in image units."""
        bits = self.key_bits
        offset = 0 if self.dtype.kind == "u" else 1 << (bits - 1)
        out = np.empty((keys.size, self.n_channels), np.float32)
        k = keys.astype(np.int64)
        for ch in range(self.n_channels - 1, -1, -1):
            out[:, ch] = (k & ((1 << bits) - 1)) - offset
            k >>= bits
        return out
