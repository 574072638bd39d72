"""Pure helpers on cluster labels: hide (mask), merge, extract. No Qt, no napari."""

from __future__ import annotations

import numpy as np


def _labels_array(labels) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.dtype.kind not in "ui":
        raise TypeError(f"Labels must be an integer array, not {lab.dtype}.")
    return lab


def _member(lab: np.ndarray, values) -> np.ndarray:
    """``np.isin(lab, values)`` in one pass over the labels (a lookup table)."""
    top = int(lab.max(initial=0))
    lut = np.zeros(top + 1, bool)
    vals = [v for v in values if 0 <= v <= top]
    lut[vals] = True
    return lut[lab]


def mask_clusters(image, labels, hidden, *, rgb: bool | None = None,
                  channel_axis: int | None = None) -> np.ndarray:
    """The tutorial's masked image: a copy of ``image`` with the pixels of the ``hidden``
    clusters set to 0 (black). Alpha, if any, is kept.
    """
    img = np.array(image, copy=True)
    lab = _labels_array(labels)
    hidden = [int(h) for h in hidden]
    if rgb is None and channel_axis is None:
        rgb = lab.shape != img.shape  # channels last when the shapes differ
    if channel_axis is not None:
        view = np.moveaxis(img, channel_axis, -1)
    else:
        view = img if rgb else img[..., None]
    if view.shape[:-1] != lab.shape:
        raise ValueError(
            f"Labels of shape {lab.shape} do not match the image's spatial shape "
            f"{view.shape[:-1]}; use the labels made from this image."
        )
    if not hidden:
        return img
    sel = _member(lab, hidden)
    n_colour = 3 if rgb and channel_axis is None and view.shape[-1] == 4 else view.shape[-1]
    view[..., :n_colour][sel] = 0
    return img


def merge_clusters(labels, group, index, centers, counts):
    """Merge the clusters in ``group`` into the lowest label of the group.

    Parameters
    ----------
    labels : int array
    group : iterable of int
        At least two existing labels.
    index, centers, counts : arrays
        The current clusters: label numbers, centres (image units) and pixel counts.

    Returns
    -------
    labels, index, centers, counts
        New arrays (the inputs are not modified). The merged centre is the pixel-weighted
        mean of the group's centres.
    """
    lab = _labels_array(labels)
    index = np.asarray(index)
    group = sorted({int(g) for g in group})
    if len(group) < 2:
        raise ValueError("Select at least two clusters to merge.")
    missing = [g for g in group if g not in set(index.tolist())]
    if missing:
        raise ValueError(f"No cluster {missing[0]} here: the clusters are {index.tolist()}.")
    target = group[0]
    lut = np.arange(max(int(index.max()), int(lab.max(initial=0))) + 1, dtype=lab.dtype)
    lut[group] = target
    new_labels = lut[lab]
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
    return new_labels, index[keep], new_centers[keep], new_counts[keep]


def extract_cluster(labels, label: int, *, objects: bool = False, min_size: int = 0):
    """One cluster as its own labels: a 0/1 mask, or (``objects=True``) its connected
    pieces numbered 1..n, dropping pieces smaller than ``min_size`` pixels.

    Connectivity is full (8-connected in 2D, 26 in 3D).
    """
    lab = _labels_array(labels)
    label = int(label)
    sel = lab == label
    if not sel.any():
        raise ValueError(f"Cluster {label} has no pixels here; pick a label that exists.")
    if min_size < 0:
        raise ValueError("min_size must be >= 0.")
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
    return lut[comp].astype(dtype)
