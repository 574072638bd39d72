"""How the plugin's layers are drawn and stacked, so none hides what the person looks at.

Qt-free. Bottom to top, just above the source layer(s)::

    source image(s)
    <image> masked      the image with the hidden clusters blacked out (made on the first
                        hide, removed again when every cluster is shown)
    <image> recolored   hidden at first: the image in its clusters' average colours; above
                        the masked copy, so ticking its eye always changes the canvas
    <image> clusters    a see-through overlay in colours chosen to stand out
    <image> preview     the live preview (removed when preview is switched off)

Extracted clusters, objects and the uncertainty map go on top, as napari puts a new layer.
A layer is placed only when it is made: a layer the plugin updates keeps the place the
person gave it. What an action made or changed is then brought into view
(:func:`reveal`): made visible, and moved (with the image it belongs to) above any opaque
image of the person's that would cover it.

Why the overlay is not drawn in the clusters' average colours: over the image it came from,
a cluster drawn in its own average colour matches the pixels under it and cannot be seen at
any opacity (the first release drew it so at 0.7). Each cluster is drawn instead in a
saturated colour far from its average colour, at :data:`OVERLAY_OPACITY`, so the image shows
through and the boundaries stand out; the average colours stay in the table's tooltips, the
layer's features and the recolored layer.

Clusters marked as background can be drawn see-through (:data:`SEE_THROUGH_ALPHA`), so the
image shows through them: on by default for slides (``hed``, multiscale images) and for
two-cluster runs (:func:`see_through_default`). A see-through cluster is not hidden: only
a fully transparent one is (see :mod:`.colors`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

OVERLAY_OPACITY = 0.5
RANKS = {"masked": 1, "recolored": 2, "clusters": 3, "preview": 4}  # bottom to top
# The alpha a see-through (background) cluster is drawn with: invisible on the canvas, yet
# not 0, which means hidden (blacked out in the masked layer, unticked in the table).
SEE_THROUGH_ALPHA = 1 / 1024
# blendings that let what lies below show through whatever the opacity
_SHOW_THROUGH = ("additive", "minimum")
STYLES: dict[str, dict[str, Any]] = {
    "clusters": {"opacity": OVERLAY_OPACITY},
    "preview": {"opacity": OVERLAY_OPACITY},
    "recolored": {"visible": False},
}
# Saturated colours far apart (after Sasha Trubetskoy's "20 distinct colours"), RGB in 0..1,
# ordered so that the first K are as different from one another as possible. More clusters
# than colours take hues spread around the colour circle.
PALETTE = (
    np.array(
        [
            (255, 225, 25),
            (67, 99, 216),
            (240, 50, 230),
            (60, 180, 75),
            (66, 212, 244),
            (230, 25, 75),
            (245, 130, 49),
            (145, 30, 180),
            (191, 239, 69),
            (70, 153, 144),
            (0, 0, 117),
            (128, 0, 0),
        ],
        float,
    )
    / 255
)
SPARE = 3  # palette colours offered beyond one per cluster


def style(kind: str) -> dict[str, Any]:
    """Layer keyword arguments (opacity, visibility) for a new layer of ``kind``."""
    return dict(STYLES.get(kind, {}))


def overlay_colors(average: np.ndarray, counts: Any = None) -> np.ndarray:
    """An overlay colour for each cluster: distinct, and far from the cluster's own colour.

    Up to :data:`SPARE` more palette colours than clusters are offered, and they are given
    out so that the cluster closest to its overlay colour is as far from it as possible.

    Parameters
    ----------
    average : ndarray, shape (K, 3) or (K, 4)
        The colour each cluster's average is displayed with (RGB(A) in 0..1).
    counts : array-like of int, optional
        Pixels per cluster: with more clusters than palette colours, the largest get the
        palette's.

    Returns
    -------
    ndarray, shape (K, 4)
        Opaque RGBA in 0..1, all different.
    """
    avg = np.asarray(average, float)[:, :3]
    k = avg.shape[0]
    out = np.ones((k, 4))
    order = np.argsort(-np.asarray(counts if counts is not None else np.ones(k)), kind="stable")
    first = order[: len(PALETTE)]  # the clusters that get palette colours
    n = min(len(PALETTE), len(first) + SPARE)
    dist = np.linalg.norm(avg[first, None, :] - PALETTE[None, :n, :], axis=-1)
    out[first, :3] = PALETTE[_bottleneck_assignment(dist)]
    for i, color in zip(order[len(PALETTE) :], _more_colors(k - len(first))):
        out[i, :3] = color
    return out


def _bottleneck_assignment(dist: np.ndarray) -> list[int]:
    """One column per row, all different, making the smallest chosen ``dist`` as large as
    possible (earlier columns preferred on ties)."""
    rows, cols = dist.shape

    def match(ok: np.ndarray) -> list[int] | None:
        owner = [-1] * cols  # the row each column is given to

        def give(r: int, seen: list[bool]) -> bool:  # augmenting path (Kuhn's algorithm)
            for c in range(cols):
                if ok[r, c] and not seen[c]:
                    seen[c] = True
                    if owner[c] < 0 or give(owner[c], seen):
                        owner[c] = r
                        return True
            return False

        if not all(give(r, [False] * cols) for r in range(rows)):
            return None
        chosen = [0] * rows
        for c, r in enumerate(owner):
            if r >= 0:
                chosen[r] = c
        return chosen

    levels = np.unique(dist)  # ascending; the answer is the largest level with a matching
    lo, hi = 0, len(levels) - 1
    best = match(dist >= levels[0])
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = match(dist >= levels[mid])
        if found is None:
            hi = mid - 1
        else:
            lo, best = mid, found
    assert best is not None  # every row can take some column at the lowest level
    return best


def _more_colors(n: int) -> list[np.ndarray]:
    """``n`` further colours: hues a golden angle apart, alternately bright and darker."""
    import colorsys

    return [
        np.array(colorsys.hsv_to_rgb((0.13 + i * 0.618034) % 1.0, 0.8, 0.95 if i % 2 == 0 else 0.65))
        for i in range(n)
    ]


def kind_of(slot: str) -> str:
    """'masked (ch1)' -> 'masked'."""
    return slot.split(" (")[0]


def stack_index(
    layers: Sequence[Any], slot: str, below: Sequence[Any], slot_of: Callable[[Any], str | None]
) -> int:
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


def see_through_default(color_space: str, n_clusters: int, multiscale: bool = False) -> bool:
    """Whether background clusters start see-through: for slides (``hed``, a multiscale
    image) and for two-cluster (foreground/background) runs, where the background would
    otherwise be painted over half the image."""
    return color_space == "hed" or multiscale or n_clusters == 2


def covers(upper: Any, lower: Any) -> bool:
    """True when ``upper``, drawn above ``lower``, hides most of it: a visible image drawn
    opaque (opaque blending, or opacity near 1 without additive/minimum blending) over more
    than half of ``lower``'s extent. Labels, points and shapes leave most of the canvas
    free; a small image over a corner leaves the rest in view."""
    from napari.layers import Image

    if not isinstance(upper, Image) or not upper.visible or upper.blending in _SHOW_THROUGH:
        return False
    if upper.blending != "opaque" and upper.opacity < 0.95:
        return False
    a, b = np.asarray(upper.extent.world, float), np.asarray(lower.extent.world, float)
    n = min(a.shape[1], b.shape[1], 2)  # the displayed (last two) axes
    a, b = a[:, -n:], b[:, -n:]
    overlap = np.clip(np.minimum(a[1], b[1]) - np.maximum(a[0], b[0]), 0, None)
    return bool(np.prod(overlap) > 0.5 * np.prod(np.maximum(b[1] - b[0], 1e-12)))


def reveal(layers: Any, layer: Any, group: Sequence[Any] = ()) -> bool:
    """Bring ``layer`` into view in napari's ``layers`` (a LayerList): make it visible and,
    if an opaque image not in ``group`` covers it, move it and the ``group`` layers below
    that image (in their order) just above it. Returns True if anything moved.

    ``group`` holds the layers that belong with ``layer``: the image it was made from and
    the plugin's other layers for that image, which keep the order the person gave them.
    """
    layer = _unwrap(layer)
    layer.visible = True
    items = [_unwrap(ly) for ly in layers]
    ids = [id(ly) for ly in items]
    members = {id(layer)} | {id(_unwrap(g)) for g in group if id(_unwrap(g)) in ids}
    low = ids.index(id(layer)) if id(layer) in ids else None
    if low is None:
        return False
    low = min(ids.index(m) for m in members)
    over = [i for i in range(low + 1, len(items)) if ids[i] not in members and covers(items[i], layer)]
    if not over:
        return False
    top = max(over)
    below = [i for i in range(top) if ids[i] in members]
    layers.move_multiple(below, top + 1)
    return True
