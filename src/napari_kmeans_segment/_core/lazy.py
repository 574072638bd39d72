"""Lazy (dask) and multiscale images: fit on a sample of blocks, label block by block."""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from .color_boxes import boxes_apply, rgb8_labels
from .fitting import fit
from .image import PixelImage, empty_message, few_axes_message, guess_rgb
from .numerics import labels_dtype, nearest, parallel, pieces
from .options import DEFAULTS, Options, new_seed
from .result import recolor


def _channels_last(arr, rgb, channel_axis):
    """(array with channels last, rgb flag, layout) for a dask array."""
    import dask.array as da

    if channel_axis is not None:
        return da.moveaxis(arr, channel_axis, -1), bool(rgb) and arr.shape[channel_axis] in (3, 4), "axis"
    if rgb is None:
        rgb = guess_rgb(arr.shape)
    if rgb:
        return arr, True, "rgb"
    return arr[..., None], False, "gray"


def check_lazy(options: Options, mask=None) -> None:
    """ValueError naming every option a lazy (dask) image cannot take: it is fitted on a
    sample of its blocks, and labelled block by block."""
    unsupported = [
        name
        for name, v in (
            ("mask", mask is not None),
            ("spatial_weight", options.spatial_weight),
            ("texture_sigma", options.texture_sigma),
            ("per_plane", options.per_plane),
            ("sample_size=None (the exact recipe)", options.sample_size is None),
        )
        if v
    ]
    if unsupported:
        raise ValueError(
            f"{', '.join(unsupported)} cannot be used with a lazy (dask) image, which is "
            "fitted on a sample of its blocks. Load the image (np.asarray) or a region of "
            "it first."
        )


def segment_lazy(
    image,
    n_clusters: int | None = None,
    *,
    options: Options | None = None,
    sample_blocks: int | None = None,
    rgb=None,
    channel_axis=None,
    progress=None,
    cancel=None,
    **keywords,
):
    """Segment a dask array without loading it: fit on the pixels of random blocks, then
    label and recolour every block lazily (``map_blocks``).

    ``options``: an :class:`~.options.Options` (default: the defaults); ``n_clusters`` and
    ``keywords`` (the keywords of :func:`~napari_kmeans_segment.segment`: attempts, seed,
    color_space, ...) replace its fields. Position, texture, per-plane fits and the exact
    recipe need the whole image and are refused.

    ``sample_blocks``: None (default) reads random blocks until they hold
    :data:`FIT_BYTES` of pixels (64 MB: 22 MP of 8-bit RGB), every block of a smaller image,
    so that the fit is the in-memory one (for 8/16-bit data, whose fit depends only on the
    colour histogram, exactly); an int reads that many random blocks. The blocks are read in
    one ``dask.compute`` (in parallel, on a distributed cluster too).

    Returns a :class:`Segmentation` whose ``labels`` and ``recolored`` are dask arrays;
    ``counts`` and ``compactness`` are estimates from the sampled blocks
    (``params["estimated"] = True``).
    """
    import dask
    import dask.array as da

    if sample_blocks is not None and (
        isinstance(sample_blocks, bool)
        or not isinstance(sample_blocks, int | np.integer)
        or sample_blocks < 1
    ):
        raise ValueError(
            f"sample_blocks={sample_blocks!r}: use a whole number of blocks >= 1 to fit on, or None "
            "(the default: blocks holding 64 MB of pixels)."
        )
    if n_clusters is not None:
        keywords["n_clusters"] = n_clusters
    opts = (options or DEFAULTS).updated(keywords, where="segment_lazy").check()
    check_lazy(opts)
    if opts.seed is None:  # drawn here: it also picks the blocks to fit on
        opts = replace(opts, seed=new_seed())
    seed = opts.seed
    image = da.asarray(image)
    if image.size == 0:  # the user's shape, not the channels-last one
        raise ValueError(empty_message(image.shape))
    arr, is_rgb, layout = _channels_last(image, rgb, channel_axis)
    if arr.ndim < 3:
        raise ValueError(few_axes_message(image.shape))
    arr = arr.rechunk({arr.ndim - 1: -1})
    valid = None
    if np.ma.isMaskedArray(getattr(arr, "_meta", None)):  # np.ma blocks: masked pixels left out
        valid = ~da.ma.getmaskarray(arr).any(axis=-1)
        arr = da.ma.getdata(arr)
    n_blocks = int(np.prod(arr.numblocks))
    ids = _fit_blocks(arr, sample_blocks, np.random.default_rng(seed))
    if progress:
        progress(0.0, f"reading {len(ids)} of {n_blocks} blocks")
    cf = arr.shape[-1]
    whole = len(ids) == n_blocks  # every block: the whole image, in its own pixel order, so
    # that samples drawn from it (feature scaling, float summaries) are the in-memory ones
    if whole:
        blocks = dask.compute(arr, *([] if valid is None else [valid]))
    else:
        blocks = dask.compute(
            *[arr.blocks[i] for i in ids], *([] if valid is None else [valid.blocks[i[:-1]] for i in ids])
        )
    n_parts = 1 if whole else len(ids)
    px = np.concatenate([np.asarray(b).reshape(-1, cf) for b in blocks[:n_parts]])
    n_read = px.shape[0]
    if valid is not None:
        px = px[np.concatenate([np.asarray(b).ravel() for b in blocks[n_parts:]])]
    fitted = fit(
        px[:, None, :],
        opts,
        rgb=is_rgb,
        channel_axis=None if is_rgb else -1,
        progress=progress,
        cancel=cancel,
    )
    labels, recolored = apply_lazy(fitted.model, arr, is_rgb, layout, channel_axis, valid=valid)
    scale = int(np.prod(arr.shape[:-1])) / max(n_read, 1)
    return replace(
        fitted,
        labels=labels,
        recolored=recolored,
        counts=np.rint(fitted.counts * scale).astype(np.int64),
        compactness=float(fitted.compactness * scale),
        params=dict(
            fitted.params,
            lazy=True,
            estimated=True,
            sample_blocks=len(ids),
            spatial_shape=list(arr.shape[:-1]),
            channel_axis=channel_axis,
            rgb=is_rgb,
        ),
    )


FIT_BYTES = 1 << 26  # pixel data read to fit a lazy image (sample_blocks=None)


def _fit_blocks(arr, sample_blocks: int | None, rng) -> list[tuple[int, ...]]:
    """Indices of the blocks to fit on, in a random order fixed by ``rng``, sorted: that many
    blocks, or (None) as many as hold :data:`FIT_BYTES` of pixels."""
    n_blocks = int(np.prod(arr.numblocks))
    order = rng.permutation(n_blocks)
    if sample_blocks is not None:
        picks = order[: min(int(sample_blocks), n_blocks)]
    else:
        sizes = np.ones(arr.numblocks)  # bytes of every block
        for axis, chunks in enumerate(arr.chunks):
            shape = [1] * len(arr.chunks)
            shape[axis] = len(chunks)
            sizes = sizes * np.asarray(chunks, float).reshape(shape)
        sizes = sizes.ravel() * arr.dtype.itemsize
        enough = int(np.searchsorted(np.cumsum(sizes[order]), FIT_BYTES)) + 1
        picks = order[:enough]
    return [tuple(int(v) for v in np.unravel_index(i, arr.numblocks)) for i in np.sort(picks)]


TABLE_PIECE = 1 << 16  # colours per call of nearest() while building a label table


def label_table(model, dtype, n_channels: int) -> np.ndarray | None:
    """Label (0 is never used; 1..K, after any merge) of every colour key an image of this
    dtype and channel count can hold, or None when its colours do not pack into a 24-bit key
    (floats, 32-bit data) or the model's features depend on more than the colour.

    This is the lookup table the in-memory path builds from a histogram, but for every
    possible colour, so that it can be built once and shared by every block.
    """
    fs = model.feature_space
    if not fs.per_colour or (model.params.get("per_plane") and model.params.get("planes")):
        return None
    probe = PixelImage(np.zeros((1, 1, n_channels), dtype), rgb=False, channel_axis=-1)
    if probe.key_bits == 0:
        return None
    size = 1 << (probe.key_bits * n_channels)
    centers = model.feature_centers.astype(np.float32)
    lut = np.arange(model.n_clusters + 1)
    if model.merges:
        lut[1:] = np.asarray(model.label_map)
    table = np.empty(size, labels_dtype(model.n_clusters))
    if probe.key_bits == 8 and n_channels == 3 and boxes_apply(fs):
        # whole boxes of colours at once: ~20x faster than colour by colour, same entries
        return rgb8_labels(fs, model.feature_centers, lut[1:], table)

    def piece(a, b):
        with warnings.catch_warnings():  # colours far outside the fitted range are expected
            warnings.simplefilter("ignore", RuntimeWarning)
            lab, _ = nearest(fs.transform(probe.colours_of_keys(np.arange(a, b))), centers)
        table[a:b] = lut[lab.astype(np.intp) + 1]

    parallel(piece, pieces(size, TABLE_PIECE))
    return table


_TABLES: OrderedDict = OrderedDict()  # a few recent label tables (16 MB each for 8-bit RGB)
_TABLES_GUARD = threading.Lock()


def cached_label_table(model, dtype, n_channels: int) -> np.ndarray | None:
    """:func:`label_table`, kept for the last few models: napari computes a lazy layer's
    blocks in many small computes as one pans, and each would otherwise rebuild the table."""
    label_map = None if model.label_map is None else np.asarray(model.label_map).tobytes()
    key = (
        np.asarray(model.feature_centers).tobytes(),
        label_map,
        repr(model.feature_space.to_dict()),
        np.dtype(dtype).str,
        n_channels,
    )
    with _TABLES_GUARD:
        if key in _TABLES:
            _TABLES.move_to_end(key)
            return _TABLES[key]
    table = label_table(model, dtype, n_channels)
    with _TABLES_GUARD:
        _TABLES[key] = table
        while len(_TABLES) > 4:
            _TABLES.popitem(last=False)
    return table


def _table_labels(block, table, bits: int, n_colour: int):
    """Labels of one block (channels last) by looking each pixel's colour key up in ``table``
    (keys as :meth:`PixelImage.keys` packs them); transparent pixels (a 4th, alpha channel
    of 0) get 0 as in :meth:`KMeansModel.apply`."""
    px = block.reshape(-1, block.shape[-1])
    offset = (1 << (bits - 1)) if block.dtype.kind == "i" else 0
    key = px[:, 0].astype(np.int32)  # < 2**24: int32 holds every key
    if offset:
        key += offset
    for ch in range(1, n_colour):
        key <<= bits
        key |= px[:, ch].astype(np.int32) + offset if offset else px[:, ch]
    lab = np.take(table, key)
    if block.shape[-1] > n_colour:
        lab[px[:, n_colour] == 0] = 0
    return lab.reshape(block.shape[:-1])


def apply_lazy(model, arr, is_rgb, layout, channel_axis, use_table: bool | None = None, valid=None):
    """Lazy labels and recoloured image of a channels-last dask array (from
    :func:`_channels_last`); the recoloured image is given back the source's layout.
    ``valid``: an optional boolean dask array of the spatial shape; pixels where it is
    False get label 0 and keep their value in the recoloured image (a masked array's mask).

    Each block is assigned once: the recoloured image is made from the labels. For 8/16-bit
    data (colours that pack into a 24-bit key) every block is labelled by a lookup in one
    table of the label of every possible colour, built once in the graph (one task) and
    shared by all blocks, instead of a nearest-centre search per pixel and per block.
    ``use_table``: None (default) uses the table when the image has at least as many pixels
    as the table costs colours to build (2**24 for 8-bit RGB measured colour by colour, a
    few seconds; 2**20 when built box by box, :mod:`.color_boxes`), so that a small lazy
    image is not slower than before.
    """
    import dask
    import dask.array as da

    k = model.n_clusters
    ca = None if is_rgb else -1
    colors = model.label_colors()
    n_colour = arr.shape[-1] - int(is_rgb and arr.shape[-1] == 4)
    probe = PixelImage(np.zeros((1, 1, arr.shape[-1]), arr.dtype), rgb=is_rgb, channel_axis=ca)
    lab_dtype = labels_dtype(k)
    n_pixels = int(np.prod(arr.shape[:-1]))
    if use_table is None:
        entries = 1 << (probe.key_bits * n_colour)
        if probe.key_bits == 8 and n_colour == 3 and boxes_apply(model.feature_space):
            entries >>= 4  # built box by box (color_boxes): ~1/16 of the colour-by-colour cost
        use_table = n_pixels >= entries
    if use_table and probe.key_bits and model.feature_space.per_colour and not model.params.get("per_plane"):
        # pure=False: a random key instead of hashing the model; the table is one task
        table = dask.delayed(cached_label_table, pure=False)(model, arr.dtype, n_colour)
        labels = da.map_blocks(
            _table_labels, arr, table, probe.key_bits, n_colour, drop_axis=arr.ndim - 1, dtype=lab_dtype
        )
    else:

        def label_block(block):
            # the model was fitted on a sample of these blocks: a block's own narrower or wider
            # range is expected, not a reason to warn once per block
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return model.apply(block, rgb=is_rgb, channel_axis=ca).labels

        labels = arr.map_blocks(label_block, drop_axis=arr.ndim - 1, dtype=lab_dtype)

    if valid is not None:
        labels = da.where(valid, labels, 0).astype(lab_dtype)

    def recolor_block(block, lab):
        if valid is not None:  # label 0 where masked: PixelImage then keeps those pixels
            block = np.ma.array(block, mask=np.broadcast_to(lab == 0, block.shape))
        return recolor(PixelImage(block, rgb=is_rgb, channel_axis=ca), lab.ravel(), colors)

    recolored = da.map_blocks(recolor_block, arr, labels[..., None], dtype=arr.dtype)
    if layout == "gray":
        recolored = recolored[..., 0]
    elif layout == "axis":
        recolored = da.moveaxis(recolored, -1, channel_axis)
    return labels, recolored


def lazy_labels(model, image, rgb: bool, channel_axis: int | None):
    """(labels, recolored): dask arrays of ``image`` (any layout: channels last with
    ``rgb``, at ``channel_axis``, or none) labelled by ``model`` block by block, through
    :func:`apply_lazy`; ``recolored`` has the layout of ``image``."""
    import dask.array as da

    arr, is_rgb, layout = _channels_last(da.asarray(image), rgb, channel_axis)
    return apply_lazy(model, arr.rechunk({arr.ndim - 1: -1}), is_rgb, layout, channel_axis)


def segment_multiscale(
    levels,
    n_clusters: int | None = None,
    *,
    options: Options | None = None,
    rgb=None,
    channel_axis=None,
    mask=None,
    progress=None,
    cancel=None,
    **keywords,
):
    """Fit on the coarsest level, then label every level lazily with the same centres.

    ``options``, ``n_clusters`` and ``keywords`` as in :func:`segment_lazy`; position,
    texture, per-plane fits and a mask are refused (the levels differ in size).

    Returns a list of :class:`Segmentation`, finest level first (like napari's
    multiscale data); level 0's ``counts`` are estimated from the coarsest level.
    """
    if n_clusters is not None:
        keywords["n_clusters"] = n_clusters
    opts = (options or DEFAULTS).updated(keywords, where="segment_multiscale")
    for name, given in (
        ("spatial_weight", opts.spatial_weight),
        ("texture_sigma", opts.texture_sigma),
        ("per_plane", opts.per_plane),
        ("mask", mask is not None),
    ):
        if given:
            raise ValueError(
                f"{name} cannot be used with a multiscale image: the levels "
                "differ in size. Segment one level as a plain image instead."
            )
    coarse = np.asarray(levels[-1])
    fitted = fit(coarse, opts, rgb=rgb, channel_axis=channel_axis, progress=progress, cancel=cancel)
    model = fitted.model
    out = []
    for level in levels:
        labels, recolored = lazy_labels(model, level, fitted.params["rgb"], channel_axis)
        scale = int(np.prod(labels.shape)) / max(int(np.prod(fitted.labels.shape)), 1)
        out.append(
            replace(
                fitted,
                labels=labels,
                recolored=recolored,
                counts=np.rint(fitted.counts * scale).astype(np.int64),
                compactness=fitted.compactness * scale,
                params=dict(fitted.params, lazy=True, estimated=True, multiscale_fit_level=len(levels) - 1),
            )
        )
    return out
