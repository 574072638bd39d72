"""Suggest K in the dock: score K in the background, plot the scores, and offer 'use K = n'.

The search runs through the dock's one job helper (napari's progress bar, the Cancel button);
its answer is shown (plot, a verdict in words, a button) and K changes only when the person
presses 'use K = n'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .guard import guarded, report_error
from .scroll import after_layout
from .texts import status, tooltip

PLOT_HEIGHT = 150  # px

if TYPE_CHECKING:
    from .._core import SuggestKResult
    from .form import KMeansForm
    from .jobs import Jobs
    from .suggest_plot import SuggestKPlot


class SuggestK:
    """Runs Suggest K for a form and shows its answer in the form's ``suggest_box``.

    Parameters
    ----------
    form : KMeansForm
        Its ``capture()``, ``n_clusters``, ``suggest_box``, ``suggest_result`` (the verdict),
        ``use_k_button`` and ``scroll`` are used.
    jobs : Jobs
    set_status : callable(str)
    """

    def __init__(self, form: KMeansForm, jobs: Jobs, set_status: Callable[[str], None]):
        self.form, self.jobs, self.set_status = form, jobs, set_status
        self.k: int | None = None
        self.plot: SuggestKPlot | None = None  # made on first use: matplotlib loads then
        self.layer: Any = None  # the image the shown (or coming) answer is for
        self.changes = 0

    def start(self, k_range: range = range(2, 11)) -> Any:
        """Start scoring; returns the worker (None when the inputs are unusable or busy)."""
        form = self.form
        captured = guarded(self._capture, "Suggest K")()
        if captured is None:
            return None
        layer, src, opts, mask = captured
        # the run's colour features and k-means settings; position and texture are not scored
        opts = replace(opts, spatial_weight=0.0, texture_sigma=0.0, per_plane=False)

        def compute(progress: Any, cancel: Any) -> SuggestKResult:
            from .. import _core as core

            return core.suggest_k(
                src.data,
                k_range,
                options=opts,
                rgb=src.rgb,
                channel_axis=src.channel_axis,
                mask=mask,
                progress=progress,
                cancel=cancel,
            )

        worker = self.jobs.start(
            "main", f"Suggest K for {src.name}", compute, self._done, on_error=self._failed
        )
        if worker is not None:
            self.layer = layer
            self.changes = form.changes  # a value changed while it runs stays in view
            text = status("suggest_running", k_min=k_range.start, k_max=k_range.stop - 1)
            self.set_status(text)
            self._plot().show_message(text)
            self.k = None  # an earlier answer was for other settings
            form.suggest_result.value = ""
            form.show_use_k(None)
            form.suggest_box.visible = True
        return worker

    def use(self) -> None:
        """Set K to the suggestion."""
        if self.k is None:
            if self.jobs.busy("main"):
                raise ValueError(
                    "Suggest K is still running: wait for it (in napari's console, w.wait()), "
                    "then take its K."
                )
            raise ValueError("Press 'Suggest K' first.")
        self.form.n_clusters.value = self.k
        self.set_status(status("k_set", k=self.k))

    def clear(self, _: Any = None) -> None:
        """Another image was chosen: the answer shown was for the previous one, so hide it
        (a search still running for it is dropped when it returns)."""
        if self.form._image() is self.layer:
            return
        self.k = None
        self.form.suggest_result.value = ""
        self.form.show_use_k(None)
        self.form.suggest_box.visible = False
        self.form.scroll.release()

    def _plot(self) -> SuggestKPlot:
        """The plot, made on first use, above the verdict."""
        if self.plot is None:
            from .suggest_plot import SuggestKPlot

            self.plot = SuggestKPlot(self.form.viewer.theme)
            self.plot.setToolTip(tooltip("suggest_plot"))
            # a little lower than the plot's own 180 px, so that on a 1280x800 screen the plot,
            # its verdict and 'use K = n' fit beside the cluster table and the measure section
            self.plot.setFixedHeight(PLOT_HEIGHT)
            self.plot.canvas.setFixedHeight(PLOT_HEIGHT)
            self.form.suggest_box.native.layout().insertWidget(0, self.plot)
        return self.plot

    def _done(self, res: SuggestKResult) -> None:
        from .suggest_plot import verdict

        form = self.form
        if form._image() is not self.layer:  # the person chose another image meanwhile
            self.set_status(status("suggest_other_image", name=getattr(self.layer, "name", "")))
            return
        self.k = int(res.k)
        self._plot().set_result(res)
        form.suggest_result.value = verdict(res)
        form.show_use_k(res.k)  # under K, which stays in view above the scrolling form
        self.set_status(status("suggest_done", k=res.k))
        # once laid out, scroll the form so the plot and its verdict are in view (and a value
        # the person changed meanwhile stays in view)
        kept = form.kept(since=self.changes)
        box = form.suggest_box.native
        after_layout(lambda: form.scroll.show_widget(box, *kept), form.scroll, box)

    def _capture(self) -> tuple[Any, Any, Any, Any]:
        layer, src, opts, mask = self.form.capture()
        if src.multiscale:
            raise ValueError("Suggest K works on single-scale images.")
        return layer, src, opts, mask

    def _failed(self, exc: BaseException) -> None:
        from .._core import Cancelled

        if self.plot is not None and self.plot.result is None:
            self.form.suggest_box.visible = False  # nothing to show
        if isinstance(exc, Cancelled):
            self.set_status(status("suggest_cancelled"))
        else:
            self.set_status(status("failed", reason=exc))
            report_error(exc, "Suggest K")
