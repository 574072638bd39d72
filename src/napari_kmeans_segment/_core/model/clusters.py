"""Operations on cluster labels: hide (mask), merge, extract. No Qt, no napari.

Each works on numpy and on dask arrays alike (a dask input gives a lazy output): the
array code below uses numpy functions that dask implements (``np.where``,
``np.moveaxis``) and per-block lookups. :class:`.result.Segmentation`'s ``merge``,
``masked`` and ``extract`` are built from these same functions.
"""

from __future__ import annotations

import numpy as np

from ..fit.numerics import parallel, pieces


def is_dask(x) -> bool:
    return type(x).__module__.startswith("dask") and hasattr(x, "chunks")


def _labels_array(labels):
    lab = labels if is_dask(labels) else np.asarray(labels)
    if lab.dtype.kind not in "ui":
        raise TypeError(f"Labels must be an integer array, not {lab.dtype}.")
    return lab


def _lookup(lab, lut: np.ndarray):
    """``lut[lab]`` for numpy or (lazily, block by block) dask labels; labels past the end
    of ``lut`` read its last entry."""
    if is_dask(lab):
        return lab.map_blocks(lambda b: _take(b, lut), dtype=lut.dtype)
    return _take(lab, lut)


def _take(lab: np.ndarray, lut: np.ndarray) -> np.ndarray:
    if lab.dtype == np.uint8 and lut.dtype in (np.uint8, np.bool_) and lab.size > 1 << 16:
        import cv2  # a 256-entry table: cv2.LUT is ~8x faster than np.take on large images

        full = np.full(256, lut[-1], np.uint8)
        full[: min(len(lut), 256)] = lut[:256]
        flat = np.ascontiguousarray(lab).reshape(-1, 1)
        out = np.empty_like(flat)
        parallel(lambda a, b: cv2.LUT(flat[a:b], full, dst=out[a:b]), pieces(flat.shape[0], 1 << 22))
        return out.reshape(lab.shape).view(lut.dtype)
    return np.take(lut, lab, mode="clip")


def member(lab, values):
    """``np.isin(lab, values)`` in one pass over the labels (a lookup table)."""
    vals = sorted({int(v) for v in values if int(v) >= 0})
    lut = np.zeros((vals[-1] if vals else 0) + 2, bool)  # the last entry (False) is "other"
    lut[vals] = True
    return _lookup(lab, lut)


def fill(data, sel, value, n_color: int, channel_axis: int | None):
    """A new array: ``data`` with the pixels where ``sel`` is True set to ``value`` on the
    first ``n_color`` channels (``channel_axis``; None when ``data`` has one channel and no
    channel axis). Further channels (alpha) are kept."""
    value = np.asarray(value).reshape(-1)
    if not (is_dask(data) or is_dask(sel)):
        return _fill_numpy(data, np.asarray(sel), value, n_color, channel_axis)
    if channel_axis is None:
        return np.where(sel, value[0].astype(data.dtype), data)
    ax = channel_axis % data.ndim
    view = np.moveaxis(data, ax, -1)
    full = view.shape[-1]
    new = np.zeros(full, data.dtype)
    new[:n_color] = value[:n_color]
    out = np.where(sel[..., None] & (np.arange(full) < n_color), new, view)
    return np.moveaxis(out, -1, ax)


def _fill_numpy(data: np.ndarray, sel: np.ndarray, value: np.ndarray, n_color: int, channel_axis):
    """:func:`fill` for numpy arrays: a copy, then ``np.copyto(where=sel)`` channel by channel
    in slabs of rows on every core (``np.where`` over the whole image is several times
    slower and single-threaded)."""
    out = np.array(data, copy=True)
    if value.size == 1:  # one value for every colour channel (hiding: 0)
        value = np.repeat(value, max(n_color, 1))
    if channel_axis is None:
        planes = [(out, value[0])]
    else:
        view = np.moveaxis(out, channel_axis % out.ndim, -1)
        planes = [(view[..., c], value[c]) for c in range(n_color)]
    n = sel.shape[0]  # slabs along the first spatial axis: views of every plane, never copies

    def slab(a, b):
        for plane, v in planes:
            np.copyto(plane[a:b], plane.dtype.type(v), where=sel[a:b])

    per_row = max(1, int(np.prod(sel.shape[1:])))
    parallel(slab, pieces(n, max(1, (1 << 20) // per_row)))
    return out


def mask_image(image, labels, hidden, n_color: int, channel_axis: int | None):
    """The image with the pixels of the ``hidden`` clusters set to 0 on ``n_color`` channels."""
    lab = _labels_array(labels)
    spatial = (
        image.shape
        if channel_axis is None
        else tuple(np.delete(np.asarray(image.shape), channel_axis % image.ndim))
    )
    if tuple(spatial) != tuple(lab.shape):
        raise ValueError(
            f"Labels of shape {tuple(lab.shape)} do not match the image's spatial shape "
            f"{tuple(spatial)}; use the labels made from this image."
        )
    hidden = [int(h) for h in hidden]
    if not hidden:
        return image if is_dask(image) else np.array(image, copy=True)
    return fill(image, member(lab, hidden), 0, n_color, channel_axis)


def mask_clusters(image, labels, hidden, *, rgb: bool | None = None, channel_axis: int | None = None):
    """The tutorial's masked image: a copy of ``image`` with the ``hidden`` clusters' pixels at 0.

    Hidden pixels become black; alpha, if any, is kept. A dask image gives a lazy result.

    Parameters
    ----------
    image : array-like or dask array
        The image the labels were made from (or one of its layout).
    labels : int array (numpy or dask)
        The cluster labels, the image's spatial shape.
    hidden : iterable of int
        The labels to hide.
    rgb : bool, optional
        Whether the last axis holds RGB(A) channels; by default, when the image has one
        axis more than the labels.
    channel_axis : int, optional
        The axis of the channels of a multichannel image.

    Returns
    -------
    ndarray or dask array
        ``image``'s shape and dtype.

    Raises
    ------
    TypeError
        For labels that are not an integer array.
    ValueError
        When the labels' shape is not the image's spatial shape.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import mask_clusters
    >>> labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3, 3]], np.uint8)
    >>> image = np.zeros((3, 4, 3), np.uint8)
    >>> image[..., 0] = labels * 50  # red: 50, 100 or 150
    >>> mask_clusters(image, labels, hidden=[2])[..., 0].tolist()
    [[50, 50, 0, 0], [50, 50, 0, 0], [150, 150, 150, 150]]
    """
    img = image if is_dask(image) else np.asarray(image)
    lab = _labels_array(labels)
    if rgb is None and channel_axis is None:
        rgb = tuple(lab.shape) != tuple(img.shape)  # channels last when the shapes differ
    if channel_axis is None and rgb:
        channel_axis = -1
    if channel_axis is None:
        n_color = 1
    else:
        full = img.shape[channel_axis]
        n_color = 3 if rgb and channel_axis % img.ndim == img.ndim - 1 and full == 4 else full
    return mask_image(img, lab, hidden, n_color, channel_axis)


def check_group(group, index) -> list[int]:
    """``group`` as sorted distinct labels; TypeError for labels that are not whole numbers
    (1.0, 2.5 and True were silently truncated), ValueError for < 2 or labels not in ``index``."""
    from ..options import _int

    group = sorted({_int("A cluster label", g) for g in group})
    if len(group) < 2:
        raise ValueError("Select at least two clusters to merge.")
    known = set(np.asarray(index).tolist())
    missing = [g for g in group if g not in known]
    if missing:
        raise ValueError(f"No cluster {missing[0]} here: the clusters are {sorted(known)}.")
    return group


def relabel(labels, group: list[int]):
    """Labels with every label of ``group`` written as ``min(group)`` (lazy for dask)."""
    lab = _labels_array(labels)
    return np.where(member(lab, group[1:]), np.asarray(group[0], lab.dtype), lab)


def merge_rows(group: list[int], index, centers, counts):
    """The cluster table after a merge: (index, centers, counts, merged centre). The merged
    centre is the pixel-weighted mean of the group's centres."""
    index = np.asarray(index)
    rows = np.flatnonzero(np.isin(index, group))
    keep = np.flatnonzero(~np.isin(index, group[1:]))
    counts = np.asarray(counts, np.int64)
    centers = np.asarray(centers, np.float64)
    w = counts[rows].astype(np.float64)
    merged = (centers[rows] * w[:, None]).sum(0) / w.sum() if w.sum() > 0 else centers[rows[0]]
    new_counts = counts.copy()
    new_counts[rows[0]] = counts[rows].sum()
    new_centers = centers.copy()
    new_centers[rows[0]] = merged
    return index[keep], new_centers[keep], new_counts[keep], merged


def merge_label_map(label_map, n_clusters: int, group: list[int]) -> np.ndarray:
    """A model's label map (cluster i is written as label_map[i]) after merging ``group``."""
    out = (np.arange(1, n_clusters + 1) if label_map is None else np.asarray(label_map)).copy()
    out[np.isin(out, group)] = group[0]
    return out


def merge_clusters(labels, group, index, centers, counts):
    """Merge the clusters in ``group`` into the lowest label of the group.

    Parameters
    ----------
    labels : int array (numpy or dask)
        The cluster labels.
    group : iterable of int
        At least two existing labels.
    index, centers, counts : arrays
        The current clusters: label numbers, centres (image units) and pixel counts.

    Returns
    -------
    labels, index, centers, counts
        New arrays (the inputs are not modified). The merged centre is the pixel-weighted
        mean of the group's centres. :meth:`.Segmentation.merge` also updates the
        recoloured image and the model.

    Raises
    ------
    TypeError
        For a label in ``group`` that is not a whole number.
    ValueError
        For fewer than two labels, or labels that are not in ``index``.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import merge_clusters
    >>> labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3, 3]], np.uint8)
    >>> new, index, centers, counts = merge_clusters(
    ...     labels, [2, 3], index=[1, 2, 3], centers=[[10.0], [20.0], [40.0]], counts=[4, 4, 4]
    ... )
    >>> new.tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2], [2, 2, 2, 2]]
    >>> index.tolist(), centers.tolist(), counts.tolist()
    ([1, 2], [[10.0], [30.0]], [4, 8])
    """
    group = check_group(group, index)
    new_index, new_centers, new_counts, _ = merge_rows(group, index, centers, counts)
    return relabel(labels, group), new_index, new_centers, new_counts


def extract_cluster(labels, label: int, *, objects: bool = False, min_size: int = 0):
    """One cluster as its own labels: a 0/1 mask, or its connected pieces numbered 1..n.

    Connectivity is full (8-connected in 2D, 26 in 3D). Dask labels give a lazy mask; their
    objects are found on the computed labels.

    Parameters
    ----------
    labels : int array (numpy or dask)
        The cluster labels.
    label : int
        The cluster to extract.
    objects : bool
        Number the connected pieces instead of a 0/1 mask.
    min_size : int
        With ``objects``: pieces smaller than this many pixels are dropped.

    Returns
    -------
    ndarray (uint8, or uint16/uint32 for many objects) or dask array
        The labels' shape.

    Raises
    ------
    TypeError
        For labels that are not an integer array.
    ValueError
        For a negative ``min_size``, or a cluster without pixels (numpy labels, or dask
        labels with ``objects``).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import extract_cluster
    >>> labels = np.ones((6, 8), np.uint8)
    >>> labels[1:3, 1:3] = 2  # a 2 x 2 square
    >>> labels[4:6, 5:8] = 2  # a 2 x 3 rectangle
    >>> labels[0, 7] = 2  # one stray pixel
    >>> int(extract_cluster(labels, 2).sum())
    11
    >>> int(extract_cluster(labels, 2, objects=True).max())
    3
    >>> int(extract_cluster(labels, 2, objects=True, min_size=2).max())
    2
    """
    lab = _labels_array(labels)
    label = int(label)
    if min_size < 0:
        raise ValueError("min_size must be >= 0.")
    if is_dask(lab) and not objects:
        return (lab == label).astype(np.uint8)
    sel = np.asarray(lab) == label
    if not sel.any():
        raise ValueError(f"Cluster {label} has no pixels here; pick a label that exists.")
    if not objects:
        return sel.astype(np.uint8)
    if sel.ndim == 2:
        import cv2

        n, comp, stats, _ = cv2.connectedComponentsWithStats(sel.astype(np.uint8), connectivity=8)
        sizes = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
    else:
        from scipy import ndimage

        comp, n = ndimage.label(sel, structure=np.ones((3,) * sel.ndim))
        n += 1
        sizes = np.bincount(comp.ravel(), minlength=n)
    keep = sizes >= max(min_size, 1)
    keep[0] = False
    lut = np.zeros(n, np.int64)
    lut[keep] = np.arange(1, keep.sum() + 1)
    n_obj = int(keep.sum())
    dtype = np.uint8 if n_obj < 256 else np.uint16 if n_obj < 65536 else np.uint32
    return lut.astype(dtype)[comp]  # the small table cast, not the whole image
