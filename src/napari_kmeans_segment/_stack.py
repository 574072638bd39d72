"""How the plugin's layers are drawn and stacked, so none hides what the person looks at.

Qt-free. Bottom to top, just above the source layer(s)::

    source image(s)
    <image> recolored   hidden at first: the image in its clusters' average colours
    <image> masked      the image with the hidden clusters blacked out (made on first hide)
    <image> clusters    a see-through overlay in colours chosen to stand out
    <image> preview     the live preview (removed when preview is switched off)

Extracted clusters go on top. A layer is placed only when it is made: a layer the plugin
updates keeps the place and visibility the person gave it.

Why the overlay is not drawn in the clusters' average colours: over the image it came from,
a cluster drawn in its own average colour matches the pixels under it and cannot be seen at
any opacity (the first release drew it so at 0.7). Each cluster is drawn instead in a
saturated colour far from its average colour, at :data:`OVERLAY_OPACITY`, so the image shows
through and the boundaries stand out; the average colours stay in the table's tooltips, the
layer's features and the recolored layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

OVERLAY_OPACITY = 0.6
RANKS = {"recolored": 1, "masked": 2, "clusters": 3, "preview": 4}  # bottom to top
STYLES: dict[str, dict[str, Any]] = {
    "clusters": {"opacity": OVERLAY_OPACITY},
    "preview": {"opacity": OVERLAY_OPACITY},
    "recolored": {"visible": False},
}
# Saturated colours far apart from one another (after Sasha Trubetskoy's "20 distinct colours"),
# RGB in 0..1. More clusters than colours take napari's own label colours.
PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (67, 99, 216), (245, 130, 49),
    (145, 30, 180), (66, 212, 244), (240, 50, 230), (191, 239, 69), (70, 153, 144),
    (0, 0, 117), (128, 0, 0),
], float) / 255


def style(kind: str) -> dict[str, Any]:
    """Layer keyword arguments (opacity, visibility) for a new layer of ``kind``."""
    return dict(STYLES.get(kind, {}))


def overlay_colors(average: np.ndarray, counts: Any = None) -> np.ndarray:
    """An overlay colour for each cluster: distinct, and far from the cluster's own colour.

    Parameters
    ----------
    average : ndarray, shape (K, 3) or (K, 4)
        The colour each cluster's average is displayed with (RGB(A) in 0..1).
    counts : array-like of int, optional
        Pixels per cluster: larger clusters choose first.

    Returns
    -------
    ndarray, shape (K, 4)
        Opaque RGBA in 0..1, all different.
    """
    avg = np.asarray(average, float)[:, :3]
    k = avg.shape[0]
    out = np.ones((k, 4))
    order = np.argsort(-np.asarray(counts if counts is not None else np.ones(k)), kind="stable")
    free = list(range(len(PALETTE)))
    extra = iter(_napari_colors(max(k - len(PALETTE), 0)))
    for i in order:
        if free:
            far = max(free, key=lambda j: float(np.linalg.norm(PALETTE[j] - avg[i])))
            free.remove(far)
            out[i, :3] = PALETTE[far]
        else:
            out[i, :3] = next(extra)
    return out


def _napari_colors(n: int) -> list[np.ndarray]:
    if n == 0:
        return []
    from napari.utils.colormaps import label_colormap

    cmap = label_colormap(n + 1)
    return [np.asarray(c)[:3] for c in cmap.map(np.arange(1, n + 1))]


def kind_of(slot: str) -> str:
    """'masked (ch1)' -> 'masked'."""
    return slot.split(" (")[0]


def stack_index(layers: Sequence[Any], slot: str, below: Sequence[Any],
                slot_of: Callable[[Any], str | None]) -> int:
    """Where a new layer for ``slot`` goes in ``layers`` (bottom first).

    Just above the highest of ``below`` that belongs under it: layers with no slot (the
    source layers) and the plugin's layers of the same or a lower rank. Layers without a
    rank (extracted clusters) and layers whose source is gone go on top.
    """
    rank = RANKS.get(kind_of(slot))
    if rank is None:
        return len(layers)
    ids = [id(_unwrap(ly)) for ly in layers]
    places = []
    for ly in below:
        other = slot_of(ly)
        if other is None or RANKS.get(kind_of(other), len(RANKS) + 1) <= rank:
            if id(_unwrap(ly)) in ids:
                places.append(ids.index(id(_unwrap(ly))))
    return max(places) + 1 if places else len(layers)


def _unwrap(obj: Any) -> Any:
    return getattr(obj, "__wrapped__", obj)
