"""Which K? Compactness (elbow) and silhouette over a range of K, on a sample."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from .features.features import FeatureSpace
from .features.image import PixelImage
from .fit.fitting import _check_enough_pixels
from .fit.fitting_run import Run
from .options import DEFAULTS, Options, _int, check_color_space, names, new_seed


@dataclass
class SuggestKResult:
    """The scores per K of :func:`suggest_k`, and the K they suggest.

    Attributes
    ----------
    k : int
        The K with the best mean silhouette.
    ks : list of int
        The K scored, in increasing order.
    compactness : list of float
        The k-means compactness per K, scaled from the sample to the whole image.
    silhouette : list of float
        The mean silhouette per K, on a sample of the sample.
    elbow_k : int
        The knee of the compactness curve (largest distance below the chord), for a
        second opinion.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import suggest_k
    >>> rng = np.random.default_rng(0)
    >>> image = np.zeros((30, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> image = np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)
    >>> result = suggest_k(image, range(2, 6), seed=0)
    >>> result.k, result.ks, len(result.silhouette)
    (3, [2, 3, 4, 5], 4)
    """

    k: int
    ks: list[int]
    compactness: list[float]
    silhouette: list[float]
    elbow_k: int


def distances(x: np.ndarray) -> np.ndarray:
    """Every pairwise Euclidean distance between rows ``x`` (n x n)."""
    x = x.astype(np.float64)
    sq = (x * x).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0))


def silhouette(x: np.ndarray, labels: np.ndarray, d: np.ndarray | None = None) -> float:
    """Mean silhouette coefficient of rows ``x`` (exact, O(n^2): keep n to a few thousand).
    ``d``: their :func:`distances`, when already known (the same rows scored for every K)."""
    d = distances(x) if d is None else d
    ks = np.unique(labels)
    if ks.size < 2:
        return 0.0
    onehot = labels[:, None] == ks[None]
    sizes = onehot.sum(0)
    mean_to = d @ onehot / sizes  # mean distance from each point to each cluster
    own = np.searchsorted(ks, labels)
    n_own = sizes[own]
    a = mean_to[np.arange(len(x)), own] * n_own / np.maximum(n_own - 1, 1)
    mean_to[np.arange(len(x)), own] = np.inf
    b = mean_to.min(1)
    s = np.where(n_own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def elbow(ks, values) -> int:
    ks = np.asarray(ks, float)
    v = np.asarray(values, float)
    if len(ks) < 3:
        return int(ks[0])
    xn = (ks - ks[0]) / (ks[-1] - ks[0])
    yn = (v - v.min()) / max(v.max() - v.min(), 1e-12)
    # distance below the straight line from the first to the last point
    gap = (1 - xn) * yn[0] + xn * yn[-1] - yn
    return int(ks[int(np.argmax(gap))])


MAX_SAMPLE = 1_000_000  # pixels clustered once per K with the exact recipe
MAX_SILHOUETTE = 5_000  # the silhouette holds every pairwise distance: n**2 floats


def check_sizes(sample_size, silhouette_size) -> None:
    """ValueError/TypeError for sample sizes that are not whole numbers or too large."""
    for name, v, top, why in (
        ("sample_size", sample_size, MAX_SAMPLE, "the sample is clustered once for every K"),
        (
            "silhouette_size",
            silhouette_size,
            MAX_SILHOUETTE,
            "the silhouette compares every pair of these pixels (n x n distances in memory)",
        ),
    ):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise TypeError(f"{name} must be a whole number, not {v!r}.")
        if not 2 <= v <= top:
            raise ValueError(f"{name}={v}: use 2 to at most {top:,} pixels; {why}.")


ATTEMPTS = 2  # cv2.kmeans attempts per K (fewer than a run's 10: see suggest_k)


def _sample_features(px: np.ndarray, rgb: bool, seed: int, cancel, opts: Options):
    """Feature rows of the sampled pixels ``px``, transformed once for every K, and the
    :class:`Run` (on the sample as an (n, 1) image) that clusters them."""
    # K comes from k_range, and the sample is clustered by the exact recipe
    opts = replace(opts, n_clusters=2, seed=seed, sample_size=None).check()
    sample_img = PixelImage(px[:, None, :], rgb=rgb, channel_axis=None if rgb else -1)
    check_color_space(opts.color_space, sample_img.rgb, sample_img.n_channels)
    fs = FeatureSpace.from_options(opts)
    run = Run(sample_img, fs, opts, seed, None, cancel)
    run.prepare()  # the same working representation and feature fit as fit() on the sample
    run.fit_feature_space()
    data = np.ascontiguousarray(fs.transform(sample_img.features_of(px)), np.float32)
    return data, run


def suggest_k(
    image,
    k_range=range(2, 11),
    *,
    sample_size: int = 20_000,
    silhouette_size: int = 2_000,
    seed: int | None = None,
    rgb=None,
    channel_axis=None,
    mask=None,
    options: Options | None = None,
    progress=None,
    cancel=None,
    **segment_options,
):
    """Score each K in ``k_range`` on a random sample of pixels and suggest one.

    ``options`` (an :class:`~.options.Options`, e.g. the run's) and ``segment_options``
    (attempts, init, color_space, normalize, ... as :func:`segment` takes them, replacing
    fields of ``options``) give the scores the feature space the run will use; their
    ``n_clusters`` and ``sample_size`` are not used (K comes from ``k_range``), and
    ``seed``, when None here, is theirs. Position and texture features need the whole image
    and are not allowed here.

    Parameters
    ----------
    image : array-like
        As for :func:`segment`.
    k_range : iterable of int
        At least two values of K, each >= 2.
    sample_size : int
        Pixels drawn at random and clustered for every K.
    silhouette_size : int
        Pixels of the sample whose silhouette is computed (n x n distances).
    seed : int or None
        Seeds the samples and the fits; None: that of ``options``, else a fresh one.
    rgb, channel_axis, mask : optional
        The image's layout and the pixels that take part, as for :func:`segment`.
    options : Options, optional
        The options of the run to score (default: the defaults).
    progress, cancel : callables, optional
        As for :func:`segment`.
    **segment_options
        Keywords of :func:`segment` that replace fields of ``options``.

    Returns
    -------
    SuggestKResult
        A scan that stops early (with a warning) where K exceeds the distinct colours
        scores fewer K than asked.

    Raises
    ------
    TypeError
        For an unknown keyword (or ``n_clusters``, ``sample_size``), a K or sample size
        that is not a whole number, an option of the wrong type, or an image as
        :func:`segment` refuses it.
    ValueError
        For ``spatial_weight``, ``texture_sigma`` or ``per_plane``, fewer than two K or a K
        below 2, sample sizes out of range, a K larger than the pixels to cluster, fewer
        distinct values than the smallest K, or an option or image as :func:`segment`
        refuses it.
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    Three grey bands with a little noise: the silhouette picks K = 3.

    >>> import numpy as np
    >>> from napari_kmeans_segment import suggest_k
    >>> rng = np.random.default_rng(0)
    >>> image = np.zeros((30, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> image = np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)
    >>> result = suggest_k(image, range(2, 6), seed=0)
    >>> result.k, result.elbow_k, result.ks
    (3, 3, [2, 3, 4, 5])
    """
    allowed = [n for n in names() if n not in ("n_clusters", "sample_size", "seed")]
    opts = (options or DEFAULTS).updated(segment_options, where="suggest_k", allowed=allowed)
    for bad in ("spatial_weight", "texture_sigma", "per_plane"):
        if getattr(opts, bad):
            raise ValueError(f"suggest_k scores colour features only; drop {bad}.")
    seed = opts.seed if seed is None else seed
    ks = sorted({_int("Each K in k_range", k) for k in k_range})  # 2.5 was silently 2
    if len(ks) < 2 or ks[0] < 2:
        raise ValueError("k_range needs at least two values of K, each >= 2.")
    check_sizes(sample_size, silhouette_size)
    seed = new_seed() if seed is None else int(seed)
    img = PixelImage(image, rgb=rgb, channel_axis=channel_axis, mask=mask)
    rng = np.random.default_rng(seed)
    _, px = img.sample(sample_size, rng)
    too_many = [k for k in ks if k > px.shape[0]]
    if too_many:  # these were silently dropped from the scan
        of = (
            f"the {px.shape[0]} pixels to cluster"
            if px.shape[0] >= img.n_valid
            else f"the {px.shape[0]} sampled pixels (raise sample_size)"
        )
        raise ValueError(
            f"K = {', '.join(map(str, too_many))} in k_range: more clusters than "
            f"{of}; use smaller values of K."
        )
    data, run = _sample_features(px, img.rgb, seed, cancel, opts)
    sample_img = run.img
    sil_idx = np.sort(rng.choice(px.shape[0], min(silhouette_size, px.shape[0]), replace=False))
    feats = data[sil_idx]
    dist = distances(feats)  # the same rows for every K: their distances once
    comp: list[float] = []
    sil: list[float] = []
    done: list[int] = []
    for i, k in enumerate(ks):
        if progress:
            progress(i / len(ks), f"K = {k}")
        run.check()
        # fewer attempts than a run: a score per K needs a good clustering, not the best one
        # and k-means++ seeding, which converges in a few iterations where random centres take dozens
        run.opts = replace(
            run.opts, n_clusters=k, attempts=min(run.opts.attempts, ATTEMPTS), init="k-means++"
        )
        try:
            _check_enough_pixels(sample_img, k, np.random.default_rng(seed), None, run.fs, run.check)
        except ValueError as e:
            if done:  # more clusters than distinct colours: stop the scan here, and say so
                warnings.warn(f"suggest_k stopped before K = {k}: {e}", stacklevel=2)
                break
            raise
        compactness, labels, _ = run.cv2_kmeans(data, 0.0, 1.0)
        comp.append(compactness * img.n_valid / px.shape[0])
        sil.append(silhouette(feats, labels.ravel()[sil_idx], dist))
        done.append(k)
    if progress:
        progress(1.0, "done")
    best = done[int(np.argmax(sil))]
    return SuggestKResult(k=best, ks=done, compactness=comp, silhouette=sil, elbow_k=elbow(done, comp))
