"""The dock widget: read layers on the GUI thread, compute in a worker, write layers back.

Data flows one way: layer -> arrays -> core -> Segmentation -> layer tuples -> viewer.
The clusters Labels layer holds the cluster state (names in ``features``, hidden clusters
as alpha 0 in its colormap); the panel and the scripting methods read it back from there.
"""

from __future__ import annotations

import csv
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    SpinBox,
    create_widget,
)
from napari.layers import Image, Labels, Shapes
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QObject, QTimer, Signal

from . import _core as core
from ._layers import (
    MARK,
    Source,
    centre_colours,
    hidden_labels,
    label_colormap,
    output_name,
    restamp,
    segmentation_layers,
    write_layer,
)

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)
PREVIEW_PIXELS = 250_000


class _Relay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued Qt signal)."""

    progressed = Signal(float, str)


class KMeansWidget(Container):
    """K-means segmentation of an image layer (see the README for every parameter)."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._worker = None
        self._cancel_event: threading.Event | None = None
        self._clusters_layer: Labels | None = None
        self._source_layer: Image | None = None
        self._undo: list[dict] = []
        self._preview_gen = 0
        self._preview_cancel: threading.Event | None = None

        self.image_layer = create_widget(annotation=Image, name="image_layer", label="image")
        self.n_clusters = SpinBox(name="n_clusters", label="clusters (K)", min=2, max=255, value=3)
        self.mode = ComboBox(name="mode", choices=["fast", "exact recipe"], value="fast",
                             tooltip="fast: fit on a sample, refine on all pixels. "
                             "exact recipe: cv2.kmeans on every pixel (slow).")
        self.attempts = SpinBox(name="attempts", min=1, max=100, value=10)
        self.max_iter = SpinBox(name="max_iter", label="max iterations", min=1, max=10_000,
                                value=100)
        self.epsilon = FloatSpinBox(name="epsilon", min=0.0, max=1e6, step=0.05, value=0.2)
        self.init = ComboBox(name="init", choices=["random", "kmeans++"], value="random")
        self.seed = SpinBox(name="seed", min=-1, max=2**31 - 2, value=-1,
                            tooltip="-1 (shown as 'random') draws a new seed each run; the seed "
                            "used is stored in the output layers' metadata.")
        self.seed.native.setSpecialValueText("random")
        self.advanced = CheckBox(name="advanced", text="advanced options", value=False)
        self.color_space = ComboBox(name="color_space", label="colour space",
                                    choices=["rgb", "lab", "hsv"], value="rgb")
        self.normalize = CheckBox(name="normalize", text="normalize features", value=False)
        self.spatial_weight = FloatSpinBox(name="spatial_weight", label="position weight",
                                           min=0.0, max=10.0, step=0.1, value=0.0)
        self.texture_sigma = FloatSpinBox(name="texture_sigma", label="texture scale (px)",
                                          min=0.0, max=100.0, step=1.0, value=0.0)
        self.per_plane = CheckBox(name="per_plane", text="cluster each plane on its own",
                                  value=False)
        self.mask_layer = ComboBox(name="mask_layer", label="mask", choices=self._mask_choices)
        self.channel_layers = Select(name="channel_layers", label="more channels",
                                     choices=self._channel_choices)
        self._advanced_box = Container(widgets=[
            self.color_space, self.normalize, self.spatial_weight, self.texture_sigma,
            self.per_plane, self.mask_layer, self.channel_layers,
        ])
        self._advanced_box.visible = False
        self.live_preview = CheckBox(name="live_preview", text="live preview", value=False)
        self.run_button = PushButton(name="run_button", text="Run")
        self.cancel_button = PushButton(name="cancel_button", text="Cancel", enabled=False)
        self.suggest_button = PushButton(name="suggest_button", text="Suggest K")
        self.suggest_result = Label(name="suggest_result", label="K scores", value="")
        self.status = Label(name="status", value="")
        self.extend([
            self.image_layer, self.n_clusters, self.mode, self.attempts, self.max_iter,
            self.epsilon, self.init, self.seed, self.advanced, self._advanced_box,
            self.live_preview,
            Container(widgets=[self.run_button, self.cancel_button, self.suggest_button],
                      layout="horizontal", labels=False),
            self.suggest_result, self.status,
        ])
        from ._cluster_panel import ClusterPanel

        self.panel = ClusterPanel(self)
        self.native.layout().addWidget(self.panel)

        self.advanced.changed.connect(lambda v: setattr(self._advanced_box, "visible", v))
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.suggest_button.changed.connect(self.suggest_k)
        self._preview_timer = QTimer()
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(300)
        self._preview_timer.timeout.connect(self._start_preview)
        for w in (self.image_layer, self.n_clusters, self.mode, self.attempts, self.max_iter,
                  self.epsilon, self.init, self.seed, self.color_space, self.normalize,
                  self.spatial_weight, self.texture_sigma, self.mask_layer, self.live_preview):
            w.changed.connect(self._schedule_preview)
        self._viewer.layers.selection.events.active.connect(self._follow_active)
        self._follow_active()
        self._closed = False
        self.native.destroyed.connect(self._on_destroyed)

    def _on_destroyed(self, *_):
        """The dock (or the viewer) closed: stop any run and ignore what it returns."""
        self._closed = True
        for ev in (self._cancel_event, self._preview_cancel):
            if ev is not None:
                ev.set()
        try:
            self._viewer.layers.selection.events.active.disconnect(self._follow_active)
        except (RuntimeError, TypeError, ValueError):  # pragma: no cover - viewer gone
            pass

    # ---------------------------------------------------------------------------------
    # choices and defaults
    # ---------------------------------------------------------------------------------
    def _mask_choices(self, _w=None):
        layers = [ly for ly in self._viewer.layers if isinstance(ly, Labels | Shapes)
                  and MARK not in ly.metadata]
        return [("none", None)] + [(ly.name, ly) for ly in layers]

    def _channel_choices(self, _w=None):
        src = self.image_layer.value if hasattr(self, "image_layer") else None
        return [(ly.name, ly) for ly in self._viewer.layers
                if isinstance(ly, Image) and ly is not src and not ly.rgb
                and MARK not in ly.metadata]

    def _follow_active(self, event=None):
        active = self._viewer.layers.selection.active
        if isinstance(active, Image) and MARK not in active.metadata:
            self.image_layer.reset_choices()
            if active in self.image_layer.choices:
                self.image_layer.value = active

    # ---------------------------------------------------------------------------------
    # capturing inputs (GUI thread)
    # ---------------------------------------------------------------------------------
    def _options(self) -> dict:
        seed = self.seed.value
        return dict(
            n_clusters=int(self.n_clusters.value),
            attempts=int(self.attempts.value),
            max_iter=int(self.max_iter.value),
            epsilon=float(self.epsilon.value),
            init=self.init.value,
            seed=None if seed < 0 else int(seed),
            sample_size=None if self.mode.value == "exact recipe" else "auto",
            color_space=self.color_space.value,
            normalize=bool(self.normalize.value),
            spatial_weight=float(self.spatial_weight.value),
            texture_sigma=float(self.texture_sigma.value),
            per_plane=bool(self.per_plane.value),
        )

    def _capture(self):
        """(Source, core kwargs) for the chosen layer(s); raises ValueError with advice."""
        layer = self.image_layer.value
        if layer is None or layer not in self._viewer.layers:
            raise ValueError("No image layer to segment: open an image (File > Open Sample > "
                             "K-means segmentation) and pick it in 'image'.")
        opts = self._options()
        layers = [layer, *(self.channel_layers.value or [])]
        if layer.rgb and len(layers) > 1:
            raise ValueError("An RGB layer cannot be combined with more channel layers; "
                             "clear 'more channels'.")
        shapes = {tuple(ly.data.shape if not ly.multiscale else ly.data[0].shape)
                  for ly in layers}
        if len(shapes) > 1:
            raise ValueError("The channel layers must all have the same shape as the image; "
                             f"got {sorted(shapes)}.")
        channel_axis = None
        if layer.multiscale:
            if len(layers) > 1:
                raise ValueError("More channel layers are not supported for multiscale images.")
            data = list(layer.data)
        elif len(layers) > 1:
            data = np.stack([np.asarray(ly.data) for ly in layers], axis=-1)
            channel_axis = -1
        else:
            data = layer.data
        src = Source(
            name=layer.name,
            data=data,
            rgb=bool(layer.rgb),
            scale=tuple(layer.scale),
            translate=tuple(layer.translate),
            contrast_limits=[tuple(ly.contrast_limits) for ly in layers],
            colormaps=[ly.colormap for ly in layers],
            channel_axis=channel_axis,
            multiscale=bool(layer.multiscale),
            extra={"channel_layers": [ly.name for ly in layers],
                   "channel_names": [ly.name for ly in layers] if len(layers) > 1 else None},
        )
        mask_layer = self.mask_layer.value
        if mask_layer is not None:
            if layer.multiscale:
                raise ValueError("A mask is not supported for multiscale images.")
            spatial = layer.data.shape[:-1] if layer.rgb else layer.data.shape
            if isinstance(mask_layer, Shapes):
                mask = mask_layer.to_labels(labels_shape=spatial) != 0
            else:
                mask = np.asarray(mask_layer.data) != 0
            if mask.shape != tuple(spatial):
                raise ValueError(f"The mask layer has shape {mask.shape}, the image "
                                 f"{tuple(spatial)}; draw the mask on the image's grid.")
            opts["mask"] = mask
        opts["rgb"] = bool(layer.rgb)
        opts["channel_axis"] = channel_axis
        return layer, src, opts

    # ---------------------------------------------------------------------------------
    # Run
    # ---------------------------------------------------------------------------------
    def run(self, _=None):
        """Start a run on the chosen layer. Returns the worker (None if nothing started)."""
        if self._worker is not None:
            show_info("A k-means run is already in progress; wait for it or press Cancel.")
            return None
        try:
            layer, src, opts = self._capture()
            if not src.multiscale:
                _precheck(src.data, opts)
        except (ValueError, TypeError) as e:
            show_error(str(e))
            return None
        self._cancel_event = cancel = threading.Event()
        relay, pbar = self._progress_bar(f"K-means on {src.name}", cancel)

        def compute():
            if src.multiscale:
                kw = {k: v for k, v in opts.items() if k not in ("per_plane", "mask")}
                segs = core_multiscale(src.data, progress=relay.progressed.emit,
                                       cancel=cancel.is_set, **kw)
                return replace(segs[0], labels=[s.labels for s in segs],
                               recolored=[s.recolored for s in segs])
            return core.segment(src.data, progress=relay.progressed.emit,
                                cancel=cancel.is_set, **opts)

        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda seg: self._on_result(seg, layer, src, opts))
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._on_finished(pbar))
        self._worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.status.value = f"running on {src.name}…"
        worker.start()
        return worker

    def cancel(self, _=None):
        """Stop the current run; nothing is added."""
        if self._cancel_event is not None:
            self._cancel_event.set()

    def _progress_bar(self, desc, cancel):
        from napari.utils import cancelable_progress

        pbar = cancelable_progress(total=100, desc=desc, cancel_callback=cancel.set)
        relay = _Relay()

        def update(fraction, message):
            n = int(round(fraction * 100))
            if n > pbar.n:
                pbar.update(n - pbar.n)
            pbar.set_description(f"{desc}: {message}")

        relay.progressed.connect(update)
        relay._keep = update  # keep the slot alive with the relay
        return relay, pbar

    def _on_finished(self, pbar):
        pbar.close()
        if self._closed:
            return
        self._worker = None
        self._cancel_event = None
        self.run_button.enabled = True
        self.cancel_button.enabled = False

    def _on_error(self, exc: Exception):
        if self._closed:
            return
        if isinstance(exc, core.Cancelled):
            self.status.value = "cancelled"
            show_info("K-means run cancelled; nothing was added.")
        elif isinstance(exc, ValueError | TypeError):
            self.status.value = "failed"
            show_error(str(exc))
        else:  # a bug: say so, and keep the traceback in the log
            self.status.value = "failed"
            log.error("k-means run failed", exc_info=exc)
            show_error(f"K-means failed unexpectedly ({type(exc).__name__}: {exc}).")

    def _on_result(self, seg, layer, src: Source, opts: dict):
        if self._closed:
            return
        if layer not in self._viewer.layers:
            show_warning(f"'{src.name}' was removed during the run; its result was discarded.")
            self.status.value = "source removed; nothing added"
            return
        params = dict(seg.params, source=src.name)
        params.pop("spatial_shape", None)
        code = python_call(src, dict(opts, seed=seg.params["seed_used"]))
        metadata = {"params": params, "model": seg.model.to_dict(), "code": code}
        written = []
        for data, meta, kind in segmentation_layers(seg, src, metadata):
            new, note = write_layer(self._viewer, data, meta, kind)
            written.append(new)
            if note:
                show_warning(note)
        self._source_layer = layer
        self._undo.clear()
        self.set_clusters_layer(written[0])
        secs = f" ({seg.params['method']})"
        self.status.value = f"{seg.n_clusters} clusters in '{written[0].name}'{secs}"

    # ---------------------------------------------------------------------------------
    # cluster state (lives in the clusters layer)
    # ---------------------------------------------------------------------------------
    def set_clusters_layer(self, layer: Labels):
        old = self._clusters_layer
        if old is not None:
            old.events.colormap.disconnect(self._on_colormap)
        self._clusters_layer = layer
        layer.events.colormap.connect(self._on_colormap)
        self._on_colormap()

    def _on_colormap(self, event=None):
        self.panel.refresh()
        self._update_masked()

    def _require_clusters(self) -> Labels:
        layer = self._clusters_layer
        if layer is None or layer not in self._viewer.layers:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        return layer

    def _check_labels(self, labels) -> list[int]:
        index = self._require_clusters().features["index"].astype(int).tolist()
        labels = [int(v) for v in labels]
        for v in labels:
            if v not in index:
                raise ValueError(f"No cluster {v}: the clusters are {index}.")
        return labels

    def set_cluster_visible(self, label: int, visible: bool):
        """Show or hide one cluster (alpha in the clusters layer's colormap)."""
        layer = self._require_clusters()
        (label,) = self._check_labels([label])
        cd = {k: np.array(v, float) for k, v in layer.colormap.color_dict.items()}
        cd[label][3] = 1.0 if visible else 0.0
        self._set_colormap(layer, cd)

    def set_clusters_visible(self, visible: dict[int, bool]):
        layer = self._require_clusters()
        self._check_labels(visible)
        cd = {k: np.array(v, float) for k, v in layer.colormap.color_dict.items()}
        for lab, vis in visible.items():
            cd[int(lab)][3] = 1.0 if vis else 0.0
        self._set_colormap(layer, cd)

    def _set_colormap(self, layer, color_dict):
        from napari.utils.colormaps import DirectLabelColormap

        layer.colormap = DirectLabelColormap(color_dict=color_dict)

    def hidden_clusters(self) -> list[int]:
        return hidden_labels(self._require_clusters())

    def _update_masked(self):
        layer = self._clusters_layer
        src = self._source_layer
        if layer is None or src is None or src not in self._viewer.layers \
                or src.multiscale or layer not in self._viewer.layers:
            return
        hidden = hidden_labels(layer)
        name = output_name(src.name, "masked")
        if not hidden and name not in self._viewer.layers:
            return
        data = src.data
        if isinstance(data, np.ndarray) and isinstance(layer.data, np.ndarray):
            masked = core.mask_clusters(data, layer.data, hidden, rgb=src.rgb)
        else:
            import dask.array as da

            sel = da.isin(da.asarray(layer.data), hidden)
            masked = da.where(sel[..., None] if src.rgb else sel, 0, da.asarray(data))
        meta = dict(name=name, rgb=src.rgb, scale=src.scale, translate=src.translate,
                    contrast_limits=list(src.contrast_limits),
                    metadata={MARK: {"kind": "masked", "source": src.name}})
        if not src.rgb:
            meta["colormap"] = src.colormap.name
        _, note = write_layer(self._viewer, masked, meta, "image")
        if note:
            show_warning(note)

    def merge_clusters(self, labels):
        """Merge clusters into the lowest label of the group (undo with :meth:`undo`)."""
        layer = self._require_clusters()
        group = self._check_labels(labels)
        f = layer.features
        centre_cols = [c for c in f.columns if c.startswith("center_")]
        new_labels, index, centers, counts = core.merge_clusters(
            np.asarray(layer.data), group, f["index"].to_numpy(), f[centre_cols].to_numpy(),
            f["count"].to_numpy())
        recolored = self._recolored_layer()
        self._undo.append({
            "labels": layer.data, "colormap": layer.colormap, "features": f.copy(),
            "recolored": None if recolored is None else recolored.data,
        })
        target = min(group)
        names = dict(zip(f["index"].astype(int), f["name"]))
        import pandas as pd

        table = core.cluster_table(index, counts, centers, [names[int(i)] for i in index],
                                   [c[len("center_"):] for c in centre_cols])
        hidden = set(hidden_labels(layer)) - set(group[1:])
        src = self._source_for_colours()
        colours = centre_colours(centers, src) if src is not None else np.ones((len(index), 4))
        layer.data = new_labels
        layer.features = pd.DataFrame(table)
        restamp(layer)
        layer.colormap = label_colormap(index, colours, hidden)
        if recolored is not None and isinstance(recolored.data, np.ndarray):
            from ._core.result import to_dtype

            data = recolored.data.copy()
            row = int(np.flatnonzero(index == target)[0])
            sel = np.isin(new_labels, [target])
            value = to_dtype(centers[row], data.dtype)
            data[sel] = value if data.ndim > new_labels.ndim else value[0]
            recolored.data = data
            restamp(recolored)
        show_info(f"Merged clusters {group} into {target}.")

    def undo(self):
        """Undo the last merge."""
        if not self._undo:
            raise ValueError("Nothing to undo.")
        layer = self._require_clusters()
        state = self._undo.pop()
        layer.data = state["labels"]
        layer.features = state["features"]
        restamp(layer)
        layer.colormap = state["colormap"]
        rec = self._recolored_layer()
        if rec is not None and state["recolored"] is not None:
            rec.data = state["recolored"]
            restamp(rec)

    def _recolored_layer(self):
        layer = self._require_clusters()
        name = output_name(layer.metadata[MARK]["source"], "recolored")
        if name in self._viewer.layers and MARK in self._viewer.layers[name].metadata:
            return self._viewer.layers[name]
        return None

    def _source_for_colours(self):
        src = self._source_layer
        if src is None or src not in self._viewer.layers:
            return None
        return Source(name=src.name, data=None, rgb=src.rgb, scale=(), translate=(),
                      contrast_limits=[tuple(src.contrast_limits)], colormaps=[src.colormap])

    def extract_cluster(self, label: int, objects: bool = False, min_size: int = 0) -> Labels:
        """Add one cluster as a new Labels layer (a mask, or its connected objects)."""
        layer = self._require_clusters()
        (label,) = self._check_labels([label])
        data = core.extract_cluster(np.asarray(layer.data), label, objects=objects,
                                    min_size=min_size)
        src = layer.metadata[MARK]["source"]
        name = output_name(src, f"cluster {label}" + (" objects" if objects else ""))
        meta = dict(name=name, scale=tuple(layer.scale), translate=tuple(layer.translate),
                    metadata={MARK: {"kind": "extract", "source": src, "label": label,
                                     "objects": objects, "min_size": min_size}})
        new, note = write_layer(self._viewer, data, meta, "labels")
        if note:
            show_warning(note)
        n = int(data.max())
        show_info(f"Cluster {label}: {n} object(s) in '{new.name}'." if objects
                  else f"Cluster {label} extracted to '{new.name}'.")
        return new

    def export_table(self, path) -> Path:
        """Write the cluster table (with a 'visible' column) as CSV."""
        layer = self._require_clusters()
        path = Path(path)
        f = layer.features.copy()
        hidden = set(hidden_labels(layer))
        f["visible"] = [int(i) not in hidden for i in f["index"]]
        with open(path, "w", newline="") as fh:
            f.to_csv(fh, index=False, quoting=csv.QUOTE_MINIMAL)
        return path

    def rename_cluster(self, label: int, name: str):
        layer = self._require_clusters()
        (label,) = self._check_labels([label])
        f = layer.features.copy()
        f.loc[f["index"] == label, "name"] = str(name)
        layer.features = f
        self.panel.refresh()

    # ---------------------------------------------------------------------------------
    # models
    # ---------------------------------------------------------------------------------
    def current_model(self) -> core.KMeansModel:
        layer = self._require_clusters()
        return core.KMeansModel.from_dict(layer.metadata[MARK]["model"])

    def save_model(self, path) -> Path:
        return self.current_model().save(path)

    def load_model(self, path) -> core.KMeansModel:
        self._loaded_model = core.load_model(path)
        return self._loaded_model

    def apply_model(self, layer: Image | None = None, model: core.KMeansModel | None = None):
        """Label ``layer`` (default: the chosen image) with a saved or the current model."""
        model = model or getattr(self, "_loaded_model", None) or self.current_model()
        layer = layer or self.image_layer.value
        if layer is None:
            raise ValueError("Choose an image layer to apply the model to.")
        seg = model.apply(np.asarray(layer.data), rgb=bool(layer.rgb))
        src = Source(name=layer.name, data=layer.data, rgb=bool(layer.rgb),
                     scale=tuple(layer.scale), translate=tuple(layer.translate),
                     contrast_limits=[tuple(layer.contrast_limits)], colormaps=[layer.colormap])
        md = {"params": dict(seg.params, source=layer.name), "model": model.to_dict()}
        written = [write_layer(self._viewer, d, m, t)[0]
                   for d, m, t in segmentation_layers(seg, src, md)]
        self._source_layer = layer
        self.set_clusters_layer(written[0])
        return written

    def python_code(self) -> str:
        """The Python call that reproduces the last run (also in the layer's metadata)."""
        return self._require_clusters().metadata[MARK].get("code", "")

    # ---------------------------------------------------------------------------------
    # Suggest K
    # ---------------------------------------------------------------------------------
    def suggest_k(self, _=None, k_range=range(2, 11)):
        try:
            layer, src, opts = self._capture()
            if src.multiscale:
                raise ValueError("Suggest K works on single-scale images.")
        except (ValueError, TypeError) as e:
            show_error(str(e))
            return None
        kw = {k: opts[k] for k in ("attempts", "max_iter", "epsilon", "init", "seed", "rgb",
                                   "channel_axis", "color_space", "normalize")}
        kw["mask"] = opts.get("mask")

        def compute():
            return core.suggest_k(src.data, k_range, **kw)

        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._on_suggest)
        worker.errored.connect(self._on_error)
        self.suggest_button.enabled = False
        worker.finished.connect(lambda: setattr(self.suggest_button, "enabled", True))
        self.suggest_result.value = "scoring K…"
        worker.start()
        self._suggest_worker = worker
        return worker

    def _on_suggest(self, res: core.SuggestKResult):
        if self._closed:
            return
        self.n_clusters.value = res.k
        rows = ", ".join(f"{k}: {s:.2f}" for k, s in zip(res.ks, res.silhouette))
        self.suggest_result.value = (f"suggested K = {res.k} (silhouette {rows}); "
                                     f"elbow at K = {res.elbow_k}")
        self.panel.show_k_curve(res)

    # ---------------------------------------------------------------------------------
    # live preview
    # ---------------------------------------------------------------------------------
    def _schedule_preview(self, _=None):
        if self.live_preview.value:
            self._preview_timer.start()

    def _start_preview(self):
        if not self.live_preview.value:
            return
        try:
            layer, src, opts = self._capture()
            if src.multiscale:
                raise ValueError("Live preview works on single-scale images.")
            _precheck(src.data, opts)
        except (ValueError, TypeError) as e:
            self.status.value = f"preview: {e}"
            return
        if self._preview_cancel is not None:
            self._preview_cancel.set()  # a newer preview makes the running one stale
        self._preview_cancel = cancel = threading.Event()
        self._preview_gen += 1
        gen = self._preview_gen
        data, step, mask = _downsample(src, opts)
        opts = dict(opts, mask=mask, sample_size="auto", spatial_weight=opts["spatial_weight"])

        def compute():
            return core.segment(data, cancel=cancel.is_set, **opts)

        worker = create_worker(compute, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda seg: self._on_preview(seg, gen, step, layer, src))
        worker.errored.connect(lambda e: None if isinstance(e, core.Cancelled)
                               else setattr(self.status, "value", f"preview: {e}"))
        worker.start()
        self._preview_worker = worker

    def _on_preview(self, seg, gen, step, layer, src: Source):
        if self._closed or gen != self._preview_gen or layer not in self._viewer.layers:
            return  # stale
        spatial_ndim = seg.labels.ndim
        scale = np.asarray(src.scale[-spatial_ndim:], float) * np.asarray(step)
        colours = centre_colours(seg.centers, src)
        meta = dict(name=output_name(src.name, "preview"), scale=tuple(scale),
                    translate=src.translate[-spatial_ndim:],
                    colormap=label_colormap(np.arange(1, seg.n_clusters + 1), colours),
                    opacity=0.7, metadata={MARK: {"kind": "preview", "source": src.name}})
        write_layer(self._viewer, seg.labels, meta, "labels")
        self.status.value = f"preview: {seg.n_clusters} clusters"


def _downsample(src: Source, opts):
    """A strided view of about PREVIEW_PIXELS pixels per plane (and the matching mask)."""
    data = src.data
    spatial_ndim = data.ndim - (1 if (src.rgb or src.channel_axis is not None) else 0)
    yx = data.shape[spatial_ndim - 2:spatial_ndim]
    s = max(1, int(np.ceil(np.sqrt(yx[0] * yx[1] / PREVIEW_PIXELS))))
    step = (1,) * (spatial_ndim - 2) + (s, s)
    sl = tuple(slice(None, None, st) for st in step)
    mask = opts.get("mask")
    return np.asarray(data[sl]), step, None if mask is None else mask[sl]


def _precheck(data, opts):
    """Cheap checks before starting a worker, so a bad input changes nothing."""
    core.image.check_array_dtype(np.empty(0, data.dtype))
    n_px = int(np.prod(data.shape[:-1] if (opts.get("rgb") or opts.get("channel_axis") is not None)
                       else data.shape))
    if n_px < opts["n_clusters"]:
        raise ValueError(f"The image has {n_px} pixel(s), fewer than K = {opts['n_clusters']}; "
                         "choose a smaller K or a larger image.")


def core_multiscale(levels, **kw):
    from ._core.lazy import segment_multiscale

    return segment_multiscale(levels, **kw)


def python_call(src: Source, opts: dict) -> str:
    """The Python that reproduces a run from napari's console."""
    args = {k: v for k, v in opts.items() if k != "mask"}
    pieces = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return (
        "import napari_kmeans_segment as nks\n"
        f"image = viewer.layers[{src.name!r}].data\n"
        f"seg = nks.segment(image, {pieces})"
    )
