"""Numbers from labels: cluster areas and shares of tissue; measured objects.

Areas are in pixels (voxels in 3D) and in physical units from the layer's ``scale``
(one value per spatial axis, as napari's ``layer.scale``), with ``unit`` naming the
length unit ("µm"); the physical area is then in ``unit^2`` (``unit^3`` for volumes).
Every table is a dict of equal-length numpy columns, ready for ``pandas.DataFrame`` or a
napari layer's ``features`` (which wants an ``index`` column: the label).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def pixel_size(scale: Sequence[float] | None, ndim: int) -> float:
    """Physical size of one pixel (area in 2D, volume in 3D): the product of ``|scale|``.

    A negative value flips its axis in napari (``layer.scale``) and leaves the pixel's size
    unchanged; zero or a non-finite value is refused.
    """
    if scale is None:
        return 1.0
    s = np.asarray(scale, np.float64).ravel()
    if s.size != ndim:
        raise ValueError(
            f"scale has {s.size} value(s) but the labels have {ndim} spatial axes; pass one "
            "value per axis (napari's layer.scale)."
        )
    if not (np.isfinite(s).all() and (s != 0).all()):
        raise ValueError(f"scale={s.tolist()}: every value must be a finite, non-zero number.")
    return float(np.prod(np.abs(s)))


def area_unit(unit: str | None, ndim: int) -> str:
    """``"µm^2"`` for unit "µm" in 2D (``^3`` in 3D); ``"px"`` without a unit."""
    if not unit or unit in ("pixel", "px"):
        return "px"
    return f"{unit}^{ndim}"


def label_counts(labels, index: Iterable[int]) -> np.ndarray:
    """Pixels per label in ``index`` (numpy, or dask counted block by block)."""
    idx = np.asarray(list(index), np.int64)
    top = int(np.max(idx, initial=0)) + 1
    if type(labels).__module__.startswith("dask"):
        import dask.array as da

        counts = np.asarray(da.bincount(labels.ravel().astype(np.int64), minlength=top).compute())
    else:
        lab = np.asarray(labels)
        if lab.dtype.kind not in "ui":
            raise TypeError(f"Labels must be an integer array, not {lab.dtype}.")
        counts = np.bincount(lab.ravel(), minlength=top)
    return counts[idx].astype(np.int64)


def background_labels(index, names) -> list[int]:
    """The labels whose name marks them as background ("background", "background 2", ...).

    As :meth:`Segmentation.default_names` names them for ``color_space="hed"``; the case of
    the name does not matter.

    Parameters
    ----------
    index : iterable of int
        The clusters' labels.
    names : iterable of str
        One name per label.

    Returns
    -------
    list of int

    Examples
    --------
    >>> from napari_kmeans_segment import background_labels
    >>> background_labels([1, 2, 3], ["Background", "DAB", "background 2"])
    [1, 3]
    """
    return [int(i) for i, n in zip(index, names) if str(n).lower().startswith("background")]


def area_table(
    index,
    counts,
    *,
    background: Iterable[int] = (),
    scale=None,
    unit: str | None = None,
    ndim: int = 2,
    image_px: int | None = None,
) -> dict[str, np.ndarray]:
    """Cluster areas and shares, one row per cluster.

    Parameters
    ----------
    index, counts : array-like
        The clusters' labels and their pixel counts (``Segmentation.index``/``.counts``,
        or :func:`label_counts`).
    background : iterable of int
        Labels that are background (glass, empty space); the rest is tissue.
    scale : sequence of float, optional
        Pixel size along each of the ``ndim`` spatial axes (napari's ``layer.scale``).
    unit : str, optional
        Length unit of ``scale`` ("µm").
    ndim : int
        Number of spatial axes (3 gives volumes).
    image_px : int, optional
        Pixels of the whole image, those left out (label 0: the glass of a stain
        measurement, a mask) included. Without it, the labelled pixels.

    Returns
    -------
    dict
        ``index``, ``background`` (bool), ``area_px``, ``area`` (physical), ``area_unit``,
        ``share`` (of the whole image, ``image_px``; NaN when there is no pixel) and
        ``tissue_share`` (of the non-background clusters' pixels; NaN on background rows).

    Raises
    ------
    ValueError
        When ``index`` and ``counts`` differ in length, a background label is not in
        ``index``, ``image_px`` is fewer than the clusters' pixels, or ``scale`` does not
        give one finite, non-zero size per spatial axis.

    Examples
    --------
    A glass cluster (label 1) and two tissue clusters, with pixels of 0.5 x 0.5 µm:

    >>> from napari_kmeans_segment import area_table
    >>> table = area_table([1, 2, 3], [50, 30, 20], background=[1], scale=(0.5, 0.5), unit="µm")
    >>> table["area"].tolist(), table["area_unit"][0]
    ([12.5, 7.5, 5.0], 'µm^2')
    >>> table["share"].tolist(), table["tissue_share"][1:].tolist()
    ([0.5, 0.3, 0.2], [0.6, 0.4])
    """
    index = np.asarray(index, np.int64)
    counts = np.asarray(counts, np.int64)
    if index.shape != counts.shape:
        raise ValueError(
            f"index has {index.size} rows but counts has {counts.size}; pass one count per cluster."
        )
    bg = np.isin(index, [int(b) for b in background])
    missing = set(int(b) for b in background) - set(index.tolist())
    if missing:
        raise ValueError(
            f"Background label(s) {sorted(missing)} are not clusters here: the clusters are {index.tolist()}."
        )
    total = counts.sum() if image_px is None else int(image_px)
    if total < counts.sum():
        raise ValueError(f"image_px={image_px} is fewer than the clusters' {counts.sum()} pixels.")
    tissue = counts[~bg].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        # a cluster without pixels has share 0.0; with no pixel at all a share is undefined (NaN,
        # an empty cell in a CSV), as the tissue share of a table without tissue
        share = counts / total if total else np.full(len(counts), np.nan)
        tissue_share = np.where(bg, np.nan, counts / tissue if tissue else np.nan)
    return {
        "index": index,
        "background": bg,
        "area_px": counts,
        "area": counts * pixel_size(scale, ndim),
        "area_unit": np.array([area_unit(unit, ndim)] * len(index), dtype=object),
        "share": share.astype(np.float64),
        "tissue_share": tissue_share.astype(np.float64),
    }


def _channels_last(image, shape: tuple[int, ...], rgb: bool | None, channel_axis: int | None):
    """The image as (*shape, C) float64 intensities, alpha dropped; or None."""
    if image is None:
        return None, []
    img = np.asarray(image)
    if channel_axis is not None:
        img = np.moveaxis(img, channel_axis, -1)
    elif img.shape == shape and not rgb:
        img = img[..., None]
    if img.shape[:-1] != shape:
        raise ValueError(
            f"The image (shape {np.shape(image)}) does not match the labels' shape {shape}; "
            "measure the image the labels were made from (pass channel_axis for multichannel data)."
        )
    c = img.shape[-1]
    is_rgb = rgb if rgb is not None else (channel_axis is None and c in (3, 4))
    if is_rgb and c == 4:
        img, c = img[..., :3], 3
    names = ["R", "G", "B"] if is_rgb else (["value"] if c == 1 else [str(i) for i in range(c)])
    return img, names


def extract_objects(
    labels,
    label,
    image=None,
    *,
    min_size: int = 0,
    scale=None,
    unit: str | None = None,
    rgb: bool | None = None,
    channel_axis: int | None = None,
    channel_names: Sequence[str] | None = None,
    split: bool = False,
    radius: float | None = None,
    progress=None,
    cancel=None,
):
    """Connected objects of one or more clusters, and a table measuring each.

    Parameters
    ----------
    labels : int array
        Cluster labels (2D or 3D).
    label : int or iterable of int
        The cluster(s) to take objects from; pixels of several clusters that touch form one
        object (e.g. all "DAB" clusters).
    image : array-like, optional
        The source image, for the mean intensity per channel.
    min_size : int
        Objects smaller than this many pixels are dropped.
    scale, unit : optional
        Pixel size per spatial axis and its unit (see :func:`area_table`).
    rgb, channel_axis : optional
        Layout of ``image``: RGB(A) channels last (alpha is not measured), or the axis of
        the channels; by default an image of the labels' shape is grayscale and one with an
        extra last axis has its channels there.
    channel_names : sequence of str, optional
        Column suffixes for the channels (default R, G, B / value / 0, 1, ...).
    split : bool
        Cut touching objects apart: a watershed on the distance transform seeded at its
        peaks (:func:`.split.split_touching`), in 2D and 3D, ``scale`` giving the voxels'
        shape. ``min_size`` applies to the parts.
    radius : float, optional
        With ``split``: the typical radius of one object (pixels, or the units of ``scale``);
        seeds closer than about one radius merge. None estimates it as the median inscribed
        radius of the connected pieces.
    progress : callable(fraction, message), optional
        Called as the objects are measured.
    cancel : callable() -> bool, optional
        Polled between slabs of at most :data:`SLAB_PIXELS` pixels; True stops the work.

    Returns
    -------
    objects : uint array
        Objects numbered 1..n (0 elsewhere), the labels' shape.
    table : dict
        ``index`` and ``label`` (the object number), ``area_px``, ``area`` (physical),
        ``area_unit``, ``centroid-<axis>`` and ``bbox-<i>`` in pixel (data) coordinates as
        :func:`skimage.measure.regionprops_table` names them, ``mean_<channel>``, and
        ``cluster``: the cluster most of the object's pixels belong to.

    Raises
    ------
    TypeError
        For labels that are not an integer array, a ``label`` that is not a whole number
        (text, True), a ``split`` that is not True or False, or a ``radius`` that is not a
        number.
    ValueError
        For no cluster, clusters without pixels, a negative ``min_size``, a ``radius``
        that is not positive, a ``scale`` that does not give one finite, non-zero size per
        axis, an image whose shape does not match the labels, or ``channel_names`` of
        another length than the channels.
    Cancelled
        When ``cancel`` returned True.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import extract_objects
    >>> labels = np.ones((6, 8), np.uint8)
    >>> labels[1:3, 1:3] = 2  # a 2 x 2 square
    >>> labels[4:6, 5:8] = 2  # a 2 x 3 rectangle
    >>> labels[0, 7] = 2  # one stray pixel, below min_size
    >>> objects, table = extract_objects(labels, 2, min_size=2)
    >>> int(objects.max()), table["area_px"].tolist()
    (2, [4, 6])
    >>> table["centroid-0"].tolist(), table["centroid-1"].tolist()
    ([1.5, 4.5], [1.5, 6.0])
    """
    from ..model.clusters import _labels_array, extract_cluster, member

    lab = np.asarray(_labels_array(labels))  # objects need the whole (computed) labels
    if np.asarray(label).dtype.kind not in "iuf" or isinstance(label, bool):
        # "1" or True would otherwise be read as cluster 1
        raise TypeError(
            f"label must be a cluster label (a whole number) or a list of them, not {label!r:.60}."
        )
    if not isinstance(split, bool | np.bool_):
        raise TypeError(f"split must be True or False, not {split!r:.40}.")
    try:
        wanted = sorted({int(v) for v in np.atleast_1d(np.asarray(label, dtype=np.int64))})
    except OverflowError:  # 2**64 - 1 on uint64 labels: no cluster has such a number
        raise ValueError(
            f"label={label!r}: cluster labels are whole numbers below 2**63; pick labels that exist."
        ) from None
    if not wanted:
        raise ValueError("Choose at least one cluster to extract objects from.")
    if not isinstance(min_size, int | np.integer) or min_size < 0:
        raise ValueError(f"min_size={min_size!r}: use a whole number of pixels >= 0.")
    from .split import check_radius

    radius = check_radius(radius, scale)
    if scale is not None:
        pixel_size(scale, lab.ndim)  # one usable size per axis, before any work
    sel = member(lab, wanted)
    if not sel.any():
        raise ValueError(f"Cluster(s) {wanted} have no pixels here; pick labels that exist.")
    _poll(cancel)
    if split:
        objects = _split_objects(sel, radius, scale, int(min_size), lambda: _poll(cancel), progress)
    else:
        objects = extract_cluster(sel.view(np.uint8), 1, objects=True, min_size=int(min_size))
    _poll(cancel)
    intensity, names = _channels_last(image, lab.shape, rgb, channel_axis)
    if channel_names is not None:
        if len(channel_names) != len(names):
            raise ValueError(f"{len(channel_names)} channel name(s) for {len(names)} channel(s).")
        names = list(channel_names)
    props = ["label", "area", "centroid", "bbox"] + (["intensity_mean"] if intensity is not None else [])
    if intensity is not None and intensity.shape[-1] == 1:
        intensity = intensity[..., 0]  # regionprops then names the column without a suffix
    rp = _object_props(objects, intensity, props, progress, cancel)
    ids = np.asarray(rp["label"], np.int64)
    n = len(ids)
    table: dict[str, np.ndarray] = {"index": ids, "label": ids.copy()}
    table["area_px"] = rp["area"].astype(np.int64)
    table["area"] = table["area_px"] * pixel_size(scale, lab.ndim)
    table["area_unit"] = np.array([area_unit(unit, lab.ndim)] * n, dtype=object)
    for key in rp:
        if key.startswith(("centroid", "bbox")):
            table[key] = rp[key]
    for j, ch in enumerate(names):
        key = f"intensity_mean-{j}" if len(names) > 1 else "intensity_mean"
        table[f"mean_{ch}"] = np.asarray(rp[key], np.float64)
    table["cluster"] = _majority(objects, lab, n, cancel)
    return objects, table


SLAB_PIXELS = 1 << 20  # pixels measured between two polls of ``cancel`` (tens of ms)


def _slabs(shape: tuple[int, ...], cancel, progress=None, what: str = ""):
    """``(start, stop)`` along the first axis, slabs of at most :data:`SLAB_PIXELS` pixels
    (one plane or row at least); ``cancel`` is polled before each and after the last."""
    plane = int(np.prod(shape[1:], dtype=np.int64))
    step = max(1, SLAB_PIXELS // max(plane, 1))
    for start in range(0, shape[0], step):
        _poll(cancel)
        if progress is not None:
            progress(start / max(shape[0], 1), what)
        yield start, min(start + step, shape[0])
    _poll(cancel)


def _poll(cancel) -> None:
    if cancel is not None and cancel():
        from ..features.image import Cancelled

        raise Cancelled("Extracting the objects was cancelled.")


def _object_props(objects: np.ndarray, intensity, props: Sequence[str], progress=None, cancel=None) -> dict:
    """What :func:`skimage.measure.regionprops_table` gives for ``label``, ``area``,
    ``centroid``, ``bbox`` and ``intensity_mean``, with whole-array sums over slabs of the
    image instead of a Python loop over the objects (tens of µs each, so seconds for a few
    hundred thousand objects, with no point to stop at); ``cancel`` is polled between slabs."""
    n = int(objects.max(initial=0))
    nd = objects.ndim
    area = np.zeros(n + 1, np.int64)
    sums = np.zeros((nd, n + 1))
    lo = np.full((nd, n + 1), np.iinfo(np.int64).max, np.int64)
    hi = np.full((nd, n + 1), -1, np.int64)
    n_ch = 0 if intensity is None else 1 if intensity.ndim == nd else intensity.shape[-1]
    means = np.zeros((n_ch, n + 1))
    for start, stop in _slabs(objects.shape, cancel, progress, "measuring the objects"):
        slab = objects[start:stop]
        where = np.nonzero(slab)  # the slab's object pixels, one index array per axis
        obj = slab[where].astype(np.intp)
        area += np.bincount(obj, minlength=n + 1)
        for a, coord in enumerate(where):
            coord = coord.astype(np.int64) + (start if a == 0 else 0)
            sums[a] += np.bincount(obj, weights=coord, minlength=n + 1)
            np.minimum.at(lo[a], obj, coord)
            np.maximum.at(hi[a], obj, coord)
        if n_ch:
            values = np.asarray(intensity[start:stop][where], np.float64).reshape(len(obj), n_ch)
            for j in range(n_ch):
                means[j] += np.bincount(obj, weights=values[:, j], minlength=n + 1)
    ids = np.flatnonzero(area[1:]) + 1
    out: dict[str, np.ndarray] = {"label": ids, "area": area[ids]}
    if "centroid" in props:
        for a in range(nd):
            out[f"centroid-{a}"] = sums[a, ids] / area[ids]
    if "bbox" in props:
        for a in range(nd):
            out[f"bbox-{a}"] = lo[a, ids]
        for a in range(nd):
            out[f"bbox-{nd + a}"] = hi[a, ids] + 1
    if "intensity_mean" in props and n_ch:
        for j in range(n_ch):
            out["intensity_mean" if n_ch == 1 else f"intensity_mean-{j}"] = means[j, ids] / area[ids]
    return out


def _split_objects(sel, radius, scale, min_size: int, check, progress) -> np.ndarray:
    """:func:`.split.split_touching`, then parts below ``min_size`` pixels dropped and the
    rest numbered 1..n in the smallest unsigned type, as :func:`extract_cluster` gives."""
    from .split import split_touching

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(0.5 * f, msg)

    spacing = None if scale is None else [abs(float(v)) for v in np.ravel(scale)]  # a flip keeps sizes
    objects, n, _ = split_touching(sel, radius=radius, scale=spacing, check=check, report=report)
    sizes = np.bincount(objects.ravel(), minlength=n + 1)
    keep = sizes >= max(min_size, 1)
    keep[0] = False
    lut = np.zeros(n + 1, np.int64)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    n_obj = int(keep.sum())
    dtype = np.uint8 if n_obj < 256 else np.uint16 if n_obj < 65536 else np.uint32
    return lut[objects].astype(dtype)


def _majority(objects: np.ndarray, lab: np.ndarray, n: int, cancel=None) -> np.ndarray:
    """For each object 1..n, the label most of its pixels have in ``lab`` (the lowest on a
    tie); (object, label) pairs are counted slab by slab, polling ``cancel`` between slabs."""
    keys, freqs = [], []
    base = int(np.max(lab, initial=0)) + 1
    for start, stop in _slabs(objects.shape, cancel):
        inside = objects[start:stop] > 0
        obj = objects[start:stop][inside].astype(np.int64)
        cl = lab[start:stop][inside].astype(np.int64)
        k, f = np.unique(obj * base + cl, return_counts=True)
        keys.append(k)
        freqs.append(f)
    pairs, where = np.unique(np.concatenate(keys or [np.zeros(0, np.int64)]), return_inverse=True)
    freq = np.bincount(where.ravel(), weights=np.concatenate(freqs or [np.zeros(0)]), minlength=len(pairs))
    o, c = np.divmod(pairs, base)
    order = np.lexsort((-freq, o))  # per object, the most frequent cluster first
    first = np.ones(len(order), bool)
    first[1:] = o[order][1:] != o[order][:-1]
    out = np.zeros(n, np.int64)
    out[o[order][first] - 1] = c[order][first]
    return out
