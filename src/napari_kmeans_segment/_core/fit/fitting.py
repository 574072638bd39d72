"""The fitter: a numpy image in, a :class:`Segmentation` out.

:func:`fit` validates the options, decides between the exact recipe and the fast path,
drives a :class:`.fitting_run.Run` through its steps and numbers the clusters.
:func:`napari_kmeans_segment.segment` calls it for in-memory images; the lazy and
multiscale paths call it on a sample (never the public ``segment``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import numpy as np

from ..features.features import FeatureSpace
from ..features.image import PixelImage
from ..measure.slide_stains import SlidePlan, plan_slide
from ..measure.uncertainty import fit_reference
from ..model.result import Segmentation, finish_fit, recolor
from ..options import CancelFn, Options, ProgressFn, check_color_space, check_texture_sigma, new_seed
from .fitting_fast import fit_fast
from .fitting_run import Run
from .numerics import labels_dtype, luminance_order
from .smoothing import smoothing_sigmas


def fit(
    image,
    options: Options,
    *,
    rgb: bool | None = None,
    channel_axis: int | None = None,
    mask=None,
    scale=None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    tissue_mask: np.ndarray | None = None,
    white_level=None,
) -> Segmentation:
    """:func:`napari_kmeans_segment.segment` for an in-memory image, with its tunables as one
    :class:`Options` (checked here); ``scale``: the pixel size per spatial axis, for
    ``smoothing`` in physical units.

    ``tissue_mask`` (spatial bool): the tissue decided already (the lazy path decides it
    block by block on the blocks it read, then fits their pixels as one row);
    ``white_level`` a :class:`.tissue.WhiteLevel` found already, over ``options``'.
    """
    opts = options.check()
    img = PixelImage(image, rgb=rgb, channel_axis=channel_axis, mask=mask)
    check_color_space(opts.color_space, img.rgb, img.n_channels)
    check_texture_sigma(opts.texture_sigma, img.spatial_shape)
    smooth = Smooth(opts.smoothing, smoothing_sigmas(opts.smoothing, img.spatial_shape, scale))
    seed_used = opts.seed if opts.seed is not None else new_seed()
    slide = None
    if opts.color_space == "hed" and opts.tissue:
        slide = plan_slide(
            img,
            image,
            rgb=rgb,
            channel_axis=channel_axis,
            white_level=opts.white_level if white_level is None else white_level,
            tissue_od=opts.tissue_od,
            tissue=tissue_mask,
            rng=np.random.default_rng(seed_used),
        )
        img = slide.img  # the glass is left out: the stains are clustered within the tissue
    if opts.per_plane:
        seg = _fit_planes(img, opts, seed_used, progress, cancel, smooth, slide)
    else:
        seg = _fit_image(img, opts, seed_used, progress, cancel, smooth, slide)
    return seg if slide is None else finish_fit(seg, slide, opts.dab_thresholds, seed_used)


class Smooth:
    """The smoothing of a fit: the user's width and the sigmas in pixels per axis (None: off)."""

    def __init__(self, smoothing: float = 0.0, sigmas: tuple[float, ...] | None = None):
        self.smoothing, self.sigmas = smoothing, sigmas

    def plane(self) -> Smooth:
        """The same smoothing within one plane of a stack (the first axis dropped)."""
        return Smooth(self.smoothing, None if self.sigmas is None else self.sigmas[1:])

    def params(self, temperature: float | None) -> dict:
        """What a result and its model record beyond ``smoothing`` itself (an option)."""
        if self.sigmas is None:
            return {}
        return {"smoothing_sigma": list(self.sigmas), "smoothing_temperature": temperature}


def _fit_image(
    img: PixelImage,
    opts: Options,
    seed_used: int,
    progress=None,
    cancel=None,
    smooth: Smooth | None = None,
    slide: SlidePlan | None = None,
) -> Segmentation:
    smooth = smooth or Smooth()
    k = opts.n_clusters
    fs = FeatureSpace.from_options(opts)
    if slide is not None:
        fs.white, fs.tissue_od = np.asarray(slide.white.white, np.float64), slide.tissue_od
    run = Run(img, fs, opts, seed_used, progress, cancel)
    # value range -> working representation (float32-safe), texture; cancellable
    run.prepare()
    m = opts.auto_sample() if opts.sample_size == "auto" else cast(int | None, opts.sample_size)
    auto_exact = opts.auto_exact(img.n_valid, img.is_float)
    exact = m is None or (auto_exact if opts.sample_size == "auto" else img.n_valid <= m)
    hist = run.histogram() if not exact and run.use_histogram() else None
    # The histogram already knows the number of distinct colours.
    _check_enough_pixels(
        img, k, np.random.default_rng(seed_used), None if hist is None else len(hist[0]), fs, run.check
    )
    run.check()
    run.fit_feature_space()
    run.check()
    if exact or m is None:
        labels, centers_f, compactness = run.exact()
        counts, sums = run.cluster_stats(labels)
        method = "exact"
    else:
        centers_f = fit_fast(run, hist)
        if hist is None:  # no exact histogram to polish on: passes over every pixel
            centers_f = run.refine_chunks(centers_f, min(opts.max_iter, 5))
        labels, counts, sums, compactness = run.assign(centers_f, hist)
        method = "fast"
    temperature = None
    if smooth.sigmas is not None:
        # the fit's mean squared distance: how far a pixel typically lies from its centre
        temperature = compactness / max(img.n_valid, 1)
        labels, compactness = run.smooth(centers_f, smooth.sigmas, temperature)
        counts, sums = run.cluster_stats(labels)
    centers_img = _image_centers(sums, counts, centers_f, fs, img)
    run.check()
    # For outlier_fraction: how far the fitted pixels typically are from their centre.
    distance_p99 = fit_reference(img, fs, centers_f, seed_used, run.rows)
    run.check()
    # Stable numbering: darkest centre is label 1.
    order = luminance_order(centers_img, counts, img.rgb)
    lut = np.zeros(k + 1, labels.dtype)
    lut[order + 1] = np.arange(1, k + 1)
    labels = lut[labels]
    run.report(1.0, "done")
    # every option as the fit ran it (per_plane: this image on its own), then what it found
    params = dict(
        replace(opts, per_plane=False).to_dict(),
        seed_used=seed_used,
        method=method,
        sample_pixels=None if exact or m is None else run.fast_points,
        rgb=img.rgb,
        channel_axis=img.channel_axis,
        spatial_shape=list(img.spatial_shape),
        **smooth.params(temperature),
        distance_p99=distance_p99,
        **fitted_range(img),
    )
    return Segmentation(
        labels=labels.reshape(img.spatial_shape),
        recolored=recolor(img, labels, centers_img[order]),
        centers=centers_img[order],
        counts=counts[order],
        compactness=compactness,
        feature_centers=np.asarray(centers_f, np.float64)[order],
        feature_space=fs,
        params=params,
    )


def _image_centers(sums, counts, centers_f, fs, img) -> np.ndarray:
    """Cluster centres in the image's units: cv2's centres when features are the channel
    values themselves, else the mean of each cluster's pixels (``sums`` are in working
    units, see :meth:`FeatureSpace.to_image`)."""
    if fs.is_identity:
        return np.asarray(centers_f, np.float64)
    means = np.zeros((len(counts), img.n_channels))
    nz = counts > 0
    means[nz] = sums[nz] / counts[nz, None]
    if not nz.all():  # an empty cluster keeps its centre (colour features only)
        width = img.n_channels if fs.color_space == "rgb" and not fs.normalize else 0
        means[~nz] = np.asarray(centers_f, np.float64)[~nz, :width] if width else 0.0
    return fs.to_image(means)


def _check_enough_pixels(
    img: PixelImage, k: int, rng, distinct: int | None = None, fs: FeatureSpace | None = None, check=None
) -> None:
    n = img.n_valid
    if n == 0:
        raise ValueError(
            "No pixel is left to cluster: every pixel is masked, NaN/inf or fully transparent. "
            "Check the mask, or fill the NaN holes."
        )
    if k > n:
        raise ValueError(
            f"n_clusters={k} is more than the {n} pixel(s) to cluster; choose a smaller K "
            "or a larger image/region."
        )
    if distinct is None:
        rows = None if fs is None else (lambda px: fs.working(img.features_of(px)))
        distinct = img.has_distinct(k, rng, rows, check)
    if distinct == 1:
        lo, hi = img.value_bounds(check)
        span = _exact_span(img, check)
        if span is not None:
            raise ValueError(
                f"The pixels' values differ (from {span[0]} to {span[1]}), but by less than "
                "the floating-point precision k-means works in at this magnitude, so they "
                "collapse to one value. Subtract an offset (such as the image's minimum) or "
                "rescale the image first."
            )
        value = lo[0] if lo.size == 1 else lo.tolist()
        raise ValueError(
            f"The image is constant: every pixel to cluster has the same value ({value}), one "
            "distinct value, so there is nothing to split into clusters. Check that the right "
            "layer (and mask) is selected."
        )
    if distinct < k:
        lo, hi = img.value_bounds(check)
        wide = (
            ""
            if fs is None or fs.offset is None
            else (
                f" at the float32 precision k-means works in (the values span "
                f"{lo.min():.3g} to {hi.max():.3g})"
            )
        )
        raise ValueError(
            f"The image has only {distinct} distinct value(s) among the pixels to cluster"
            f"{wide}, fewer than n_clusters={k}; choose K <= {distinct}."
        )


def _exact_span(img: PixelImage, check=None) -> tuple | None:
    """(min, max) of the valid pixels in the image's own type when they differ, else None:
    int64 values 2**62 + 0, 1, 2 are equal even as float64, yet not a constant image."""
    lo = hi = None
    for c in img.chunks():
        if check is not None:
            check()
        px = c.pixels[:, : img.n_channels]
        if c.valid is not None:
            px = px[c.valid]
        if px.shape[0]:
            a, b = px.min(axis=0), px.max(axis=0)
            lo = a if lo is None else np.minimum(lo, a)
            hi = b if hi is None else np.maximum(hi, b)
    if lo is None or hi is None or np.array_equal(lo, hi):
        return None
    one = lo.size == 1
    return (lo[0].item() if one else lo.tolist()), (hi[0].item() if one else hi.tolist())


def _fit_planes(img: PixelImage, opts: Options, seed_used: int, progress, cancel, smooth: Smooth, slide=None):
    """Cluster each plane of the first spatial axis on its own; match numbering by centre."""
    from scipy.optimize import linear_sum_assignment

    if len(img.spatial_shape) < 3:
        raise ValueError(
            "per_plane=True needs a stack or time series (3 or more spatial axes); this image "
            f"has spatial shape {img.spatial_shape}."
        )
    moved = img.arr3.reshape(*img.spatial_shape, img.full_channels)
    mask = None if img.mask is None else img.mask.reshape(img.spatial_shape)
    n_planes = img.spatial_shape[0]
    parts = []
    for i in range(n_planes):

        def sub_progress(f, msg, i=i):
            if progress:
                progress((i + f) / n_planes, f"plane {i + 1}/{n_planes}: {msg}")

        plane = PixelImage(moved[i], rgb=img.rgb, channel_axis=-1, mask=None if mask is None else mask[i])
        try:
            parts.append(_fit_image(plane, opts, seed_used, sub_progress, cancel, smooth.plane(), slide))
        except ValueError as e:  # say which plane: "The image is constant" misleads for a stack
            raise ValueError(
                f"Plane {i} (index on axis 0, of {n_planes}; per_plane=True "
                f"clusters each plane on its own): {e}"
            ) from None
    ref = parts[0].centers
    k = opts.n_clusters
    labels = np.empty(img.spatial_shape, labels_dtype(k))
    counts = np.zeros(k, np.int64)
    sums = np.zeros_like(ref)
    compactness = 0.0
    plane_models: list[dict] = []  # applying the model to this stack reuses each plane's own
    # relative units: differences and sums of centres near +-1e308 would overflow to inf
    scale = max(float(np.abs(p.centers).max()) for p in parts) or 1.0
    for i, p in enumerate(parts):
        cost = ((p.centers[:, None, :] / scale - ref[None] / scale) ** 2).sum(axis=2)
        _, to_ref = linear_sum_assignment(cost)  # plane cluster j -> reference cluster to_ref[j]
        fc = np.empty_like(np.asarray(p.feature_centers, np.float64))
        fc[to_ref] = p.feature_centers  # this plane's centres in the reference numbering
        plane_models.append(
            {
                "feature_centers": fc.tolist(),
                "feature_space": p.feature_space.to_dict(),
                "smoothing_temperature": p.params.get("smoothing_temperature"),
            }
        )
        lut = np.zeros(k + 1, labels.dtype)
        lut[1:] = to_ref + 1
        labels[i] = lut[p.labels]
        counts[to_ref] += p.counts
        sums[to_ref] += p.centers / scale * p.counts[:, None]
        compactness += p.compactness
    top = np.finfo(np.float64).max
    centers = np.clip(sums / np.maximum(counts, 1)[:, None] * scale, -top, top)
    centers = np.where(counts[:, None] > 0, centers, ref)
    params = dict(
        parts[0].params,
        per_plane=True,
        method=",".join(sorted({p.params["method"] for p in parts})),
        rgb=img.rgb,
        channel_axis=img.channel_axis,
        spatial_shape=list(img.spatial_shape),
        **fitted_range(img),
        **smooth.params(parts[0].params.get("smoothing_temperature")),
        planes=plane_models,
    )
    flat = labels.reshape(-1)
    return Segmentation(
        labels=labels,
        recolored=recolor(img, flat, centers),
        centers=centers,
        counts=counts,
        compactness=compactness,
        feature_centers=parts[0].feature_centers,
        feature_space=parts[0].feature_space,
        params=params,
    )


def fitted_range(img: PixelImage) -> dict:
    """What the model remembers of the image it was fitted on (for warnings on apply)."""
    lo, hi = img.value_bounds()
    return {"image_dtype": str(img.dtype), "image_range": [lo.tolist(), hi.tolist()]}
