"""One source layer and what the plugin made of it: the result, its layers, undo, actions.

Qt-free (napari layers only). The session holds

- the source layer and what was read from it (:class:`~.layers.Source`);
- the layers the plugin wrote for it, by identity (:class:`~.layers.LayerSlots`);
- the current :class:`~.._core.Segmentation` in memory (a model is serialised only when saved);
- the undo stack (earlier Segmentations with the names and colormap to restore).

Cluster names live in the clusters layer's ``features`` and visibility in its colormap, so
napari's own controls and the console can change them too; the session follows the layer's
events. Every action computes everything first and only then writes the layers, so a bad
request changes nothing. Views observe :attr:`ClusterSession.changed`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_info, show_warning
from psygnal import Signal

from .colors import (
    assign_colormap,
    cluster_index,
    colormap_colors,
    copy_colormap,
    direct_colormap,
    hidden_labels,
    label_colors,
    see_through_colormap,
    visibility_colormap,
)
from .layers import (
    MARK,
    LayerSlots,
    Output,
    Source,
    center_colors,
    image_outputs,
    image_slots,
    output_name,
    unwrap,
)
from .measure import SessionMeasure, cluster_features, marked
from .stack import overlay_colors, reveal, see_through_default, style

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels, Layer

    from .._core import KMeansModel, Segmentation


@dataclass
class _Undo:
    seg: Segmentation
    names: dict[int, str]
    colormap: Any
    background: tuple[int, ...] = ()


def paintable_copy(labels: Any) -> Any:
    """The labels for a Labels layer: a copy of an in-memory array, so a person painting on
    the layer never writes into the session's result (a later merge, undo or measurement
    would carry the strokes, and the counts would no longer match). Lazy and multiscale
    labels cannot be painted and are shared as they are."""
    return labels.copy() if isinstance(labels, np.ndarray) else labels


# Every session alive, so that the docks on one viewer share the session of a source layer
# (and hence its layers, undo and measurements) instead of each taking the other's layers
# for the person's. Weak: a session lives as long as a dock holds it.
_LIVE: weakref.WeakSet[ClusterSession] = weakref.WeakSet()


def live_sessions(viewer: napari.viewer.Viewer) -> list[ClusterSession]:
    """The sessions any dock holds for source layers still in ``viewer``."""
    v = unwrap(viewer)
    return [s for s in list(_LIVE) if unwrap(s.viewer) is v and s.source in v.layers]


def shared_session(viewer: napari.viewer.Viewer, source: Image) -> ClusterSession:
    """The session of ``source`` that another dock on ``viewer`` holds, else a new one."""
    source = unwrap(source)
    for s in live_sessions(viewer):
        if s.source is source:
            return s
    return ClusterSession(viewer, source)


class ClusterSession:
    """The clusters of one source layer and every action on them.

    Docks share it (:func:`shared_session`): two docks on one viewer work on the same
    layers of a source.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    source : napari.layers.Image
        The layer that was segmented (never modified).
    """

    changed = Signal(str)  # result, visibility, names, background, merge, undo, objects, scale

    def __init__(self, viewer: napari.viewer.Viewer, source: Image):
        self.viewer = viewer
        self.source = source
        self.slots = LayerSlots(viewer)
        self.seg: Segmentation | None = None
        self.src: Source | None = None
        self.code = ""
        self._extra: dict = {}
        self._undo: list[_Undo] = []
        self._writing = False
        self._watched: Labels | None = None
        # whether clusters marked as background are drawn see-through in the overlay: None
        # follows each run (:func:`~.stack.see_through_default`); True/False is the
        # person's choice, kept for later runs of this image
        self.see_through_choice: bool | None = None
        self._auto_see_through = False
        self.measure = SessionMeasure(self)  # background, objects, uncertainty
        _LIVE.add(self)

    # -- state -----------------------------------------------------------------------------
    @property
    def clusters(self) -> Labels | None:
        """The clusters Labels layer the plugin wrote (None before a run or once removed)."""
        return self.slots.get("clusters")

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def model(self) -> KMeansModel:
        """The current result's model (merges included) with the clusters' names and
        background marks as they are now, so a saved or reapplied model keeps them."""
        names = {k: v for k, v in self.names().items() if v.strip()}  # blank: no name
        return self.require()[1].model.named(names, self.measure.background())

    def index(self) -> list[int]:
        return cluster_index(self.require()[0])

    def names(self) -> dict[int, str]:
        f = self.require()[0].features
        return {int(i): str(n) for i, n in zip(f["index"], f["name"])}

    def hidden(self) -> list[int]:
        """Clusters the clusters layer's colormap draws fully transparent."""
        return hidden_labels(self.require()[0])

    @property
    def see_through(self) -> bool:
        """True when clusters marked as background are drawn see-through in the overlay,
        so the image shows through them (see :meth:`set_see_through`)."""
        return self._auto_see_through if self.see_through_choice is None else self.see_through_choice

    def set_see_through(self, on: bool) -> None:
        """Draw the clusters marked as background see-through (True) or in their overlay
        colour (False); kept for later runs of this image."""
        layer, seg = self.require()
        self.see_through_choice = bool(on)
        assert self.src is not None
        self.write(seg, self.src, [], "visibility", colormap_only=self.with_see_through(layer.colormap))
        self.reveal()
        self.changed.emit("visibility")

    def with_see_through(
        self, colormap: Any, seg: Segmentation | None = None, background: Iterable[int] | None = None
    ) -> Any:
        """``colormap`` with the background clusters of ``seg`` (default: the current
        result) see-through, or none when that is off."""
        seg = seg if seg is not None else self.require()[1]
        marks = self.measure.background() if background is None else list(background)
        return see_through_colormap(
            colormap, seg.index.tolist(), _labels_dtype(seg), marks if self.see_through else []
        )

    def layers(self) -> list[Layer]:
        """The layers the plugin wrote for this source that are still in the viewer."""
        return [ly for ly in (self.slots.get(s) for s in self.slots.slots()) if ly is not None]

    def reveal(self, layer: Layer | None = None) -> None:
        """Bring ``layer`` (default: the clusters layer) into view with the source image
        and the plugin's other layers for it (see :func:`~.stack.reveal`)."""
        layer = layer if layer is not None else self.clusters
        if layer is None or layer not in self.viewer.layers:
            return
        group = [*(self.src.layers if self.src is not None else [self.source]), *self.layers()]
        reveal(self.viewer.layers, layer, group)

    def require(self) -> tuple[Labels, Segmentation]:
        """The clusters layer and the current result; ValueError before a run or once the
        layer was removed."""
        layer = self.clusters
        if self.seg is None:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        if layer is None:
            raise ValueError("The clusters layer was removed; press Run to make it again.")
        return layer, self.seg

    def check_labels(self, labels: Iterable[int]) -> list[int]:
        """``labels`` as ints; ValueError naming the clusters when one is not a cluster."""
        index = self.index()
        out = [int(v) for v in labels]
        for v in out:
            if v not in index:
                raise ValueError(f"No cluster {v}: the clusters are {index}.")
        return out

    # -- writing -----------------------------------------------------------------------------
    def set_result(
        self, seg: Segmentation, src: Source, *, code: str = "", extra: dict | None = None
    ) -> list[Layer]:
        """Write a new result (a Run or an applied model); clears undo. Returns its layers."""
        self.code = code
        # a model's names and marks, else stain names for "hed" ("background..." marked)
        names = dict(zip(seg.index.tolist(), seg.default_names()))
        background = seg.default_background()
        colors = overlay_colors(center_colors(seg.centers, src), seg.counts)
        cmap = direct_colormap(dict(zip(seg.index.tolist(), colors)))
        self._extra = dict(extra or {})
        auto = see_through_default(seg.feature_space.color_space, seg.n_clusters, src.multiscale)
        if (auto if self.see_through_choice is None else self.see_through_choice) and background:
            cmap = see_through_colormap(cmap, seg.index.tolist(), _labels_dtype(seg), background)
        outputs = self._result_outputs(seg, src, names, cmap, background)
        # a new result shows every cluster: no masked layer
        written = self.write(seg, src, outputs, "result", drop=image_slots("masked", src))
        self._auto_see_through = auto  # merges and undo keep the run's default
        self._undo.clear()
        self.reveal()
        self.changed.emit("result")
        self.measure.announce()  # the slide's warnings, as napari warnings
        return written

    def _result_outputs(
        self,
        seg: Segmentation,
        src: Source,
        names: Mapping[int, str],
        colormap: Any,
        background: Iterable[int] = (),
    ) -> list[Output]:
        params = {k: v for k, v in seg.params.items() if k != "spatial_shape"}
        meta = dict(self._extra, source=src.name, params=dict(params, source=src.name), code=self.code)
        if seg.stains is not None:  # the slide's numbers, for the console
            meta["stains"] = dict(seg.stains.row(), warnings=list(seg.stains.warnings))
        labels = Output(
            "clusters",
            paintable_copy(seg.labels),
            dict(
                name=output_name(src.name, "clusters"),
                scale=src.label_scale,
                translate=src.label_translate,
                features=cluster_features(seg, src, names, background),
                colormap=colormap,
                **style("clusters"),
                metadata={MARK: dict(meta, kind="clusters")},
            ),
            "labels",
        )
        return [labels, *image_outputs("recolored", seg.recolored, src, meta)]

    def _masked(self, seg: Segmentation, src: Source, hidden: list[int]) -> dict[str, Any]:
        """``_write``'s arguments for the masked image: its layer(s) while something is
        hidden. With every cluster shown it would only repeat the image (and cover the
        recolored layer above it), so the plugin's masked layer is removed then."""
        if not hidden:
            return {"outputs": [], "drop": image_slots("masked", src)}
        return {"outputs": image_outputs("masked", seg.masked(src.data, hidden), src), "drop": []}

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Inside, the session's own changes to its layers' colormap and features are not
        handled again as changes from outside (napari's controls, the console)."""
        self._writing = True
        try:
            yield
        finally:
            self._writing = False

    def write(
        self,
        seg: Segmentation,
        src: Source,
        outputs: list[Output],
        what: str,
        colormap_only: Any = None,
        drop: Iterable[str] = (),
    ) -> list[Layer]:
        """Write layers computed beforehand and remove the plugin's layers of the ``drop``
        slots (a layer the person edited stays); our own colormap events are not re-handled."""
        written = []
        with self.writing():
            self.seg, self.src = seg, src
            if colormap_only is not None:
                assign_colormap(self.require()[0], colormap_only)
            for out in outputs:
                layer, note = self.slots.write(out, src.layers)
                written.append(layer)
                if note:
                    show_warning(note)
            for slot in drop:
                note = self.slots.remove(slot)
                if note:
                    show_info(note)
        self._watch(self.clusters)
        return written

    def _watch(self, layer: Labels | None) -> None:
        if layer is self._watched:
            return
        if self._watched is not None:
            self._watched.events.colormap.disconnect(self._on_colormap)
            self._watched.events.features.disconnect(self._on_features)
        self._watched = layer
        if layer is not None:
            layer.events.colormap.connect(self._on_colormap)
            layer.events.features.connect(self._on_features)

    def _on_colormap(self, event: Any = None) -> None:
        """The colormap changed outside the session (napari's controls, the console)."""
        if self._writing or self.seg is None or self.src is None:
            return
        try:
            masked = self._masked(self.seg, self.src, self.hidden())
            self.write(self.seg, self.src, masked["outputs"], "visibility", drop=masked["drop"])
        except ValueError as e:  # e.g. the source changed shape since the run
            show_warning(f"The masked layer was not updated: {e}")
        self.changed.emit("visibility")

    def _on_features(self, event: Any = None) -> None:
        if not self._writing and not self.measure.follow_features():
            self.changed.emit("names")

    # -- actions ---------------------------------------------------------------------------
    def set_visible(self, visible: Mapping[int, bool]) -> None:
        """Show (True) or hide (False) clusters; the masked layer follows."""
        layer, seg = self.require()
        self.check_labels(visible)
        cmap = visibility_colormap(layer, {int(k): bool(v) for k, v in visible.items()})
        hidden = [
            lab
            for lab, c in zip(self.index(), colormap_colors(cmap, self.index(), layer.data.dtype))
            if c[3] == 0
        ]
        assert self.src is not None
        masked = self._masked(seg, self.src, hidden)
        cmap = self.with_see_through(cmap)
        self.write(seg, self.src, masked["outputs"], "visibility", colormap_only=cmap, drop=masked["drop"])
        self.reveal()
        self.changed.emit("visibility")

    def invert(self) -> None:
        hidden = set(self.hidden())
        self.set_visible({lab: lab in hidden for lab in self.index()})

    def merge(self, labels: Iterable[int]) -> Segmentation:
        """Merge clusters into the lowest label of the group (undo with :meth:`undo`)."""
        layer, seg = self.require()
        group = sorted(set(self.check_labels(labels)))
        if len(group) < 2:
            raise ValueError("Select at least two clusters to merge.")
        new = seg.merge(group)
        assert self.src is not None
        names = self.names()
        before = copy_colormap(layer.colormap)
        cmap = self._merged_colormap(layer, seg, new, group[0])
        hidden = [h for h in self.hidden() if h not in group[1:]]
        marks = marked(layer.features)  # the merged cluster keeps its first label's mark
        kept = [b for b in marks if b not in group[1:]]
        cmap = self.with_see_through(cmap, new, kept)
        outputs = self._result_outputs(new, self.src, names, cmap, kept)
        masked = self._masked(new, self.src, hidden)
        self.write(new, self.src, outputs + masked["outputs"], "merge", drop=masked["drop"])
        self.reveal()
        if layer.selected_label in group[1:]:  # that label is gone: "show selected label"
            layer.selected_label = group[0]  # would otherwise draw nothing
        self._undo.append(_Undo(seg, names, before, tuple(marks)))
        show_info(f"Merged clusters {group} into {group[0]}.")
        self.changed.emit("merge")
        return new

    def _merged_colormap(self, layer: Labels, seg: Segmentation, new: Segmentation, target: int) -> Any:
        """Keep the colours the person sees; the merged cluster takes its new centre's colour
        if it was drawn in the plugin's colour for its old centre. A cyclic ("auto")
        colormap draws any label, so it is kept as it is."""
        from napari.utils.colormaps import CyclicLabelColormap

        if isinstance(layer.colormap, CyclicLabelColormap):
            return copy_colormap(layer.colormap)
        assert self.src is not None
        old_index = seg.index.tolist()
        seen = dict(zip(old_index, label_colors(layer, old_index)))
        colors = {lab: seen[lab] for lab in new.index.tolist()}
        was = center_colors(seg.centers, self.src)[old_index.index(target)]
        if np.allclose(seen[target][:3], was[:3]):
            now = center_colors(new.centers, self.src)[new.index.tolist().index(target)]
            colors[target] = np.r_[now[:3], seen[target][3]]
        return direct_colormap(colors, default=getattr(layer.colormap, "default_color", np.zeros(4)))

    def undo(self) -> None:
        """Undo the last merge (names given since then are kept)."""
        if not self._undo:
            raise ValueError("Nothing to undo.")
        layer, _ = self.require()
        state = self._undo[-1]
        assert self.src is not None
        names = {**state.names, **{k: v for k, v in self.names().items() if k in state.names}}
        index = state.seg.index.tolist()
        colors = colormap_colors(state.colormap, index, layer.data.dtype)
        hidden = [lab for lab, c in zip(index, colors) if c[3] == 0]
        now, cur = set(self.index()), set(marked(layer.features))  # marks given since are
        marks = [b for b in index if (b in cur if b in now else b in state.background)]  # kept
        cmap = self.with_see_through(state.colormap, state.seg, marks)
        outputs = self._result_outputs(state.seg, self.src, names, cmap, marks)
        masked = self._masked(state.seg, self.src, hidden)
        self.write(state.seg, self.src, outputs + masked["outputs"], "undo", drop=masked["drop"])
        self.reveal()
        self._undo.pop()
        self.changed.emit("undo")

    def extract(self, label: int, objects: bool = False, min_size: int = 0) -> Labels:
        """Add one cluster as a Labels layer: a 0/1 mask, or its connected objects (with a
        ``features`` table measuring each, see :meth:`SessionMeasure.extract_objects`)."""
        layer, seg = self.require()
        (label,) = self.check_labels([label])
        if objects:
            return self.measure.extract_objects([label], min_size)
        data = seg.extract(label, objects=objects, min_size=min_size)
        assert self.src is not None
        kind = f"cluster {label}" + (" objects" if objects else "")
        out = Output(
            kind,
            data,
            dict(
                name=output_name(self.src.name, kind),
                scale=tuple(layer.scale),
                translate=tuple(layer.translate),
                metadata={
                    MARK: {
                        "kind": "extract",
                        "source": self.src.name,
                        "label": label,
                        "objects": objects,
                        "min_size": min_size,
                    }
                },
            ),
            "labels",
        )
        (new,) = self.write(seg, self.src, [out], "extract")
        self.show_new(new)
        n = int(np.max(np.asarray(data[0] if isinstance(data, list) else data)))
        show_info(
            f"Cluster {label}: {n} object(s) in '{new.name}'."
            if objects
            else f"Cluster {label} extracted to '{new.name}'."
        )
        return new

    def show_new(self, layer: Layer) -> None:
        """A layer an action just wrote (an extracted cluster, objects, a map): visible,
        above what would cover it, and selected, as napari selects a layer it adds."""
        reveal(self.viewer.layers, layer)
        self.viewer.layers.selection.active = layer

    def rename(self, label: int, name: str) -> None:
        layer, _ = self.require()
        (label,) = self.check_labels([label])
        f = layer.features.copy()
        f.loc[f["index"] == label, "name"] = str(name)
        layer.features = f  # emits features -> changed("names")
        marked = self.measure.background()
        if str(name).strip().lower().startswith("background") and label not in marked:
            # the name marks background at a Run and in a model: the same when typed here
            self.measure.set_background([*marked, label])
            show_info(
                f"Cluster {label} is named background, so it is now left out of the tissue "
                "share; untick it under 'measure' to count it again."
            )

    def export_table(self, path: str | Path) -> Path:
        """Write the cluster table (areas, background, a 'visible' column) as CSV."""
        return self.measure.export_table(path)

    def save_model(self, path: str | Path) -> Path:
        """Write the current result's model (merges, names and background marks included) as JSON."""
        return self.model.save(path)

    def write_preview(
        self, labels: Any, src: Source, colors: np.ndarray, scale: tuple, translate: tuple
    ) -> Layer:
        """Write a live-preview Labels layer for this source (its own slot)."""
        index = np.arange(1, colors.shape[0] + 1).tolist()
        out = Output(
            "preview",
            labels,
            dict(
                name=output_name(src.name, "preview"),
                scale=scale,
                translate=translate,
                colormap=direct_colormap(dict(zip(index, colors))),
                **style("preview"),
                metadata={MARK: {"kind": "preview", "source": src.name}},
            ),
            "labels",
        )
        layer, note = self.slots.write(out, src.layers)
        if note:
            show_warning(note)
        return layer


def _labels_dtype(seg: Segmentation) -> Any:
    level = seg.labels[0] if seg.multiscale else seg.labels
    return getattr(level, "dtype", np.dtype(np.uint8))
