"""Suggest K and live preview for the dock widget (both computed off the GUI thread)."""

from __future__ import annotations

import threading

import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error

from . import _core as core
from ._layers import (
    MARK,
    Source,
    centre_colours,
    label_colormap,
    output_name,
    write_layer,
)

PREVIEW_PIXELS = 250_000


class PreviewAndSuggest:
    """Mixin for :class:`KMeansWidget`: the Suggest K button and the live preview."""

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
        best = max(res.silhouette)
        self.suggest_result.value = f"K = {res.k} (silhouette {best:.2f}); elbow at K = {res.elbow_k}"
        self.suggest_result.tooltip = "silhouette per K: " + ", ".join(
            f"{k}: {v:.2f}" for k, v in zip(res.ks, res.silhouette))
        self.panel.show_k_curve(res)

    # ---------------------------------------------------------------------------------
    # live preview
    # ---------------------------------------------------------------------------------
    def _schedule_preview(self, _=None):
        if not self._closed and self.live_preview.value:
            self._preview_timer.start()

    def _start_preview(self):
        if self._closed or not self.live_preview.value:
            return
        try:
            layer, src, opts = self._capture()
            if src.multiscale:
                raise ValueError("Live preview works on single-scale images.")
            precheck(src.data, opts)
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



def precheck(data, opts):
    """Cheap checks before starting a worker, so a bad input changes nothing."""
    core.image.check_array_dtype(np.empty(0, data.dtype))
    n_px = int(np.prod(data.shape[:-1] if (opts.get("rgb") or opts.get("channel_axis") is not None)
                       else data.shape))
    if n_px < opts["n_clusters"]:
        raise ValueError(f"The image has {n_px} pixel(s), fewer than K = {opts['n_clusters']}; "
                         "choose a smaller K or a larger image.")


