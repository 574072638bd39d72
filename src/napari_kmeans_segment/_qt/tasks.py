"""What the dock's background jobs compute: plain functions of captured inputs, run in a
worker thread (no Qt, no layers). Each returns a :class:`~.._core.Segmentation`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .._core import KMeansModel, Options, Segmentation
    from .._session.layers import Source


def load_for_writing() -> None:
    """Import here, in the worker, what writing a result on the GUI thread needs (the cluster
    table is a pandas DataFrame): loading pandas there froze napari for a second or more
    (several where Python compiles every module afresh) after the first Run."""
    import pandas  # noqa: F401

    from .._core.measure import measure  # noqa: F401
    from .._session import measure as _measure_session  # noqa: F401


def run_segmentation(src: Source, opts: Options, mask: Any, progress: Any, cancel: Any) -> Segmentation:
    """The Run: ``segment`` (numpy or dask) or, for a multiscale image, one result whose
    labels and recoloured image are lists of lazy levels."""
    from .._core import segment

    load_for_writing()

    layout = dict(rgb=src.rgb, channel_axis=src.channel_axis, progress=progress, cancel=cancel)
    if src.multiscale:
        from .._core.lazy import segment_multiscale

        # the form's per-plane choice does not apply to a pyramid (nor does a mask)
        segs = segment_multiscale(src.data, options=replace(opts, per_plane=False), **layout)
        return replace(segs[0], labels=[s.labels for s in segs], recolored=[s.recolored for s in segs])
    from .form import spatial_scale

    return segment(src.data, mask=mask, scale=spatial_scale(src), **layout, **opts.to_dict())


def apply_model(model: KMeansModel, src: Source, progress: Any, cancel: Any) -> Segmentation:
    """``model.apply`` on what was read from a layer. numpy in, numpy out; dask and multiscale
    images are labelled lazily, block by block, like a Run on them (counts estimated).
    In memory, a warning says when many pixels are far from every cluster of the model."""
    load_for_writing()
    seg = model.apply(
        src.data,
        rgb=src.rgb,
        channel_axis=src.channel_axis,
        multiscale=src.multiscale,
        progress=progress,
        cancel=cancel,
    )
    if isinstance(src.data, np.ndarray):
        from .._session.measure import check_outliers

        def checking(f: float, msg: str) -> None:
            if progress is not None:
                progress(1.0, f"checking how well the model fits: {msg}")

        check_outliers(model, src, checking, cancel)  # warns when it fits poorly
    return seg
