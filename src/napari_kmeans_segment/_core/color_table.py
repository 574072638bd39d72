"""Colour lookup tables: the label of every colour an 8/16-bit image can hold, built once.

For images whose colours pack into a 24-bit key (8-bit RGB, 8/16-bit grayscale, two 8-bit
channels) labelling a pixel is one table look-up. The in-memory path builds its table for
the colours present (from the image's histogram); a lazy image's blocks are not known in
advance, so :func:`color_table` builds it for *every* colour, once per model, and the
blocks share it (one key in the dask graph).

Every entry is what the in-memory path computes for that colour (nearest feature centre,
:func:`nearest` in float32): 2^24 RGB colours are too many to measure one by one in a
blink, so for 8-bit RGB with an affine feature map (``color_space="rgb"``, normalised or
not) whole boxes of colours are labelled at once. The difference of two squared
distances, |f(x) - c_B|^2 - |f(x) - c_A|^2, is affine in the colour x, so its smallest
value over a box is at a corner; when, for every other centre B, that smallest value
exceeds a margin far above float32's rounding, every colour of the box has centre A in
both exact and float32 arithmetic. Boxes that fail are halved (16, 8, 4, 2, 1 colours a
side) and single colours that fail (near-ties) are measured with :func:`nearest` itself.
"""

from __future__ import annotations

import numpy as np

from .candidates import squared_distances
from .kmeans import labels_dtype, nearest, parallel, pieces

BOX = 16  # side of the first boxes of RGB colours (16^3 boxes)


def key_bits(dtype: np.dtype, n_channels: int) -> int:
    """Bits per channel when every colour packs into a 24-bit key, else 0 (no table)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui" or n_channels > 3:
        return 0
    bits = dtype.itemsize * 8
    return bits if bits * n_channels <= 24 else 0


def block_keys(px: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """Table index of each pixel row (channels last), as :meth:`PixelImage.keys` packs it."""
    offset = 1 << (bits - 1) if signed else 0
    key = None
    for ch in range(px.shape[-1]):
        v = px[..., ch].astype(np.int32 if bits * px.shape[-1] < 32 else np.int64)
        if offset:
            v += offset
        key = v if key is None else (key << bits) | v
    return key


def color_table(model, dtype, n_channels: int) -> np.ndarray:
    """Label of every colour of a ``dtype`` image with ``n_channels`` colour channels,
    indexed by :func:`block_keys`. ValueError when the colours do not pack into 24 bits."""
    bits = key_bits(dtype, n_channels)
    if not bits:
        raise ValueError(f"{np.dtype(dtype)} images with {n_channels} channel(s) have no colour table.")
    fs = model.feature_space
    centers = np.asarray(model.feature_centers, np.float64)
    k = centers.shape[0]
    label_of = (np.arange(1, k + 1) if model.label_map is None else np.asarray(model.label_map))
    label_of = label_of.astype(labels_dtype(int(label_of.max())))
    affine = fs.color_space == "rgb" and fs.per_colour
    if bits == 8 and n_channels == 3 and affine:
        idx = _rgb8_boxes(fs, centers)
    else:
        idx = _every_colour(fs, centers, bits, n_channels, np.dtype(dtype).kind == "i")
    return label_of[idx]


def _features(fs, colors: np.ndarray) -> np.ndarray:
    return fs.transform(colors.astype(np.float32))


def _every_colour(fs, centers, bits, n_channels, signed) -> np.ndarray:
    """Nearest centre of every colour, measured one by one (2^16 at most, or 2^24 when the
    feature map is not affine)."""
    n = 1 << (bits * n_channels)
    offset = 1 << (bits - 1) if signed else 0
    out = np.empty(n, np.uint16)
    c32 = centers.astype(np.float32)

    def piece(a, b):
        keys = np.arange(a, b, dtype=np.int64)
        colors = np.empty((b - a, n_channels), np.float32)
        for ch in range(n_channels - 1, -1, -1):
            colors[:, ch] = (keys & ((1 << bits) - 1)) - offset
            keys >>= bits
        out[a:b] = nearest(_features(fs, colors), c32)[0]

    parallel(piece, pieces(n, 1 << 18))
    return out


def _rgb8_boxes(fs, centers: np.ndarray) -> np.ndarray:
    """Nearest centre of every 8-bit RGB colour by boxes (see the module docstring)."""
    k, f = centers.shape
    mean = np.zeros(3) if fs.mean is None or not fs.normalize else np.asarray(fs.mean, np.float64)
    std = np.ones(3) if fs.std is None or not fs.normalize else np.asarray(fs.std, np.float64)
    inv = 1.0 / std
    # 1e-5 of the squared feature range: ~2 for 8-bit RGB, float32's error is ~0.05
    margin = 1e-5 * float(((255.0 * inv) ** 2).sum())
    # gradient of d_B - d_A along each channel, per (A, B)
    grad = 2.0 * (centers[:, None, :] - centers[None, :, :]) * inv
    drop = np.minimum(grad, 0.0).sum(axis=2)  # most negative change per colour step
    np.fill_diagonal(drop, 0.0)
    out = np.empty(1 << 24, np.uint16)
    cube = out.reshape(256, 256, 256)
    side = BOX
    g = np.arange(0, 256, side)
    origins = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    corners = np.stack(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij"), axis=-1).reshape(-1, 3)
    while origins.size:
        d = squared_distances((origins - mean) * inv, centers)
        a = d.argmin(axis=1)
        rows = np.arange(a.size)
        gap = d - d[rows, a][:, None] + (side - 1) * drop[a]
        gap[rows, a] = np.inf
        sure = gap.min(axis=1) >= margin
        o = origins[sure] // side
        view = cube.reshape(256 // side, side, 256 // side, side, 256 // side, side)
        view[o[:, 0], :, o[:, 1], :, o[:, 2], :] = a[sure, None, None, None]
        rest = origins[~sure]
        if side == 1:
            if rest.size:  # near-ties: exactly as the in-memory path measures them
                lab = nearest(_features(fs, rest.astype(np.float32)), centers.astype(np.float32))[0]
                cube[rest[:, 0], rest[:, 1], rest[:, 2]] = lab
            break
        side //= 2
        origins = (rest[:, None, :] + side * corners[None]).reshape(-1, 3)
    return out
