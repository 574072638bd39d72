"""Segmentation -> napari layers: what the source was, layer names and colours, and safe writes.

Qt-free. :class:`LayerSlots` holds the layers the plugin wrote for one source *by identity*:
a later write updates the plugin's own layer in place, wherever its name went, and never a
layer the person made or edited (that one is left alone and the result goes to a new layer).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Layer

MARK = "napari_kmeans_segment"  # metadata key on every layer this plugin writes
LABELS_DATA_SETTER_FIXED = (0, 7, 1)  # see set_data


@dataclass
class Source:
    """What was read from the source layer(s) on the GUI thread."""

    name: str
    data: Any  # ndarray, dask array, or list of levels (multiscale); channels stacked last
    rgb: bool
    scale: tuple
    translate: tuple
    contrast_limits: list[tuple[float, float]]
    colormaps: list[Any]  # napari colormaps of the channel layers (non-RGB)
    channel_axis: int | None = None
    multiscale: bool = False
    channel_layers: list[str] = field(default_factory=list)
    units: tuple | None = None  # the layer's pint units per axis (napari's ``layer.units``)
    # the layers read, by identity: outputs are stacked just above them (never touched)
    layers: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def channel_names(self) -> list[str] | None:
        """Names of the channel columns in the cluster table (several channel layers)."""
        return self.channel_layers if len(self.channel_layers) > 1 else None

    @property
    def split_channels(self) -> bool:
        """True when the channels came from several layers, so outputs get one layer each."""
        return self.channel_axis is not None and not self.rgb and len(self.channel_layers) > 1

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The shape of one channel (of the finest level): what the labels will have."""
        shape = tuple((self.data[0] if self.multiscale else self.data).shape)
        if self.rgb:
            return shape[:-1]
        if self.channel_axis is not None:
            axis = self.channel_axis % len(shape)
            return shape[:axis] + shape[axis + 1 :]
        return shape

    @property
    def label_scale(self) -> tuple:
        """The scale of the labels: the source's, without a channel axis of its data."""
        return self._without_channel_axis(self.scale)

    @property
    def label_translate(self) -> tuple:
        return self._without_channel_axis(self.translate)

    def _without_channel_axis(self, values: tuple) -> tuple:
        if self.channel_axis is None or self.rgb or self.split_channels:
            return tuple(values)
        axis = self.channel_axis % len(values)
        return tuple(v for i, v in enumerate(values) if i != axis)

    @classmethod
    def from_layers(cls, layers: list[Image], channel_axis: int | None = None) -> Source:
        """Read one image layer, or several same-shaped layers clustered as channels.

        ``channel_axis`` names the axis of a single non-RGB layer that holds its channels
        (e.g. 0 for a (3, Y, X) stack); None treats every value as a pixel of its own.
        """
        layer = layers[0]
        check_scale(layer)
        if layer.rgb and len(layers) > 1:
            raise ValueError(
                "An RGB layer cannot be combined with more channel layers; clear 'more channels'."
            )
        shapes = {tuple(ly.data.shape if not ly.multiscale else ly.data[0].shape) for ly in layers}
        if len(shapes) > 1:
            raise ValueError(
                f"The channel layers must all have the same shape as the image; got {sorted(shapes)}."
            )
        if channel_axis is not None:
            ndim = len(next(iter(shapes)))
            if len(layers) > 1 or layer.rgb:
                raise ValueError(
                    "A channel axis is for one layer that holds several channels; "
                    "set 'channel axis' to none or clear 'more channels'."
                )
            if not -ndim <= channel_axis < ndim or ndim < 3:
                raise ValueError(
                    f"'{layer.name}' has {ndim} axes; a channel axis needs an image "
                    "with at least 3 axes (channels and two spatial axes)."
                )
            channel_axis %= ndim
        if layer.multiscale:
            if len(layers) > 1:
                raise ValueError("More channel layers are not supported for multiscale images.")
            data: Any = list(layer.data)
        elif len(layers) > 1:
            if any(not isinstance(ly.data, np.ndarray) for ly in layers):
                import dask.array as da

                data = da.stack([da.asarray(ly.data) for ly in layers], axis=-1)
            else:
                data = np.stack([ly.data for ly in layers], axis=-1)
            channel_axis = -1
        else:
            data = layer.data
        return cls(
            name=layer.name,
            data=data,
            rgb=bool(layer.rgb),
            scale=tuple(layer.scale),
            translate=tuple(layer.translate),
            contrast_limits=[tuple(ly.contrast_limits) for ly in layers],
            colormaps=[ly.colormap for ly in layers],
            channel_axis=channel_axis,
            multiscale=bool(layer.multiscale),
            channel_layers=[ly.name for ly in layers],
            units=tuple(getattr(layer, "units", None) or ()) or None,
            layers=list(layers),
        )


def check_scale(layer: Any) -> None:
    """Refuse a layer whose ``scale`` has a zero or non-finite value (napari refuses one when
    a layer is made, but ``layer.scale = ...`` keeps it after the error): its pixels have
    no size, so areas would be 0 and the outputs could not be drawn over it. A negative
    value (a flipped axis) is fine."""
    scale = np.asarray(layer.scale, np.float64)
    bad = [i for i, v in enumerate(scale) if not np.isfinite(v) or v == 0]
    if bad:
        raise ValueError(
            f"'{layer.name}' has scale {tuple(scale.tolist())}: axis {bad[0]} has no size, so "
            "nothing can be measured or drawn over it. Give every axis a non-zero scale "
            "(e.g. layer.scale = (1, 1) in napari's console)."
        )


def unwrap(obj: Any) -> Any:
    """The object itself, not napari's PublicOnlyProxy around it.

    napari hands a plugin widget a proxy of the viewer, so layers read from it
    (``viewer.layers[...]``, ``selection.active``) are proxies; the session holds layers by
    identity, so it compares and stores the layers themselves.
    """
    return getattr(obj, "__wrapped__", obj)


def output_name(source_name: str, kind: str) -> str:
    return f"{source_name} {kind}"


def center_colors(centers: np.ndarray, src: Source) -> np.ndarray:
    """The colour each centre is displayed with in the source layer(s): (K, 4) RGBA in 0..1."""
    c = np.asarray(centers, np.float64)
    rgba = np.ones((c.shape[0], 4))
    if src.rgb:
        lo, hi = src.contrast_limits[0]
        rgba[:, :3] = np.clip((c[:, :3] - lo) / max(hi - lo, 1e-12), 0, 1)
        return rgba
    acc = np.zeros((c.shape[0], 3))
    if len(src.colormaps) < c.shape[1]:  # one layer holding its channels along an axis:
        lo, hi = src.contrast_limits[0]  # napari shows one channel at a time in its colormap
        v = np.clip((c.mean(axis=1) - lo) / max(hi - lo, 1e-12), 0, 1)
        rgba[:, :3] = np.asarray(src.colormaps[0].map(v))[:, :3]
        return rgba
    for j in range(c.shape[1]):
        lo, hi = src.contrast_limits[j]
        v = np.clip((c[:, j] - lo) / max(hi - lo, 1e-12), 0, 1)
        acc += np.asarray(src.colormaps[j].map(v))[:, :3]  # additive, as napari blends channels
    rgba[:, :3] = np.clip(acc, 0, 1)
    return rgba


@dataclass
class Output:
    """One layer to write: its slot (what it is for this source), data, layer kwargs, type."""

    slot: str
    data: Any
    meta: dict
    layer_type: str  # "labels" or "image"


def image_slots(kind: str, src: Source) -> list[str]:
    """The slots :func:`image_outputs` writes for ``kind``."""
    if src.split_channels:
        return [f"{kind} ({ch})" for ch in src.channel_layers]
    return [kind]


def image_outputs(kind: str, data: Any, src: Source, extra: dict | None = None) -> list[Output]:
    """Image layer(s) of the source's layout: one per channel layer for several channel
    layers, else one layer shaped like the source (a channel axis stays where it was)."""
    from .stack import style

    md = {MARK: dict(extra or {}, kind=kind, source=src.name)}
    common: dict = {"scale": src.scale, "translate": src.translate, "metadata": md, **style(kind)}
    if src.split_channels:
        out = []
        for j, ch in enumerate(src.channel_layers):
            level = (
                [np.take(lv, j, axis=src.channel_axis) for lv in data]
                if src.multiscale
                else np.take(data, j, axis=src.channel_axis)
            )
            # the first channel covers the source's channels below it, the others add to it,
            # so the stack shows this image rather than the sum of both
            meta = dict(
                common,
                name=output_name(src.name, f"{kind} ({ch})"),
                contrast_limits=list(src.contrast_limits[j]),
                colormap=src.colormaps[j].name,
                blending="opaque" if j == 0 else "additive",
            )
            out.append(Output(f"{kind} ({ch})", level, meta, "image"))
        return out
    meta = dict(
        common, name=output_name(src.name, kind), rgb=src.rgb, contrast_limits=list(src.contrast_limits[0])
    )
    if not src.rgb:
        meta["colormap"] = src.colormaps[0].name
    return [Output(kind, data, meta, "image")]


def checksum(data: Any) -> int | None:
    """A cheap fingerprint of layer data, to notice edits made after the plugin wrote it."""
    if not isinstance(data, np.ndarray):
        return None  # lazy and multiscale data cannot be painted in place
    if data.size == 0:
        return 0
    return zlib.crc32(np.ascontiguousarray(data).data.cast("B"))


class LayerSlots:
    """The layers the plugin wrote for one source, held by identity (never found by name).

    ``write`` updates the slot's layer in place when it is still in the viewer, has the
    right type and was not edited since; otherwise the old layer is left to the person and
    the result goes to a new layer, under the plain name when it is free or ``name (n)``.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self._layers: dict[str, Layer] = {}
        self._written: dict[str, tuple[Any, int | None]] = {}  # data object, checksum

    def get(self, slot: str) -> Layer | None:
        layer = self._layers.get(slot)
        return layer if layer is not None and layer in self.viewer.layers else None

    def slots(self) -> list[str]:
        return [s for s in self._layers if self.get(s) is not None]

    def edited(self, slot: str) -> bool:
        """True when the slot's layer data changed since the plugin wrote it."""
        layer = self.get(slot)
        if layer is None:
            return False
        data, crc = self._written[slot]
        return layer.data is not data or (crc is not None and checksum(layer.data) != crc)

    def reusable(self, slot: str, layer_type: str, meta: dict) -> bool:
        layer = self.get(slot)
        return (
            layer is not None
            and isinstance(layer, _layer_class(layer_type))
            and not self.edited(slot)
            and bool(getattr(layer, "rgb", False)) == bool(meta.get("rgb", False))
        )

    def write(self, out: Output, anchors: Sequence[Any] = ()) -> tuple[Layer, str | None]:
        """Write one output; returns (layer, a note for the person or None).

        A new layer is stacked just above the ``anchors`` (the source layers) and the
        plugin's own layers that belong below it (:func:`~.stack.stack_index`); a layer
        updated in place keeps the place and visibility the person gave it.
        """
        from napari.layers import Layer

        from .stack import RANKS, kind_of, stack_index

        out = replace(out, meta=_with_units(out.meta, anchors))
        if self.reusable(out.slot, out.layer_type, out.meta):
            layer = self._layers[out.slot]
            _update(layer, out.data, out.meta)
            self._remember(out.slot, layer)
            return layer, None
        old = self.get(out.slot)
        name, note = out.meta["name"], None
        if name in self.viewer.layers:
            taken = unwrap(self.viewer.layers[name])
            if taken is old:
                why = "it was edited since the plugin wrote it"
            elif MARK in getattr(taken, "metadata", {}):  # the plugin's, but no open dock holds it
                why = (
                    "it holds an earlier result of this plugin that may have been edited since "
                    "(the dock that made it was closed, or it was kept after an edit)"
                )
            else:
                why = "it was not made by this plugin for this image"
            name = _free_name(self.viewer, name)
            note = f"'{out.meta['name']}' was kept because {why}; the result is in '{name}'."
        elif old is not None:
            note = f"'{old.name}' was kept because it was edited; the result is in '{name}'."
        layer = Layer.create(out.data, dict(out.meta, name=name), out.layer_type)
        below = [*anchors, *(ly for slot, ly in self._layers.items() if slot != out.slot)]
        index = stack_index(list(self.viewer.layers), out.slot, below, self.slot_of)
        active = self.viewer.layers.selection.active
        self.viewer.layers.insert(index, layer)
        if active is not None and kind_of(out.slot) in RANKS and MARK in getattr(active, "metadata", {}):
            # a masked copy appearing on a hide leaves the clusters layer (and napari's label
            # controls) selected; a person's own layer is not re-selected, as the dock would
            # take that as picking a new image
            self.viewer.layers.selection.active = active
        self._layers[out.slot] = layer
        self._remember(out.slot, layer)
        return layer, note

    def slot_of(self, layer: Any) -> str | None:
        """The slot ``layer`` fills (None for a layer the plugin did not write here)."""
        layer = unwrap(layer)
        return next((s for s, ly in self._layers.items() if ly is layer), None)

    def remove(self, slot: str) -> str | None:
        """Take the slot's layer out of the viewer, unless the person edited it.

        Returns a note for the person when the layer was kept, else None."""
        layer = self.get(slot)
        if layer is None:
            return None
        if self.edited(slot):
            self._layers.pop(slot)
            return f"'{layer.name}' was kept because it was edited."
        self.viewer.layers.remove(layer)
        self._layers.pop(slot)
        return None

    def _remember(self, slot: str, layer: Layer) -> None:
        self._written[slot] = (layer.data, checksum(layer.data))


def _layer_class(layer_type: str) -> type:
    import napari.layers

    return getattr(napari.layers, layer_type.capitalize())


def _with_units(meta: dict, anchors: Sequence[Any]) -> dict:
    """``meta`` with the source layer's physical units (napari warns about inconsistent
    units, and stops using them, when an output keeps the default "pixel"). An output
    without the source's channel axis takes the units of the spatial axes."""
    if "units" in meta or "scale" not in meta or not anchors:
        return meta
    units = tuple(getattr(anchors[0], "units", None) or ())
    n = len(meta["scale"])
    if len(units) < n or not units:
        return meta
    if len(units) > n:
        units = (units[0],) * n if len(set(units)) == 1 else units[-n:]
    return dict(meta, units=units)


def _update(layer: Any, data: Any, meta: dict) -> None:
    """Update the plugin's own layer in place; the person's display choices (opacity,
    blending, an image colormap) are kept."""
    from .colors import assign_colormap

    set_data(layer, data)
    for key in ("scale", "units", "translate", "features", "contrast_limits"):
        if key in meta:
            setattr(layer, key, meta[key])
    if "colormap" in meta and hasattr(layer, "show_selected_label"):
        assign_colormap(layer, meta["colormap"])
    layer.metadata = {k: (dict(v) if isinstance(v, dict) else v) for k, v in meta["metadata"].items()}


def set_data(layer: Any, data: Any) -> None:
    """``layer.data = data``, also where napari's own Labels setter cannot do it.

    Before napari 0.7.1 (fixed by napari#8922 and #8925) the ``Labels.data`` setter stores a
    list of levels unwrapped and fails ("'list' object has no attribute 'shape'"), and, given
    data with another number of axes (a stack run again with a channel axis), records the new
    number before it updates the layer's transforms, which then keep the old one: the canvas
    fails multiplying a 3x3 by a 4x4 matrix. On those releases (whose code no longer changes)
    such data is set the way napari 0.7.1's setter does it. The plugin's only use of napari's
    private API: replacing the layer instead would break the promise that the plugin's layers
    are updated in place (a console reference, the person's place and settings).
    """
    from napari.layers import Labels

    multiscale = isinstance(data, list | tuple)
    ndim = len((data[0] if multiscale else data).shape)
    if (
        not isinstance(layer, Labels)
        or (not layer.multiscale and ndim == layer.ndim)
        or not _napari_before(LABELS_DATA_SETTER_FIXED)
    ):
        layer.data = data
        return
    from napari.layers._multiscale_data import MultiScaleData

    layer._data_raw = data
    layer._data = MultiScaleData(data) if layer.multiscale else data
    layer._update_dims()  # the layer's number of axes is still the old one: transforms follow
    layer.events.data(value=layer.data)
    layer._reset_editable()


def _napari_before(version: tuple[int, ...]) -> bool:
    import napari

    from .._core.versions import version_tuple

    return version_tuple(napari.__version__) < version


def _free_name(viewer: napari.viewer.Viewer, name: str) -> str:
    i = 1
    while f"{name} ({i})" in viewer.layers:
        i += 1
    return f"{name} ({i})"
