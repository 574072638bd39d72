"""``segment``: image in, :class:`Segmentation` out."""

from __future__ import annotations

import numpy as np

from .features import FeatureSpace
from .image import PixelImage
from .kmeans import (
    CancelFn,
    Options,
    ProgressFn,
    Run,
    check_color_space,
    labels_dtype,
    luminance_order,
    new_seed,
)
from .result import Segmentation, recolor
from .uncertainty import fit_reference


def segment(
    image,
    n_clusters: int = 3,
    *,
    attempts: int = 10,
    max_iter: int = 100,
    epsilon: float = 0.2,
    init: str = "random",
    seed: int | None = None,
    sample_size: int | str | None = "auto",
    rgb: bool | None = None,
    channel_axis: int | None = None,
    mask=None,
    color_space: str = "rgb",
    normalize: bool = False,
    spatial_weight: float = 0.0,
    texture_sigma: float = 0.0,
    per_plane: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Segmentation:
    """Segment an image by k-means clustering of its pixels with ``cv2.kmeans``.

    Parameters
    ----------
    image : array-like or dask array
        2D grayscale, RGB(A), multichannel, or a stack/time series of those.
        A dask array gives a lazy result (see :func:`segment_lazy`).
    n_clusters : int
        K, the number of clusters (2 to 65535).
    attempts, max_iter, epsilon : int, int, float
        ``cv2.kmeans`` attempts and its stopping criteria (EPS + MAX_ITER; epsilon is
        compared with the squared shift of the centres, as OpenCV does).
    init : {"random", "kmeans++"}
        ``cv2.KMEANS_RANDOM_CENTERS`` or ``cv2.KMEANS_PP_CENTERS``.
    seed : int or None
        Seeds ``cv2.setRNGSeed`` (in the thread that runs cv2.kmeans) and the pixel sample.
        None draws a fresh seed and records it in ``params["seed_used"]``.
    sample_size : "auto", int or None
        None runs the exact tutorial recipe on every pixel. An int (or "auto": 5,000 or
        625 per cluster, whichever is larger) runs every attempt on that many random
        pixels, keeps the attempt that fits all pixels best, then refines it on all
        pixels. With "auto", images of at most 4 samples' worth of pixels use the exact
        recipe; with an int, images of at most that many pixels do.
    rgb : bool or None
        Whether the last axis is RGB(A); None guesses as napari does.
    channel_axis : int or None
        Axis of the channels of a multichannel image (all channels are features).
    mask : array-like or None
        Nonzero where pixels take part. Elsewhere labels are 0 and ``recolored`` keeps the
        original pixels. NaN/inf pixels and fully transparent RGBA pixels are left out too.
    color_space : {"rgb", "lab", "hsv"}
        Feature space for RGB images. Hue is encoded on a circle.
    normalize : bool
        Give every feature zero mean and unit variance (as MATLAB's imsegkmeans does).
    spatial_weight : float
        Append pixel coordinates; 1.0 gives position as much weight as colour.
    texture_sigma : float
        Append the local standard deviation at this scale (pixels); 0 turns it off.
    per_plane : bool
        Cluster each plane of the first axis on its own, then match clusters to the first
        plane's by centre so the numbering is consistent.
    progress : callable(fraction, message), optional
    cancel : callable() -> bool, optional
        Checked between steps; when it returns True the run raises ``Cancelled``.

    Returns
    -------
    Segmentation
    """
    if _is_dask(image):
        from .lazy import segment_lazy

        unsupported = [name for name, v in (
            ("mask", mask is not None), ("spatial_weight", spatial_weight),
            ("texture_sigma", texture_sigma), ("per_plane", per_plane),
            ("sample_size=None (the exact recipe)", sample_size is None)) if v]
        if unsupported:
            raise ValueError(
                f"{', '.join(unsupported)} cannot be used with a lazy (dask) image, which is "
                "fitted on a sample of its blocks. Load the image (np.asarray) or a region of "
                "it first."
            )

        return segment_lazy(
            image, n_clusters, attempts=attempts, max_iter=max_iter, epsilon=epsilon,
            init=init, seed=seed, rgb=rgb, channel_axis=channel_axis,
            color_space=color_space, normalize=normalize, progress=progress, cancel=cancel,
        )
    opts = Options.check(n_clusters, attempts, max_iter, epsilon, init, seed, sample_size)
    for name, v in (("spatial_weight", spatial_weight), ("texture_sigma", texture_sigma)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not v >= 0:
            raise ValueError(f"{name}={v!r}: use a number >= 0 (0 turns it off).")
    img = PixelImage(image, rgb=rgb, channel_axis=channel_axis, mask=mask)
    check_color_space(color_space, img)
    seed_used = opts.seed if opts.seed is not None else new_seed()
    settings = dict(
        color_space=color_space, normalize=bool(normalize),
        spatial_weight=float(spatial_weight), texture_sigma=float(texture_sigma),
    )
    if per_plane:
        return _segment_planes(img, opts, seed_used, settings, progress, cancel)
    return _segment(img, opts, seed_used, settings, progress, cancel)


def _segment(img: PixelImage, opts: Options, seed_used: int, settings: dict,
             progress=None, cancel=None) -> Segmentation:
    k = opts.n_clusters
    fs = FeatureSpace(**settings)
    run = Run(img, fs, opts, seed_used, progress, cancel)
    m = opts.auto_sample() if opts.sample_size == "auto" else opts.sample_size
    exact = m is None or img.n_valid <= (4 * m if opts.sample_size == "auto" else m)
    hist = run.histogram() if not exact and run.use_histogram() else None
    # The histogram already knows the number of distinct colours.
    _check_enough_pixels(img, k, np.random.default_rng(seed_used),
                         None if hist is None else len(hist[0]))
    run.fit_feature_space()
    if exact:
        labels, centres_f, compactness = run.exact()
        counts, sums = run.cluster_stats(labels)
        method = "exact"
    else:
        centres_f = run.choose(run.fit_sample(m), run.scoring_set(hist))
        if hist is not None:
            centres_f = run.refine_histogram(centres_f, hist[1:])
        else:
            centres_f = run.refine_chunks(centres_f, min(opts.max_iter, 5))
        labels, counts, sums, compactness = run.assign(centres_f, hist)
        method = "sampled"
    centres_img = _image_centres(sums, counts, centres_f, fs, img)
    # For outlier_fraction: how far the fitted pixels typically are from their centre.
    distance_p99 = fit_reference(img, fs, centres_f, seed_used, run.rows)
    # Stable numbering: darkest centre is label 1.
    order = luminance_order(centres_img, counts, img.rgb)
    lut = np.zeros(k + 1, labels.dtype)
    lut[order + 1] = np.arange(1, k + 1)
    labels = lut[labels]
    run.report(1.0, "done")
    params = dict(
        n_clusters=k, attempts=opts.attempts, max_iter=opts.max_iter, epsilon=opts.epsilon,
        init=opts.init, seed=opts.seed, seed_used=seed_used, sample_size=opts.sample_size,
        method=method, sample_pixels=None if exact else int(min(m, img.n_valid)),
        rgb=img.rgb, channel_axis=img.channel_axis, spatial_shape=list(img.spatial_shape),
        **settings, per_plane=False, distance_p99=distance_p99,
    )
    return Segmentation(
        labels=labels.reshape(img.spatial_shape),
        recolored=recolor(img, labels, centres_img[order]),
        centers=centres_img[order],
        counts=counts[order],
        compactness=compactness,
        feature_centers=np.asarray(centres_f, np.float64)[order],
        feature_space=fs,
        params=params,
    )


def _image_centres(sums, counts, centres_f, fs, img) -> np.ndarray:
    """Cluster centres in the image's units: cv2's centres when features are the channel
    values themselves, else the mean of each cluster's pixels."""
    if fs.is_identity:
        return np.asarray(centres_f, np.float64)
    means = np.zeros((len(counts), img.n_channels))
    nz = counts > 0
    means[nz] = sums[nz] / counts[nz, None]
    return means


def _check_enough_pixels(img: PixelImage, k: int, rng, distinct: int | None = None) -> None:
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
        distinct = img.has_distinct(k, rng)
    if distinct < k:
        raise ValueError(
            f"The image has only {distinct} distinct value(s) among the pixels to cluster, "
            f"fewer than n_clusters={k}; choose K <= {distinct}."
        )


def _segment_planes(img: PixelImage, opts, seed_used, settings, progress, cancel):
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

        plane = PixelImage(moved[i], rgb=img.rgb, channel_axis=-1,
                           mask=None if mask is None else mask[i])
        parts.append(_segment(plane, opts, seed_used, settings, sub_progress, cancel))
    ref = parts[0].centers
    k = opts.n_clusters
    labels = np.empty(img.spatial_shape, labels_dtype(k))
    counts = np.zeros(k, np.int64)
    sums = np.zeros_like(ref)
    compactness = 0.0
    for i, p in enumerate(parts):
        cost = ((p.centers[:, None, :] - ref[None]) ** 2).sum(axis=2)
        _, to_ref = linear_sum_assignment(cost)  # plane cluster j -> reference cluster to_ref[j]
        lut = np.zeros(k + 1, labels.dtype)
        lut[1:] = to_ref + 1
        labels[i] = lut[p.labels]
        counts[to_ref] += p.counts
        sums[to_ref] += p.centers * p.counts[:, None]
        compactness += p.compactness
    centres = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], ref)
    params = dict(parts[0].params, per_plane=True,
                  method=",".join(sorted({p.params["method"] for p in parts})))
    flat = labels.reshape(-1)
    return Segmentation(
        labels=labels,
        recolored=recolor(img, flat, centres),
        centers=centres,
        counts=counts,
        compactness=compactness,
        feature_centers=parts[0].feature_centers,
        feature_space=parts[0].feature_space,
        params=params,
    )


def _is_dask(x) -> bool:
    return type(x).__module__.startswith("dask") and hasattr(x, "chunks")

