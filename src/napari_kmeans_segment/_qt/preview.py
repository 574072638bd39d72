"""Live preview: a quick result on a ~0.25 MP strided copy whenever a parameter changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_warning
from qtpy.QtCore import QTimer

from .._session.layers import Source, center_colors
from .._session.stack import overlay_colors
from . import texts
from .form import precheck
from .guard import expected, report_error

if TYPE_CHECKING:
    from napari.layers import Image

    from .._session.session import ClusterSession
    from .form import KMeansForm
    from .jobs import Jobs

PREVIEW_PIXELS = 250_000


class Preview:
    """Debounces parameter changes and runs the preview through the dock's jobs.

    Parameters
    ----------
    form : KMeansForm
    jobs : Jobs
    session_for : callable(layer) -> ClusterSession
        The session that owns the source's layers (the preview is one of them).
    status : callable(str)
        Shows a line of status text.
    sessions : callable() -> list of ClusterSession
        Every session, to remove their preview layers when preview is switched off.
    """

    def __init__(
        self,
        form: KMeansForm,
        jobs: Jobs,
        session_for: Callable[[Image], ClusterSession],
        status: Callable[[str], None],
        sessions: Callable[[], list[ClusterSession]] = list,
    ):
        self.form, self.jobs, self.session_for, self.status = form, jobs, session_for, status
        self.sessions = sessions
        self.enabled = False
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.setInterval(300)
        self.timer.timeout.connect(self.start)

    def set_enabled(self, on: bool) -> None:
        """Switch the preview on (a preview follows at once) or off (its layers go)."""
        self.enabled = bool(on)
        if self.enabled:
            self.schedule()
            return
        self.stop()
        removed = self.remove_layers()
        self.status(texts.status("preview_off") if removed else "")

    def remove_layers(self, keep: ClusterSession | None = None) -> int:
        """Remove the preview layers (but ``keep``'s); an edited one is kept, with a note."""
        n = 0
        for session in self.sessions():
            if session is keep or session.slots.get("preview") is None:
                continue
            note = session.slots.remove("preview")
            if note:
                show_warning(note)
            else:
                n += 1
        return n

    def schedule(self, _: Any = None) -> None:
        if self.enabled and not self.jobs.closed:
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.jobs.cancel("preview")

    def start(self) -> Any:
        """Start a preview now (returns the worker, or None when the inputs are unusable)."""
        if not self.enabled or self.jobs.closed:
            return None
        try:
            layer, src, opts, mask = self.form.capture()
            if src.multiscale:
                raise ValueError("Live preview works on single-scale images.")
            precheck(src, opts)
        except Exception as e:
            self._failed(e)
            return None
        data, step, mask, channel_axis = downsample(src, mask)
        # the copy's pixels are `step` pixels of the image: the smoothing keeps its width
        pixel = np.asarray(src.label_scale, float)[-len(step) :] * np.asarray(step, float)
        kw = dict(
            replace(opts, sample_size="auto").to_dict(),
            rgb=src.rgb,
            channel_axis=channel_axis,
            scale=tuple(float(v) for v in pixel),
        )

        def compute(progress: Any, cancel: Callable[[], bool]) -> Any:
            from .._core import segment

            return segment(data, mask=mask, cancel=cancel, **kw)

        return self.jobs.start(
            "preview",
            "preview",
            compute,
            lambda seg: self._done(seg, step, layer, src),
            on_error=self._failed,
            replace=True,
            progress_bar=False,
        )

    def _failed(self, exc: BaseException) -> None:
        """Bad input is said in the status line only: the preview reruns on every change
        while the person is still typing, a notification each time would bury the canvas.
        A bug is told like any other (:func:`.guard.report_error`)."""
        from .._core import Cancelled

        if isinstance(exc, Cancelled):
            return
        self.status(texts.status("preview_failed", reason=exc))
        if not expected(exc):
            report_error(exc, "Live preview")

    def _done(self, seg: Any, step: tuple, layer: Image, src: Source) -> None:
        if layer not in self.form.viewer.layers or not self.enabled:
            return  # the source went away, or preview was switched off, meanwhile
        nd = seg.labels.ndim
        scale = tuple(np.asarray(src.label_scale, float)[-nd:] * np.asarray(step))
        session = self.session_for(layer)
        colors = overlay_colors(center_colors(seg.centers, src), seg.counts)
        session.write_preview(seg.labels, src, colors, scale, tuple(src.label_translate[-nd:]))
        self.remove_layers(keep=session)  # one preview at a time: the image being tuned
        self.status(texts.status("preview_done", k=seg.n_clusters))


def downsample(src: Source, mask: Any = None) -> tuple[np.ndarray, tuple, Any, int | None]:
    """A strided view of about PREVIEW_PIXELS pixels per plane, the matching mask, and the
    channel axis of that view (channels are moved last: -1)."""
    data, channel_axis = src.data, src.channel_axis
    if src.channel_axis is not None and not src.rgb:
        data = np.moveaxis(data, src.channel_axis, -1)
        channel_axis = -1
    spatial_ndim = data.ndim - (1 if (src.rgb or src.channel_axis is not None) else 0)
    yx = data.shape[spatial_ndim - 2 : spatial_ndim]
    s = max(1, int(np.ceil(np.sqrt(yx[0] * yx[1] / PREVIEW_PIXELS))))
    step = (1,) * (spatial_ndim - 2) + (s, s)
    sl = tuple(slice(None, None, st) for st in step)
    return np.asarray(data[sl]), step, None if mask is None else mask[sl], channel_axis
