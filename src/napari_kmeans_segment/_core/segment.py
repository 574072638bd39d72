"""``segment``: image in, :class:`Segmentation` out. A dispatcher: its keywords become one
:class:`.options.Options`; in-memory images go to the fitter (:func:`.fitting.fit`), dask
arrays to the lazy path (:func:`.lazy.segment_lazy`)."""

from __future__ import annotations

from typing import Any

from .fit.fitting import fit
from .lazy import check_lazy, segment_lazy
from .model.clusters import is_dask
from .model.result import Segmentation
from .options import DEFAULTS, CancelFn, Options, ProgressFn


def segment(
    image,
    n_clusters: int = DEFAULTS.n_clusters,
    *,
    attempts: int = DEFAULTS.attempts,
    max_iter: int = DEFAULTS.max_iter,
    epsilon: float = DEFAULTS.epsilon,
    init: str = DEFAULTS.init,
    seed: int | None = DEFAULTS.seed,
    sample_size: int | str | None = DEFAULTS.sample_size,
    rgb: bool | None = None,
    channel_axis: int | None = None,
    mask=None,
    color_space: str = DEFAULTS.color_space,
    stain_vectors: str = DEFAULTS.stain_vectors,
    normalize: bool = DEFAULTS.normalize,
    spatial_weight: float = DEFAULTS.spatial_weight,
    texture_sigma: float = DEFAULTS.texture_sigma,
    per_plane: bool = DEFAULTS.per_plane,
    smoothing: float = DEFAULTS.smoothing,
    scale=None,
    tissue: bool = DEFAULTS.tissue,
    white_level=DEFAULTS.white_level,
    tissue_od: float | None = DEFAULTS.tissue_od,
    dab_thresholds=DEFAULTS.dab_thresholds,
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
    init : {"random", "k-means++"}
        ``cv2.KMEANS_RANDOM_CENTERS`` or ``cv2.KMEANS_PP_CENTERS`` for the exact recipe;
        "kmeans++" is accepted too. The fast path ignores it: every one of its starts is
        seeded by k-means++ on a weighted summary of all pixels (random centres are what
        leave small clusters without a centre).
    seed : int or None
        Seeds ``cv2.setRNGSeed`` (in the thread that runs cv2.kmeans) and the pixel sample.
        None draws a fresh seed and records it in ``params["seed_used"]``.
    sample_size : "auto", int or None
        None runs the exact tutorial recipe on every pixel. Otherwise the fast path: every
        pixel is summarised (the exact colour histogram of 8/16-bit data, or one pass over
        the pixels) into ~2,000 weighted points ("auto"; an int sets that number),
        ``attempts x ceil(K/3)`` k-means++ starts run on them, the best three (K / 3 for
        larger K) are refined on a finer summary (10,000-30,000 points) and the best of
        those labels every pixel
        (:mod:`napari_kmeans_segment._core.fit.fitting_fast`). With "auto", integer images of
        at most max(20,000, 2,500 K) pixels use the exact recipe (K <= 16; float images
        never: epsilon would stop it early on values in 0..1); with an int, images of at
        most that many pixels do.
    rgb : bool or None
        Whether the last axis is RGB(A); None guesses as napari does.
    channel_axis : int or None
        Axis of the channels of a multichannel image (all channels are features).
    mask : array-like or None
        Nonzero where pixels take part. Elsewhere labels are 0 and ``recolored`` keeps the
        original pixels. NaN/inf pixels and fully transparent RGBA pixels are left out too.
    color_space : {"rgb", "lab", "hsv", "hed"}
        Feature space for RGB images. Hue is encoded on a circle. "hed": densities of
        haematoxylin, eosin and DAB (colour deconvolution of brightfield slides, as
        ``skimage.color.rgb2hed``), each scaled to a robust spread of 100 so every stain has
        a say; clusters get stain names (:meth:`Segmentation.default_names`).
    stain_vectors : {"fixed", "macenko"}
        With "hed": scikit-image's fixed stain vectors, or vectors estimated from the image
        (Macenko et al. 2009).
    normalize : bool
        Give every feature zero mean and unit variance (as MATLAB's imsegkmeans does).
    spatial_weight : float
        Append pixel coordinates; 1.0 gives position as much weight as colour.
    texture_sigma : float
        Append the local standard deviation at this scale (pixels); 0 turns it off.
    per_plane : bool
        Cluster each plane of the first axis on its own, then match clusters to the first
        plane's by centre so the numbering is consistent.
    smoothing : float
        Spatially coherent clusters: 0 (default) clusters every pixel alone, the tutorial's
        recipe; ``s > 0`` labels each pixel by a mean-field Potts smoothing of the
        pixel-to-centre distances over a Gaussian neighbourhood of width ``s``
        (:mod:`napari_kmeans_segment._core.fit.smoothing`), so that a dim, noisy object comes out
        whole instead of speckled. The centres are those of the pixel-wise fit. In pixels, or
        in the units of ``scale`` when it is given. 1-2 pixels suit nuclei.
    scale : sequence of float, optional
        Size of a pixel along each spatial axis (napari's ``layer.scale``), for ``smoothing``
        in physical units and anisotropic voxels.
    tissue : bool
        With "hed": tell tissue from glass by optical density (relative to the white level)
        before clustering, so pale stroma is tissue; the glass gets label 0 and the stains
        are clustered within the tissue. The result's :attr:`Segmentation.stains` then
        measures the slide (tissue area, DAB weak/moderate/strong, H-score, saturated
        pixels, warnings). False clusters every pixel (the glass becomes a cluster).
    white_level : float, (float, float, float) or None
        With "hed" and ``tissue``: the R, G, B of bare glass (one number for grey), in the
        image's units. None estimates it from the brightest narrow peak of the slide's
        histogram (the glass); a slide without glass then needs it.
    tissue_od : float or None
        With "hed" and ``tissue``: a pixel is tissue where its 5 x 5 neighbourhood absorbs
        more than this mean optical density (majority vote). None: 0.012, or more on a noisy
        glass.
    dab_thresholds : (float, float, float) or None
        DAB optical densities from which a tissue pixel is weak, moderate, strong. None
        derives them from the clusters (the valley between negative and DAB tissue, then
        three intensity classes); the model keeps them for the slides it measures.
    progress : callable(fraction, message), optional
    cancel : callable() -> bool, optional
        Checked between steps; when it returns True the run raises ``Cancelled``.

    Returns
    -------
    Segmentation
        Labels 1..K numbered from the darkest centre to the brightest (0 for pixels left
        out), the recoloured image, centres, counts and the model (:attr:`Segmentation.model`).

    Raises
    ------
    TypeError
        For an option of the wrong type (``attempts=2.5``, ``normalize="yes"``), no image,
        an image or mask whose dtype is not numeric, or a ``channel_axis`` that is not a
        whole number.
    ValueError
        For an option out of range or options that do not go together (the first problem),
        an empty image, a layout that does not fit the image (``rgb=True`` without 3 or 4
        channels, ``channel_axis`` out of range), a mask of another shape, fewer pixels or
        distinct values to cluster than ``n_clusters`` (a constant image), a ``color_space``
        other than "rgb" on a non-RGB image, or for a dask image an option that needs the
        whole image (``mask``, ``spatial_weight``, ``texture_sigma``, ``per_plane``,
        ``sample_size=None``).
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    Three bands of known grey values give three clusters of 200 pixels each, numbered
    from dark to bright:

    >>> import numpy as np
    >>> from napari_kmeans_segment import segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> seg = segment(image, 3, seed=0)
    >>> seg.labels.shape, np.unique(seg.labels).tolist()
    ((20, 30), [1, 2, 3])
    >>> seg.counts.tolist(), seg.centers.ravel().tolist()
    ([200, 200, 200], [0.0, 100.0, 200.0])
    >>> int(seg.labels[0, 25]), int(seg.recolored[0, 25])
    (3, 200)
    """
    options = Options(
        n_clusters=n_clusters,
        attempts=attempts,
        max_iter=max_iter,
        epsilon=epsilon,
        init=init,
        seed=seed,
        sample_size=sample_size,
        color_space=color_space,
        stain_vectors=stain_vectors,
        normalize=normalize,
        spatial_weight=spatial_weight,
        texture_sigma=texture_sigma,
        per_plane=per_plane,
        smoothing=smoothing,
        tissue=tissue,
        white_level=white_level,
        tissue_od=tissue_od,
        dab_thresholds=dab_thresholds,
    )
    layout: dict[str, Any] = dict(
        rgb=rgb, channel_axis=channel_axis, scale=scale, progress=progress, cancel=cancel
    )
    if is_dask(image):
        check_lazy(options, mask)
        return segment_lazy(image, options=options, **layout)
    return fit(image, options, mask=mask, **layout)
