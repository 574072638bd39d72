"""The dock widget: read layers on the GUI thread, compute in a worker, write layers back.

Data flows one way: layer -> arrays -> core -> Segmentation -> layer tuples -> viewer.
The clusters Labels layer holds the cluster state (names in ``features``, hidden clusters
as alpha 0 in its colormap); the panel and the scripting methods read it back from there.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
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
from ._cluster_actions import ClusterActions
from ._layers import (
    MARK,
    Source,
    segmentation_layers,
    write_layer,
)
from ._preview import PreviewAndSuggest, precheck

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued Qt signal)."""

    progressed = Signal(float, str)


class KMeansWidget(ClusterActions, PreviewAndSuggest, Container):
    """K-means segmentation of an image layer (see the README for every parameter)."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._closed = False
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
        self.native.destroyed.connect(self._on_destroyed)

    def _on_destroyed(self, *_):
        """The dock (or the viewer) closed: stop any run and ignore what it returns."""
        self._closed = True
        self._preview_timer.stop()
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
                precheck(src.data, opts)
        except (ValueError, TypeError) as e:
            show_error(str(e))
            return None

        def compute(progress, cancel):
            if src.multiscale:
                kw = {k: v for k, v in opts.items() if k not in ("per_plane", "mask")}
                segs = core_multiscale(src.data, progress=progress, cancel=cancel, **kw)
                return replace(segs[0], labels=[s.labels for s in segs],
                               recolored=[s.recolored for s in segs])
            return core.segment(src.data, progress=progress, cancel=cancel, **opts)

        def done(seg):
            code = python_call(src, dict(opts, seed=seg.params["seed_used"]))
            self._write_result(seg, layer, src, {"model": seg.model.to_dict(), "code": code})

        return self._start(compute, done, f"K-means on {src.name}")

    def _start(self, compute, done, desc: str):
        """Run ``compute(progress, cancel)`` in a worker with a cancelable progress bar;
        ``done(result)`` runs on the GUI thread. Returns the worker."""
        self._cancel_event = cancel = threading.Event()
        relay, pbar = self._progress_bar(desc, cancel)
        worker = create_worker(lambda: compute(relay.progressed.emit, cancel.is_set),
                               _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda result: None if self._closed else done(result))
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._on_finished(pbar))
        self._worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.status.value = f"{desc}…"
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

    def _write_result(self, seg, layer, src: Source, metadata: dict):
        """Write a Segmentation of ``layer`` to the viewer (GUI thread)."""
        if layer not in self._viewer.layers:
            show_warning(f"'{src.name}' was removed during the run; its result was discarded.")
            self.status.value = "source removed; nothing added"
            return None
        params = dict(seg.params, source=src.name)
        params.pop("spatial_shape", None)
        written = []
        for data, meta, kind in segmentation_layers(seg, src, dict(metadata, params=params)):
            new, note = write_layer(self._viewer, data, meta, kind)
            written.append(new)
            if note:
                show_warning(note)
        self._source_layer = layer
        self._undo.clear()
        self.set_clusters_layer(written[0])
        self.status.value = (f"{seg.n_clusters} clusters in '{written[0].name}' "
                             f"({seg.params['method']})")
        return written


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
