"""Cluster colours and visibility, read from and written to a Labels layer's colormap.

A cluster is *hidden* when the layer's colormap draws it fully transparent. Colours are
always read through the colormap's own mapping (``colormap.map``), so every colormap napari
allows on a Labels layer is read the way the canvas draws it: a DirectLabelColormap (with or
without entries for every label), a CyclicLabelColormap (napari's "auto" colour mode), and
"show selected label" (napari keeps that on the colormap as ``use_selection``).

Hiding or showing always writes a DirectLabelColormap holding, for every cluster, the colour
the person saw: in "auto" mode that switches the layer to direct mode with the same colours,
which is the only way napari can draw one label transparent.

A cluster drawn with the tiny alpha :data:`~.stack.SEE_THROUGH_ALPHA` is *see-through*:
shown (ticked in the table, not blacked out in the masked layer) but invisible on the
canvas, so the image shows through it; the plugin draws background clusters so
(:func:`see_through_colormap`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from napari.layers import Labels
    from napari.utils.colormaps import DirectLabelColormap

TRANSPARENT = np.zeros(4)


def cluster_index(layer: Labels) -> list[int]:
    """The cluster labels of a clusters layer (its ``features["index"]``)."""
    f = layer.features
    if "index" not in f.columns:
        return []
    return [int(v) for v in f["index"]]


def _without_selection(colormap: Any) -> Any:
    """The same colormap with napari's "show selected label" dimming switched off."""
    if not getattr(colormap, "use_selection", False):
        return colormap
    copy = copy_colormap(colormap)
    copy.use_selection = False
    return copy


def label_colors(layer: Labels, labels: Iterable[int], *, selection: bool = False) -> np.ndarray:
    """RGBA (n, 4) in 0..1 that ``layer``'s colormap draws each of ``labels`` with.

    Parameters
    ----------
    layer : napari.layers.Labels
    labels : iterable of int
    selection : bool
        Apply napari's "show selected label" (what the canvas draws now). False gives the
        colours without it: the cluster's own colour and visibility.

    Returns
    -------
    ndarray of float, shape (n, 4)
        Without the layer's opacity (napari multiplies that in when drawing).
    """
    return colormap_colors(
        layer.colormap, labels, getattr(layer.data, "dtype", np.int64), selection=selection
    )


def colormap_colors(
    colormap: Any, labels: Iterable[int], dtype: Any, *, selection: bool = False
) -> np.ndarray:
    """:func:`label_colors` for a colormap not (yet) on a layer whose data has ``dtype``."""
    cmap = colormap if selection else _without_selection(colormap)
    # the cyclic colormap maps through the data's dtype, as the canvas does
    values = np.asarray(list(labels), dtype=np.int64).astype(np.dtype(dtype))
    if values.size == 0:
        return np.zeros((0, 4))
    return np.asarray(cmap.map(values), np.float64).reshape(-1, 4)


def hidden_labels(layer: Labels, labels: Iterable[int] | None = None) -> list[int]:
    """Clusters whose colour in ``layer``'s colormap is fully transparent (not counting
    napari's "show selected label", which only dims the view for a while)."""
    index = cluster_index(layer) if labels is None else [int(v) for v in labels]
    colors = label_colors(layer, index)
    return sorted(lab for lab, c in zip(index, colors) if c[3] == 0)


def drawn_labels(layer: Labels, labels: Iterable[int] | None = None) -> list[int]:
    """Clusters the canvas draws now (visible, and the selected one under "show selected
    label")."""
    index = cluster_index(layer) if labels is None else [int(v) for v in labels]
    colors = label_colors(layer, index, selection=True)
    return sorted(lab for lab, c in zip(index, colors) if c[3] > 0)


def direct_colormap(
    colors: Mapping[int, Any], *, default: Any = TRANSPARENT, hidden: Iterable[int] = ()
) -> DirectLabelColormap:
    """A DirectLabelColormap from {label: RGBA}; ``hidden`` labels fully transparent."""
    from napari.utils.colormaps import DirectLabelColormap

    hidden = {int(h) for h in hidden}
    color_dict: dict[int | None, np.ndarray] = {None: np.array(default, float), 0: TRANSPARENT}
    for lab, col in colors.items():
        c = np.ones(4)
        c[: len(col)] = np.asarray(col, float)[:4]
        if int(lab) in hidden:
            c[3] = 0.0
        color_dict[int(lab)] = c
    return DirectLabelColormap(color_dict=color_dict)


def visibility_colormap(layer: Labels, visible: Mapping[int, bool]) -> DirectLabelColormap:
    """The layer's colours as seen now, with the clusters in ``visible`` shown or hidden.

    A cluster shown again that was drawn transparent becomes opaque; every other colour
    (including partial alpha the person chose) is kept as it is.
    """
    index = cluster_index(layer)
    colors = {lab: c.copy() for lab, c in zip(index, label_colors(layer, index))}
    for lab, vis in visible.items():
        c = colors[int(lab)]
        if not vis:
            c[3] = 0.0
        elif c[3] == 0:
            c[3] = 1.0
    return direct_colormap(colors, default=_default_color(layer.colormap))


def _default_color(colormap: Any) -> np.ndarray:
    """What a direct colormap draws labels it has no entry for (transparent for others)."""
    return np.asarray(getattr(colormap, "default_color", TRANSPARENT), float)


def assign_colormap(layer: Labels, colormap: Any) -> None:
    """Give a Labels layer a new colormap without dropping napari's "show selected label".

    napari keeps that state on the colormap (``use_selection``/``selection``) and its setter
    does not carry it over, so it is copied from the layer first.
    """
    colormap.use_selection = layer.show_selected_label
    colormap.selection = layer.selected_label
    layer.colormap = colormap


def copy_colormap(colormap: Any) -> Any:
    """An independent copy (to restore on undo)."""
    # pydantic 2's model_dump (napari >= 0.6); napari 0.5's models have pydantic 1's dict()
    dump = colormap.model_dump() if hasattr(colormap, "model_dump") else colormap.dict()
    return type(colormap)(**dump)


def see_through_colormap(colormap: Any, labels: Iterable[int], dtype: Any, see_through: Iterable[int]) -> Any:
    """``colormap`` with exactly the ``see_through`` labels drawn see-through.

    Hidden labels stay hidden, a label no longer see-through becomes opaque again, and any
    other alpha the person chose is kept. The colormap itself is returned when nothing
    changes (a cyclic "auto" colormap stays one), else a DirectLabelColormap.
    """
    from .stack import SEE_THROUGH_ALPHA

    index = [int(v) for v in labels]
    wanted = {int(v) for v in see_through}
    colors = colormap_colors(colormap, index, dtype)
    changed = False
    new = {}
    for lab, c in zip(index, colors):
        c = c.copy()
        if c[3] > 0:  # hidden clusters stay hidden
            alpha = SEE_THROUGH_ALPHA if lab in wanted else 1.0 if _is_see_through(c[3]) else c[3]
            changed |= alpha != c[3]
            c[3] = alpha
        new[lab] = c
    if not changed:
        return colormap
    out = direct_colormap(new, default=_default_color(colormap))
    out.use_selection = getattr(colormap, "use_selection", False)
    out.selection = getattr(colormap, "selection", 0)
    return out


def see_through_labels(layer: Labels, labels: Iterable[int] | None = None) -> list[int]:
    """Clusters ``layer``'s colormap draws see-through (shown, but invisible)."""
    index = cluster_index(layer) if labels is None else [int(v) for v in labels]
    return sorted(lab for lab, c in zip(index, label_colors(layer, index)) if _is_see_through(c[3]))


def _is_see_through(alpha: float) -> bool:
    from .stack import SEE_THROUGH_ALPHA

    return 0 < alpha <= 2 * SEE_THROUGH_ALPHA
