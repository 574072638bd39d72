"""What the dock's background jobs compute: plain functions of captured inputs, run in a
worker thread (no Qt, no layers). Each returns a :class:`~.._core.Segmentation`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .._core import KMeansModel, Options, Segmentation
    from .._layers import Source

SAMPLE_PIXELS = 1_000_000  # pixels read to estimate the counts of a lazily applied model


def run_segmentation(src: Source, opts: Options, mask: Any, progress: Any, cancel: Any) -> Segmentation:
    """The Run: ``segment`` (numpy or dask) or, for a multiscale image, one result whose
    labels and recoloured image are lists of lazy levels."""
    from .._core import segment

    layout = dict(rgb=src.rgb, channel_axis=src.channel_axis, progress=progress, cancel=cancel)
    if src.multiscale:
        from .._core.lazy import segment_multiscale

        # the form's per-plane choice does not apply to a pyramid (nor does a mask)
        segs = segment_multiscale(src.data, options=replace(opts, per_plane=False), **layout)
        return replace(segs[0], labels=[s.labels for s in segs], recolored=[s.recolored for s in segs])
    return segment(src.data, mask=mask, **layout, **opts.to_dict())


def apply_model(model: KMeansModel, src: Source, progress: Any, cancel: Any) -> Segmentation:
    """``model.apply`` on what was read from a layer. numpy in, numpy out; dask and multiscale
    images are labelled lazily, block by block, like a Run on them (counts estimated).
    In memory, a warning says when many pixels are far from every cluster of the model."""
    kw = dict(rgb=src.rgb, channel_axis=src.channel_axis, progress=progress, cancel=cancel)
    if isinstance(src.data, np.ndarray):
        from .._measure_session import check_outliers

        seg = model.apply(src.data, **kw)

        def checking(f: float, msg: str) -> None:
            if progress is not None:
                progress(1.0, f"checking how well the model fits: {msg}")

        check_outliers(model, src, checking, cancel)  # warns when it fits poorly
        return seg
    import dask.array as da

    from .._core.lazy import _channels_last, apply_lazy

    levels = list(src.data) if src.multiscale else [src.data]
    # The table's counts come from the coarsest level, or a strided sample of a dask image.
    coarse = levels[-1]
    spatial = coarse.shape[:-1] if (src.rgb or src.channel_axis is not None) else coarse.shape
    step = max(1, int(np.ceil((np.prod(spatial) / SAMPLE_PIXELS) ** (1 / len(spatial)))))
    sample = np.asarray(coarse[tuple(slice(None, None, step) for _ in spatial)])
    seg = model.apply(sample, **kw)
    lazy = []
    for level in levels:
        arr, is_rgb, layout = _channels_last(da.asarray(level), src.rgb, src.channel_axis)
        lazy.append(apply_lazy(model, arr.rechunk({arr.ndim - 1: -1}), is_rgb, layout, src.channel_axis))
    n0 = int(np.prod(lazy[0][0].shape))
    scale = n0 / max(int(np.prod(seg.labels.shape)), 1)
    labels = [lv[0] for lv in lazy] if src.multiscale else lazy[0][0]
    recolored = [lv[1] for lv in lazy] if src.multiscale else lazy[0][1]
    return replace(
        seg,
        labels=labels,
        recolored=recolored,
        counts=np.rint(seg.counts * scale).astype(np.int64),
        compactness=float(seg.compactness * scale),
        params=dict(seg.params, lazy=True, estimated=True),
    )
