"""How sure is each pixel's cluster? Distances to the centres in feature space.

``distance_map`` gives every pixel its distance to the nearest centre (how typical the
pixel is of its cluster) or the margin between the nearest two clusters (how close it came
to the other side). ``outlier_fraction`` tells, in batch, when an image has many pixels
that are far from every centre of the model it is measured with: the model then describes
it poorly (another stain, a scanner change, a blurred slide).
"""

from __future__ import annotations

import numpy as np

from ..model.model_check import DISTANCE_KEY

KINDS = ("distance", "margin")
_SAMPLE = 20_000
OUTLIER_WARN = 0.05  # warn when more of an image's pixels than this are far from every centre


def outlier_warning(fraction: float, name: str) -> str | None:
    """The warning (dock and command line alike) when ``fraction`` of the pixels of the image
    called ``name`` are far from every cluster of a model; None when it is few enough."""
    if not fraction > OUTLIER_WARN:
        return None
    return (
        f"{100 * fraction:.0f}% of the pixels of '{name}' are far from every cluster of "
        "the model (about 1% are on the image it was made from): the model describes "
        "this image poorly (another stain, scanner or focus?). Check the result, or fit "
        "a new model on it."
    )


def unlike_model(
    model, image, name: str, *, rgb=None, channel_axis=None, progress=None, cancel=None
) -> tuple[float | None, str | None]:
    """How many of ``image``'s pixels are far from every cluster of ``model`` (see
    :func:`outlier_fraction`) and the warning that calls for (dock and command line alike;
    None when few are). (None, None) for a model saved without the reference distance."""
    if DISTANCE_KEY not in getattr(model, "model", model).params:
        return None, None
    frac = outlier_fraction(
        model, image, rgb=rgb, channel_axis=channel_axis, progress=progress, cancel=cancel
    )
    return frac, outlier_warning(frac, name)


def two_nearest(x: np.ndarray, centers: np.ndarray, groups: np.ndarray | None = None):
    """Distances from rows ``x`` to the nearest centre and to the nearest centre of another group.

    ``groups`` (one label per centre, e.g. a model's ``label_map``) makes centres that are
    written under the same label count as one cluster for the margin. Returns two float32
    arrays (Euclidean distances, not squared); the second is inf with a single group.
    """
    c = np.asarray(centers, np.float64)
    ref = c.mean(axis=0)
    c32 = (c - ref).astype(np.float32)
    c2 = (c32.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
    groups = np.arange(len(c)) if groups is None else np.asarray(groups)
    n = x.shape[0]
    d1 = np.empty(n, np.float32)
    d2 = np.empty(n, np.float32)
    step = max(4096, (1 << 22) // max(len(c), 1))
    for s in range(0, n, step):
        xs = np.asarray(x[s : s + step], np.float32) - ref.astype(np.float32)
        d = xs @ (-2 * c32.T)
        d += c2
        d += np.einsum("ij,ij->i", xs, xs)[:, None]
        np.maximum(d, 0, out=d)
        near = d.argmin(axis=1)
        d1[s : s + step] = np.take_along_axis(d, near[:, None], axis=1)[:, 0]
        d[groups[near][:, None] == groups[None, :]] = np.inf  # the nearest cluster's centres
        d2[s : s + step] = d.min(axis=1)
    return np.sqrt(d1), np.sqrt(d2)


def _run_for(model, image, rgb, channel_axis, mask, progress, cancel):
    from ..features.image import PixelImage
    from ..fit.fitting_run import Run
    from ..options import for_model

    stains = getattr(model, "stains", None)  # a Segmentation's slide: its white level
    model = getattr(model, "model", model)  # a Segmentation gives its model
    if rgb is None and channel_axis is None:
        rgb, channel_axis = model.params.get("rgb"), model.params.get("channel_axis")
    img = PixelImage(image, rgb=rgb, channel_axis=channel_axis, mask=mask)
    if img.n_channels != model.n_channels:
        raise ValueError(
            f"This model was fitted on images with {model.n_channels} channel(s); the image has "
            f"{img.n_channels}. Measure images like the one it came from."
        )
    fs = model.feature_space
    if model.measures_stains:  # as the model labels it: the glass left out, the slide's white
        from .slide_stains import plan_slide

        slide = plan_slide(
            img,
            image,
            rgb=rgb,
            channel_axis=channel_axis,
            white_level=None if stains is None else stains.white,
            tissue_od=fs.tissue_od,
            fallback_white=fs.white,
        )
        img, fs = slide.img, fs.on_white(slide.white.white)
    opts = for_model(model.n_clusters)
    return model, img, Run(img, fs, opts, 0, progress, cancel)


def distance_map(
    model,
    image,
    *,
    kind: str = "distance",
    rgb=None,
    channel_axis=None,
    mask=None,
    progress=None,
    cancel=None,
) -> np.ndarray:
    """Per-pixel uncertainty of a model's clustering of ``image``, chunk by chunk.

    Parameters
    ----------
    model : KMeansModel or Segmentation
        The clustering to measure (a result gives its model).
    image : array-like
        An image like the one the model was fitted on (same channels).
    kind : {"distance", "margin"}
        "distance": Euclidean distance in feature space to the nearest centre (large =
        atypical of its cluster). "margin": distance to the nearest other cluster's centre
        minus that (small = nearly assigned elsewhere; merged clusters count as one).
    rgb, channel_axis, mask : optional
        As for :func:`segment`; by default the model's layout.
    progress, cancel : callables, optional
        As for :func:`segment`.

    Returns
    -------
    ndarray (float32)
        The image's spatial shape; NaN where pixels are left out (mask, NaN, transparent,
        and the glass for a model that measures stains).

    Raises
    ------
    TypeError
        For no image, an image whose dtype is not numeric, or a ``channel_axis`` that is
        not a whole number.
    ValueError
        For an unknown ``kind``, an image with another number of channels than the
        model's, a layout or mask that does not fit the image, or (a model that measures
        stains) a slide without glass to find its white level on.
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import distance_map, segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> model = segment(image, 3, seed=0).model  # centres 0, 100, 200
    >>> pixels = np.array([[0, 40, 100, 230]], np.uint8)
    >>> distance_map(model, pixels).tolist()
    [[0.0, 40.0, 0.0, 30.0]]
    >>> distance_map(model, pixels, kind="margin").tolist()  # 40: 60 - 40 from 100 and 0
    [[100.0, 20.0, 100.0, 100.0]]
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: choose one of {KINDS}.")
    model, img, run = _run_for(model, image, rgb, channel_axis, mask, progress, cancel)
    groups = None if model.label_map is None else np.asarray(model.label_map)
    out = np.full(img.n_pixels, np.nan, np.float32)
    table = None
    if run.use_histogram():
        # 8-bit colour features: each distinct colour once, then a lookup per pixel.
        keys, colors, _ = run.histogram()
        d1, d2 = two_nearest(run.fs.transform(colors), model.feature_centers, groups)
        table = np.full(1 << (img.key_bits * img.n_channels), np.nan, np.float32)
        table[keys] = d1 if kind == "distance" else d2 - d1
    for i, c in enumerate(img.chunks()):
        run.report(i / img.n_chunks, f"distances, chunk {i + 1}/{img.n_chunks}")
        if table is not None:
            val = table[img.keys(c.pixels)]
            if c.valid is not None:
                val[~c.valid] = np.nan
            out[c.start : c.stop] = val
            continue
        rows, _ = run.chunk_rows(c)
        d1, d2 = two_nearest(rows, model.feature_centers, groups)
        val = d1 if kind == "distance" else d2 - d1
        if c.valid is None:
            out[c.start : c.stop] = val
        else:
            out[c.start + np.flatnonzero(c.valid)] = val
    run.report(1.0, "done")
    return out.reshape(img.spatial_shape)


def reference_distance(rows: np.ndarray, feature_centers: np.ndarray, q: float = 99.0) -> float:
    """The ``q``-th percentile of the distances from feature ``rows`` to their nearest centre.

    Stored at fit time in ``params["distance_p99"]`` (from a sample of the fitted pixels)
    for :func:`outlier_fraction`.
    """
    d1, _ = two_nearest(rows, feature_centers)
    return float(np.percentile(d1, q)) if d1.size else 0.0


def fit_reference(img, fs, feature_centers: np.ndarray, seed: int, rows_of=None) -> float:
    """:func:`reference_distance` on up to 20,000 random valid pixels of ``img``.

    ``rows_of(flat, px)`` turns sampled pixels into feature rows (a Run's ``rows``, for
    position/texture features); by default the colour features.
    """
    flat, px = img.sample(_SAMPLE, np.random.default_rng(seed + 3))
    rows = rows_of(flat, px) if rows_of is not None else fs.transform(img.features_of(px))
    return reference_distance(rows, feature_centers)


def outlier_fraction(
    model, image, *, rgb=None, channel_axis=None, mask=None, progress=None, cancel=None
) -> float:
    """The share of the image's pixels farther from their centre than 99% of the fitted pixels.

    About 0.01 on images like the training image; much more means the model fits this
    image poorly (a batch should warn). Needs a model fitted by this version (its params
    hold ``distance_p99``). A model that measures stains counts the tissue only (the glass
    is left out, as when it labels the slide).

    Parameters
    ----------
    model : KMeansModel or Segmentation
        The clustering to measure (a result gives its model).
    image : array-like
        An image like the one the model was fitted on (same channels).
    rgb, channel_axis, mask : optional
        As for :func:`segment`; by default the model's layout.
    progress, cancel : callables, optional
        As for :func:`segment`.

    Returns
    -------
    float
        Between 0 and 1; 0.0 when no pixel is measured.

    Raises
    ------
    ValueError
        For a model without ``params["distance_p99"]`` (saved by an older version), and
        as :func:`distance_map`.
    TypeError
        As :func:`distance_map`.
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    The model was fitted on three exact grey values, so every pixel of another value is
    an outlier:

    >>> import numpy as np
    >>> from napari_kmeans_segment import outlier_fraction, segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> model = segment(image, 3, seed=0).model  # centres 0, 100, 200
    >>> outlier_fraction(model, image)
    0.0
    >>> odd = image.copy()
    >>> odd[:5] = 50  # a quarter of the rows
    >>> outlier_fraction(model, odd)
    0.25
    """
    m = getattr(model, "model", model)
    ref = m.params.get(DISTANCE_KEY)
    if ref is None:
        raise ValueError(
            "This model does not record how far its fitted pixels were from their centres "
            f"(params['{DISTANCE_KEY}']): it was saved by an older version. Refit and save it again."
        )
    d = distance_map(
        m, image, rgb=rgb, channel_axis=channel_axis, mask=mask, progress=progress, cancel=cancel
    )
    valid = np.isfinite(d)
    n = int(valid.sum())
    return float((d[valid] > float(ref)).sum() / n) if n else 0.0
