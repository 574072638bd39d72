"""Segmentation -> napari layers: names, colours, features table, and safe writes.

Cluster state (names, which clusters are hidden) lives in the clusters Labels layer itself:
names in ``features["name"]``, visibility in the colormap's alpha. Everything here reads it
back from the layer rather than keeping a copy.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari

MARK = "napari_kmeans_segment"  # metadata key on every layer this plugin writes


@dataclass
class Source:
    """What the widget captured of the source layer(s) on the GUI thread."""

    name: str
    data: Any
    rgb: bool
    scale: tuple
    translate: tuple
    contrast_limits: list[tuple[float, float]]
    colormaps: list[Any]  # napari colormaps of the channel layers (non-RGB)
    channel_axis: int | None = None
    multiscale: bool = False
    extra: dict = field(default_factory=dict)


def output_name(source_name: str, kind: str) -> str:
    return f"{source_name} {kind}"


def centre_colours(centers: np.ndarray, src: Source) -> np.ndarray:
    """The colour each centre is displayed with in the source layer(s): (K, 4) RGBA in 0..1."""
    c = np.asarray(centers, np.float64)
    rgba = np.ones((c.shape[0], 4))
    if src.rgb:
        lo, hi = src.contrast_limits[0]
        rgba[:, :3] = np.clip((c[:, :3] - lo) / max(hi - lo, 1e-12), 0, 1)
        return rgba
    acc = np.zeros((c.shape[0], 3))
    for j in range(c.shape[1]):
        lo, hi = src.contrast_limits[j]
        v = np.clip((c[:, j] - lo) / max(hi - lo, 1e-12), 0, 1)
        acc += np.asarray(src.colormaps[j].map(v))[:, :3]  # additive, as napari blends channels
    rgba[:, :3] = np.clip(acc, 0, 1)
    return rgba


def label_colormap(index, colours: np.ndarray, hidden=()):
    """A DirectLabelColormap: label index[i] -> colours[i], hidden labels fully transparent."""
    from napari.utils.colormaps import DirectLabelColormap

    hidden = {int(h) for h in hidden}
    color_dict = {None: np.zeros(4), 0: np.zeros(4)}
    for lab, col in zip(np.asarray(index).tolist(), np.asarray(colours)):
        c = np.array(col, float)
        c[3] = 0.0 if lab in hidden else 1.0
        color_dict[int(lab)] = c
    return DirectLabelColormap(color_dict=color_dict)


def assign_colormap(layer, colormap) -> None:
    """Give a Labels layer a new colormap without dropping napari's "show selected label".

    napari keeps that state on the colormap (``use_selection``/``selection``) and its setter
    does not carry it over, so it is copied from the layer first.
    """
    colormap.use_selection = layer.show_selected_label
    colormap.selection = layer.selected_label
    layer.colormap = colormap


def hidden_labels(layer) -> list[int]:
    """Labels whose colour is fully transparent in a clusters layer's colormap."""
    cd = getattr(layer.colormap, "color_dict", {})
    return sorted(int(k) for k, v in cd.items() if k not in (None, 0) and np.asarray(v)[3] == 0)


def checksum(data) -> int | None:
    """A cheap fingerprint of layer data, to notice edits made after the plugin wrote it."""
    if not isinstance(data, np.ndarray):
        return None  # lazy data cannot be painted in place
    return zlib.crc32(np.ascontiguousarray(data).view(np.uint8).ravel())


def segmentation_layers(seg, src: Source, metadata: dict) -> list[tuple]:
    """Layer data tuples for the clusters (Labels) and recoloured (Image) layers."""
    import pandas as pd

    table = seg.table(channel_names=src.extra.get("channel_names"))
    colours = centre_colours(seg.centers, src)
    common = {"scale": src.scale, "translate": src.translate}
    meta = {MARK: dict(metadata, source=src.name)}
    labels_meta = dict(
        common,
        name=output_name(src.name, "clusters"),
        colormap=label_colormap(table["index"], colours),
        features=pd.DataFrame(table),
        metadata={MARK: dict(meta[MARK], kind="clusters")},
        opacity=0.7,
    )
    image_meta = dict(
        common,
        name=output_name(src.name, "recolored"),
        rgb=src.rgb,
        metadata={MARK: dict(meta[MARK], kind="recolored")},
    )
    if not src.rgb and src.channel_axis is not None:
        # Several layers clustered as channels: one recoloured layer per channel layer.
        names = src.extra["channel_layers"]
        out = [(seg.labels, labels_meta, "labels")]
        for j, ch_name in enumerate(names):
            meta_j = dict(
                image_meta,
                name=output_name(src.name, f"recolored ({ch_name})"),
                contrast_limits=list(src.contrast_limits[j]),
                colormap=src.colormaps[j].name,
                blending="additive",
            )
            out.append((np.take(seg.recolored, j, axis=src.channel_axis), meta_j, "image"))
        return out
    image_meta["contrast_limits"] = list(src.contrast_limits[0])
    if not src.rgb:
        image_meta["colormap"] = src.colormaps[0].name
    return [(seg.labels, labels_meta, "labels"), (seg.recolored, image_meta, "image")]


def write_layer(viewer: napari.Viewer, data, meta: dict, layer_type: str):
    """Add a layer, or update the plugin's own layer of that name in place.

    A layer of that name that the plugin did not make, that has another type, or whose data
    the person edited since the plugin wrote it, is left alone: the result goes to a new
    layer with a free name. Returns (layer, note or None).
    """
    from napari.layers import Layer

    name = meta["name"]
    note = None
    if name in viewer.layers:
        old = viewer.layers[name]
        ours = MARK in old.metadata and isinstance(old, _layer_class(layer_type))
        edited = ours and old.metadata[MARK].get("checksum") not in (None, checksum(old.data))
        if ours and not edited:
            return _update(old, data, meta), None
        why = (
            "it was edited since the last run" if edited
            else "it was not made by this plugin"
            if isinstance(old, _layer_class(layer_type))
            else f"it is a {type(old).__name__} layer"
        )
        name = _free_name(viewer, name)
        note = f"'{meta['name']}' was kept because {why}; the result is in '{name}'."
        meta = dict(meta, name=name)
    meta = dict(meta, metadata=_stamp(meta["metadata"], data))
    layer = Layer.create(data, meta, layer_type)
    viewer.add_layer(layer)
    return layer, note


def _layer_class(layer_type: str):
    import napari.layers

    return getattr(napari.layers, layer_type.capitalize())


def _update(layer, data, meta):
    layer.data = data
    for key in ("scale", "translate", "features", "contrast_limits", "opacity"):
        if key in meta:
            setattr(layer, key, meta[key])
    if "colormap" in meta:
        if hasattr(layer, "show_selected_label"):
            assign_colormap(layer, meta["colormap"])
        else:
            layer.colormap = meta["colormap"]
    layer.metadata = _stamp(meta["metadata"], data)
    return layer


def _stamp(metadata: dict, data) -> dict:
    md = {k: (dict(v) if isinstance(v, dict) else v) for k, v in metadata.items()}
    md[MARK]["checksum"] = checksum(data)
    return md


def restamp(layer) -> None:
    """Record the layer's current data as the plugin's own (after the plugin changed it)."""
    layer.metadata = _stamp(layer.metadata, layer.data)


def _free_name(viewer, name: str) -> str:
    i = 1
    while f"{name} ({i})" in viewer.layers:
        i += 1
    return f"{name} ({i})"
