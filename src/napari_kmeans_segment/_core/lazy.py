"""Lazy (dask) and multiscale images: fit on a sample of blocks, label block by block."""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from .features.image import PixelImage, empty_message, few_axes_message, guess_rgb
from .fit.color_boxes import boxes_apply, rgb8_labels
from .fit.fitting import fit
from .fit.numerics import labels_dtype, nearest, parallel, pieces
from .fit.smoothing import model_sigmas, smoothing_sigmas
from .model.result import recolor
from .options import DEFAULTS, Options, new_seed


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
    scale=None,
    progress=None,
    cancel=None,
    **keywords,
):
    """Segment a dask array without loading it into memory.

    Fit on the pixels of random blocks, then label and recolour every block lazily
    (``map_blocks``).

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
    (``params["estimated"] = True``). With ``smoothing`` (in the units of ``scale`` when
    given), every block is labelled with a halo of its neighbours' pixels
    (``map_overlap``), so the labels are those of the whole image.

    Parameters
    ----------
    image : dask array (or array-like)
        2D grayscale, RGB(A), multichannel, or a stack of those.
    n_clusters : int, optional
        K; replaces ``options.n_clusters``.
    options : Options, optional
        The options of the fit (default: the defaults).
    sample_blocks : int or None
        How many random blocks to fit on; None: blocks holding 64 MB of pixels.
    rgb, channel_axis : optional
        The image's layout, as for :func:`~napari_kmeans_segment.segment`.
    scale : sequence of float, optional
        Pixel size per spatial axis, for ``smoothing`` in physical units.
    progress, cancel : callables, optional
        As for :func:`~napari_kmeans_segment.segment`.
    **keywords
        Keywords of :func:`~napari_kmeans_segment.segment` that replace fields of
        ``options``.

    Returns
    -------
    Segmentation
        ``labels`` and ``recolored`` are dask arrays; ``counts`` and ``compactness`` are
        estimates.

    Raises
    ------
    TypeError
        For an unknown keyword or an option of the wrong type.
    ValueError
        For a ``sample_blocks`` that is not a whole number >= 1, an option out of range,
        ``spatial_weight``, ``texture_sigma``, ``per_plane`` or ``sample_size=None``, an
        empty image or one with too few axes, or a sample the fit refuses (as
        :func:`~napari_kmeans_segment.segment` does).
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from napari_kmeans_segment import segment_lazy
    >>> image = np.zeros((40, 60), np.uint8)
    >>> image[:, 20:40] = 100
    >>> image[:, 40:] = 200
    >>> seg = segment_lazy(da.from_array(image, chunks=(20, 30)), 3, seed=0)
    >>> type(seg.labels).__name__, seg.labels.shape, seg.params["estimated"]
    ('Array', (40, 60), True)
    >>> np.unique(seg.labels.compute()).tolist(), seg.counts.tolist()
    ([1, 2, 3], [800, 800, 800])
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
    sigmas = smoothing_sigmas(opts.smoothing, arr.shape[:-1], scale)
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
    slide: dict = {}
    if opts.color_space == "hed" and opts.tissue and is_rgb:
        slide = _sampled_tissue(blocks[:n_parts], px, opts.white_level, opts.tissue_od, seed)
        if valid is not None:
            slide["tissue_mask"] = slide["tissue_mask"][
                np.concatenate([np.asarray(b).ravel() for b in blocks[n_parts:]])
            ]
    fitted = fit(
        px[:, None, :],
        replace(opts, smoothing=0.0),  # the centres come from pixels alone; smoothing is spatial
        rgb=is_rgb,
        channel_axis=None if is_rgb else -1,
        progress=progress,
        cancel=cancel,
        **slide,
    )
    if sigmas is not None:  # stored in the model, done block by block (with a halo) below
        temperature = fitted.compactness / max(int(fitted.counts.sum()), 1)
        fitted = replace(
            fitted,
            params=dict(
                fitted.params,
                smoothing=opts.smoothing,
                smoothing_sigma=list(sigmas),
                smoothing_temperature=temperature,
            ),
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


def _sampled_tissue(blocks, px, white_level, tissue_od, seed) -> dict:
    """The white level (from the pixels read, or given) and the tissue of each block read,
    decided on the block itself (its neighbourhoods), as one row of the fit's pixels."""
    from .features.tissue import check_brightfield, value_range_of, white_of
    from .measure.slide_stains import check_tissue_od

    rng = np.random.default_rng(seed)
    vr = value_range_of(px[:, :3])
    check_brightfield(px[:, :3], vr, rng)
    white = white_of(px[:, :3], vr, white_level, rng=rng)
    t = white.auto_tissue_od() if check_tissue_od(tissue_od) is None else float(tissue_od)
    from .features.tissue import tissue_mask

    mask = np.concatenate([tissue_mask(np.asarray(b), white.white, t).ravel() for b in blocks])
    return dict(white_level=white, tissue_mask=mask[:, None])


def tissue_lazy(arr, white, tissue_od: float):
    """The tissue of a channels-last dask array, block by block: each block's tissue is
    decided with a margin of its neighbours' pixels as wide as the vote's box, so the mask
    is the one :func:`.tissue.tissue_mask` gives on the whole image."""
    import dask.array as da

    from .features.tissue import TISSUE_BOX, tissue_mask

    ndim = arr.ndim
    margin = TISSUE_BOX // 2
    depth = {ndim - 3: margin, ndim - 2: margin}
    wide = da.overlap.overlap(arr, depth=depth, boundary="none")

    def block(rgb):
        return tissue_mask(rgb, white, tissue_od)

    mask = wide.map_blocks(block, drop_axis=ndim - 1, dtype=bool)
    return da.overlap.trim_internal(mask, depth, boundary="none")


def glass_to_zero(labels, arr, white, tissue_od: float, tissue=None):
    """Lazy labels with the glass (outside :func:`tissue_lazy`, or ``tissue``) set to 0."""
    import dask.array as da

    mask = tissue_lazy(arr, white, tissue_od) if tissue is None else tissue
    return da.where(mask, labels, 0).astype(labels.dtype)


def slide_white(arr, fallback=None, white_level=None, seed: int = 0):
    """The white level of a channels-last dask array from the pixels of random blocks (a
    quarter of what a fit reads), or ``white_level``; a slide whose blocks show no glass
    takes ``fallback`` (a model's white level)."""
    import dask

    from .features.tissue import WhiteLevel, value_range_of, white_of

    rng = np.random.default_rng(seed)
    ids = _fit_blocks(arr, None, rng, FIT_BYTES // 4)
    blocks = dask.compute(*[arr.blocks[i] for i in ids])
    px = np.concatenate([np.asarray(b)[..., :3].reshape(-1, 3) for b in blocks])
    try:
        return white_of(px, value_range_of(px), white_level, rng=rng)
    except ValueError:
        if fallback is None:
            raise
        return WhiteLevel(white=np.asarray(fallback, np.float64), source="model")


def _fit_blocks(arr, sample_blocks: int | None, rng, budget: int | None = None) -> list[tuple[int, ...]]:
    """Indices of the blocks to fit on, in a random order fixed by ``rng``, sorted: that many
    blocks, or (None) as many as hold ``budget`` bytes of pixels (:data:`FIT_BYTES`)."""
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
        enough = int(np.searchsorted(np.cumsum(sizes[order]), budget or FIT_BYTES)) + 1
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
    if not fs.per_color or (model.params.get("per_plane") and model.params.get("planes")):
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
            lab, _ = nearest(fs.transform(probe.colors_of_keys(np.arange(a, b))), centers)
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


def _table_labels(block, table, bits: int, n_color: int):
    """Labels of one block (channels last) by looking each pixel's colour key up in ``table``
    (keys as :meth:`PixelImage.keys` packs them); transparent pixels (a 4th, alpha channel
    of 0) get 0 as in :meth:`KMeansModel.apply`."""
    px = block.reshape(-1, block.shape[-1])
    offset = (1 << (bits - 1)) if block.dtype.kind == "i" else 0
    key = px[:, 0].astype(np.int32)  # < 2**24: int32 holds every key
    if offset:
        key += offset
    for ch in range(1, n_color):
        key <<= bits
        key |= px[:, ch].astype(np.int32) + offset if offset else px[:, ch]
    lab = np.take(table, key)
    if block.shape[-1] > n_color:
        lab[px[:, n_color] == 0] = 0
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

    stains = model.measures_stains
    white, tissue_od = model.feature_space.white, model.feature_space.tissue_od
    if stains:  # label every pixel against the slide's white, then set the glass to 0
        model = model.for_slide(white)
    k = model.n_clusters
    ca = None if is_rgb else -1
    sigmas = model_sigmas(model.params, arr.shape[:-1])
    colors = model.label_colors()
    n_color = arr.shape[-1] - int(is_rgb and arr.shape[-1] == 4)
    probe = PixelImage(np.zeros((1, 1, arr.shape[-1]), arr.dtype), rgb=is_rgb, channel_axis=ca)
    lab_dtype = labels_dtype(k)
    n_pixels = int(np.prod(arr.shape[:-1]))
    if use_table is None:
        entries = 1 << (probe.key_bits * n_color)
        if probe.key_bits == 8 and n_color == 3 and boxes_apply(model.feature_space):
            entries >>= 4  # built box by box (color_boxes): ~1/16 of the colour-by-colour cost
        use_table = n_pixels >= entries
    if sigmas is not None:
        labels = _smoothed_labels(model, arr, is_rgb, ca, sigmas, valid, lab_dtype)
    elif use_table and probe.key_bits and model.feature_space.per_color and not model.params.get("per_plane"):
        # pure=False: a random key instead of hashing the model; the table is one task
        table = dask.delayed(cached_label_table, pure=False)(model, arr.dtype, n_color)
        labels = da.map_blocks(
            _table_labels, arr, table, probe.key_bits, n_color, drop_axis=arr.ndim - 1, dtype=lab_dtype
        )
    else:

        def label_block(block):
            # the model was fitted on a sample of these blocks: a block's own narrower or wider
            # range is expected, not a reason to warn once per block
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return model.apply(block, rgb=is_rgb, channel_axis=ca).labels

        labels = arr.map_blocks(label_block, drop_axis=arr.ndim - 1, dtype=lab_dtype)

    if stains:
        labels = glass_to_zero(labels, arr, white, float(tissue_od))
    if valid is not None and sigmas is None:
        labels = da.where(valid, labels, 0).astype(lab_dtype)

    def recolor_block(block, lab):
        if valid is not None or stains:  # label 0 (masked, glass): PixelImage keeps those pixels
            block = np.ma.array(block, mask=np.broadcast_to(lab == 0, block.shape))
        return recolor(PixelImage(block, rgb=is_rgb, channel_axis=ca), lab.ravel(), colors)

    recolored = da.map_blocks(recolor_block, arr, labels[..., None], dtype=arr.dtype)
    if layout == "gray":
        recolored = recolored[..., 0]
    elif layout == "axis":
        recolored = da.moveaxis(recolored, -1, channel_axis)
    return labels, recolored


def _smoothed_labels(model, arr, is_rgb, ca, sigmas, valid, lab_dtype):
    """Labels of every block of ``arr`` (channels last) smoothed as in one piece: each block
    is labelled with a halo of :func:`.smoothing.halo` pixels of its neighbours, then cut back."""
    import dask.array as da

    from .fit.smoothing import halo

    spatial = arr.ndim - 1
    depth = {ax: min(h, arr.shape[ax] - 1) for ax, h in enumerate(halo(sigmas))}
    depth[spatial] = 0
    pad = da.overlap.overlap(arr, depth=depth, boundary="none")
    keep = None
    if valid is not None:
        keep = da.overlap.overlap(valid, depth={a: depth[a] for a in range(spatial)}, boundary="none")

    def label_block(block, ok=None):
        with warnings.catch_warnings():  # the model was fitted on a sample of these blocks
            warnings.simplefilter("ignore", UserWarning)
            sub = block if ok is None else np.ma.array(block, mask=np.broadcast_to(~ok, block.shape))
            seg = model.apply(sub, rgb=is_rgb, channel_axis=ca)
        return np.asarray(seg.labels).astype(lab_dtype)

    if keep is None:
        labels = pad.map_blocks(label_block, drop_axis=spatial, dtype=lab_dtype)
    else:
        labels = da.map_blocks(label_block, pad, keep[..., None], drop_axis=spatial, dtype=lab_dtype)
    return da.overlap.trim_internal(labels, {a: depth[a] for a in range(spatial)}, boundary="none")


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
    """Segment a multiscale image: fit on the coarsest level, label every level lazily.

    Every level is labelled with the same centres. Position, texture, per-plane fits,
    smoothing and a mask are refused (the levels differ in size).

    Parameters
    ----------
    levels : list of array-like
        The levels, finest first (like napari's multiscale data); the coarsest is loaded.
    n_clusters : int, optional
        K; replaces ``options.n_clusters``.
    options : Options, optional
        The options of the fit (default: the defaults).
    rgb, channel_axis : optional
        The levels' layout, as for :func:`~napari_kmeans_segment.segment`.
    mask : None
        Refused: the levels differ in size.
    progress, cancel : callables, optional
        As for :func:`~napari_kmeans_segment.segment`.
    **keywords
        Keywords of :func:`~napari_kmeans_segment.segment` that replace fields of
        ``options``.

    Returns
    -------
    list of Segmentation
        One per level, finest first, with dask ``labels`` and ``recolored``; the
        ``counts`` of the finer levels are estimated from the coarsest level's.

    Raises
    ------
    TypeError
        For an unknown keyword, an option of the wrong type, or a level as
        :func:`~napari_kmeans_segment.segment` refuses it.
    ValueError
        For ``spatial_weight``, ``texture_sigma``, ``per_plane``, ``smoothing`` or a mask,
        and for an option or coarsest level :func:`~napari_kmeans_segment.segment` refuses.
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import segment_multiscale
    >>> image = np.zeros((40, 60), np.uint8)
    >>> image[:, 20:40] = 100
    >>> image[:, 40:] = 200
    >>> levels = segment_multiscale([image, image[::2, ::2]], 3, seed=0)
    >>> [level.labels.shape for level in levels]
    [(40, 60), (20, 30)]
    >>> [level.counts.tolist() for level in levels]
    [[800, 800, 800], [200, 200, 200]]
    >>> np.unique(levels[0].labels.compute()).tolist()
    [1, 2, 3]
    """
    if n_clusters is not None:
        keywords["n_clusters"] = n_clusters
    opts = (options or DEFAULTS).updated(keywords, where="segment_multiscale")
    for name, given in (
        ("spatial_weight", opts.spatial_weight),
        ("texture_sigma", opts.texture_sigma),
        ("per_plane", opts.per_plane),
        ("mask", mask is not None),
        ("smoothing", opts.smoothing),
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
