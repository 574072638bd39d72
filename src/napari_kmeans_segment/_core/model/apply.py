"""Applying a saved model to a dask array or to the levels of a multiscale image: the lazy
half of :meth:`.model.KMeansModel.apply`, which labels numpy images itself.

Every block is labelled once, by :func:`.lazy.apply_lazy`: for 8/16-bit data, a lookup in
one table of the label of every colour, built once per model (and kept for the next
computes, :func:`.lazy.cached_label_table`); the recoloured image is made from those labels.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..features.image import guess_rgb
from ..lazy import lazy_labels

if TYPE_CHECKING:
    from .model import KMeansModel
    from .result import Segmentation

SAMPLE_PIXELS = 1_000_000  # pixels read to estimate the counts of a lazily applied model


def apply_lazily(
    model: KMeansModel,
    image,
    *,
    rgb: bool | None,
    channel_axis: int | None,
    multiscale: bool = False,
    white_level=None,
    dab_thresholds=None,
    progress=None,
    cancel=None,
) -> Segmentation:
    """:meth:`KMeansModel.apply` for a dask array, or (``multiscale``) a list of levels,
    finest first: lazy labels and recoloured image (lists of levels for a multiscale image),
    and counts and compactness estimated from about :data:`SAMPLE_PIXELS` pixels of the
    coarsest level, read with a stride (``params["estimated"] = True``).

    A model that measures stains takes the slide's white level from that sample (or
    ``white_level``) and labels every block against it, the glass decided block by block;
    the result's ``stains`` report is the sample's (estimated too).
    """
    levels = list(image) if multiscale else [image]
    coarse = levels[-1]
    shape = tuple(coarse.shape)
    if channel_axis is None and rgb is None:
        rgb = guess_rgb(shape)
    # the spatial axes (never the channels) are strided for the sample
    chan = channel_axis % len(shape) if channel_axis is not None else len(shape) - 1 if rgb else None
    spatial = [n for d, n in enumerate(shape) if d != chan]
    step = max(1, int(np.ceil((np.prod(spatial) / SAMPLE_PIXELS) ** (1 / len(spatial)))))
    strided = tuple(slice(None) if d == chan else slice(None, None, step) for d in range(len(shape)))
    seg = model.apply(
        np.asarray(coarse[strided]),
        rgb=rgb,
        channel_axis=channel_axis,
        white_level=white_level,
        dab_thresholds=dab_thresholds,
        progress=progress,
        cancel=cancel,
    )
    if seg.stains is not None:  # every block against this slide's white level
        model = model.on_white(seg.stains.white)
    lazy = [lazy_labels(model, level, bool(rgb), channel_axis) for level in levels]
    scale = int(np.prod(lazy[0][0].shape)) / max(int(np.prod(seg.labels.shape)), 1)
    return replace(
        seg,
        labels=[lv[0] for lv in lazy] if multiscale else lazy[0][0],
        recolored=[lv[1] for lv in lazy] if multiscale else lazy[0][1],
        counts=np.rint(seg.counts * scale).astype(np.int64),
        compactness=float(seg.compactness * scale),
        params=dict(seg.params, lazy=True, estimated=True),
    )
