"""The dock widget: the form, its buttons, the cluster panel, and the console API.

Data flows one way: form + layers -> (worker) core -> Segmentation -> session -> layers.
Each source layer has a :class:`~.._session.session.ClusterSession` that owns what the plugin wrote
for it and every cluster action; the console methods here delegate to the current one.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_error, show_info, show_warning

from .._session.layers import Source, output_name, unwrap
from .._session.session import ClusterSession, live_sessions, shared_session
from . import tasks
from .form import KMeansForm, precheck, python_call, read_image_code
from .guard import guarded, report_error
from .jobs import Jobs
from .panel import ClusterPanel
from .preview import Preview
from .suggest import SuggestK
from .texts import status, tooltip

if TYPE_CHECKING:
    import napari
    from napari.layers import Image, Labels

    from .._core import KMeansModel, Segmentation
    from .._core.options import Options
    from .suggest_plot import SuggestKPlot


class KMeansWidget(KMeansForm):
    """K-means segmentation of an image layer (docs/parameters.md describes every parameter)."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        check_dock_versions()
        super().__init__(napari_viewer)
        self.sessions: list[ClusterSession] = []
        self.session: ClusterSession | None = None
        self.loaded_model: KMeansModel | None = None
        self.loaded_model_name = ""
        self.loaded_model_path = ""
        self._runs = 0

        self.jobs = Jobs(self._on_jobs)
        self.suggester = SuggestK(self, self.jobs, self._set_status)
        self.preview = Preview(
            self, self.jobs, self.session_for, self._set_status, lambda: list(self.sessions)
        )
        self.panel = ClusterPanel()
        self.add_below(self.panel, 1)  # the table takes the spare height
        # the spare height goes to the tables' rows first, then to the form (Suggest K's plot)
        self.page.elastic[:0] = [self.panel.table, self.panel.measure]
        self.panel.measure.toggle.toggled.connect(
            lambda on: self._on_opened(on, self.panel.measure.body, self.panel.measure.toggle)
        )
        self.panel.apply_model_requested.connect(guarded(self.apply_model, "apply model"))
        self.panel.load_model_requested.connect(guarded(self.load_model, "load model"))
        self.panel.forget_model_requested.connect(self.forget_model)

        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.suggest_button.changed.connect(self.suggest_k)
        self.use_k_button.changed.connect(self.use_suggested_k)
        self.image_layer.changed.connect(self.suggester.clear)  # its answer was for that image
        self.live_preview.changed.connect(self.preview.set_enabled)
        for w in self.parameter_widgets:
            w.changed.connect(self.preview.schedule)
        self.viewer.layers.selection.events.active.connect(self._on_active)
        self.viewer.layers.events.removed.connect(self._on_removed)
        self.viewer.events.theme.connect(self._on_theme)
        self.follow_active()
        self._set_status(status("ready") if self._image() is not None else status("no_image"))
        self.native.destroyed.connect(self._on_destroyed)

    # -- lifecycle ---------------------------------------------------------------------------
    def _on_destroyed(self, *_: Any) -> None:
        """The dock (or the viewer) closed: stop any job and ignore what it returns."""
        self.jobs.close()
        try:
            self.preview.timer.stop()
        except RuntimeError:  # interpreter exit: Qt deleted the timer before this dock
            pass
        for emitter, slot in (
            (self.viewer.layers.selection.events.active, self._on_active),
            (self.viewer.layers.events.removed, self._on_removed),
            (self.viewer.events.theme, self._on_theme),
        ):
            try:
                emitter.disconnect(slot)
            except (RuntimeError, TypeError, ValueError):  # pragma: no cover - viewer gone
                pass

    @property
    def busy(self) -> bool:
        """True while a Run, Apply model or Suggest K job is running."""
        return self.jobs.busy("main")

    def wait(self, timeout: float = 600.0) -> None:
        """Wait, keeping napari responsive, until every background job of the dock is done
        and its result written (Run, Apply model, Suggest K, preview, uncertainty map,
        objects). For scripts and napari's console: ``w.run(); w.wait()``.

        Raises
        ------
        TimeoutError
            If jobs are still running after ``timeout`` seconds (they go on; Cancel stops them).
        """
        from qtpy.QtCore import QCoreApplication

        end = time.perf_counter() + timeout
        while not (self.jobs.idle and self.panel.measure.jobs.idle):
            if time.perf_counter() > end:
                raise TimeoutError(f"Still busy after {timeout} s: wait longer, or press Cancel.")
            QCoreApplication.processEvents()
            time.sleep(0.005)

    @property
    def _worker(self) -> Any:
        """The running main job's worker (None when idle); tests written before ``busy``."""
        return self.jobs.worker("main")

    def _on_jobs(self, lane: str, busy: bool) -> None:
        if lane == "main":
            self.run_button.enabled = self.suggest_button.enabled = not busy
            self.cancel_button.enabled = busy
            self.panel.set_busy(busy)

    def _set_status(self, text: str) -> None:
        self.status.value = text
        self.status.tooltip = tooltip("status")

    def _on_theme(self, event: Any = None) -> None:
        if self.suggester.plot is not None:
            self.suggester.plot.set_theme(self.viewer.theme)

    # -- sessions ------------------------------------------------------------------------------
    def session_for(self, layer: Image) -> ClusterSession:
        """The session of a source layer: this dock's, another dock's on this viewer (they
        share it, with its layers), or a new one."""
        layer = unwrap(layer)
        for s in self.sessions:
            if s.source is layer:
                return s
        s = shared_session(self.viewer, layer)
        self.sessions.append(s)
        return s

    def _show(self, session: ClusterSession | None) -> None:
        self.session = session
        self.panel.set_session(session)

    def _on_active(self, event: Any = None) -> None:
        self.follow_active()
        active = unwrap(self.viewer.layers.selection.active)
        for s in [*self.sessions, *live_sessions(self.viewer)]:  # another dock's clusters too
            if s.clusters is not None and s.clusters is active and s is not self.session:
                if s not in self.sessions:
                    self.sessions.append(s)
                self._show(s)
                break

    def _on_removed(self, event: Any = None) -> None:
        self.sessions = [s for s in self.sessions if s.source in self.viewer.layers]
        if self.session is not None and self.session not in self.sessions:
            self._show(None)
        else:
            self.panel.refresh()

    def _current(self) -> ClusterSession:
        if self.session is None:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        return self.session

    # -- Run, Cancel ----------------------------------------------------------------------------
    def run(self, _: Any = None) -> Any:
        """Start a run on the chosen layer. Returns the worker (None if nothing started)."""
        captured = guarded(self._capture_checked, "Run", on_error=self._refused)()
        if captured is None:
            return None
        layer, src, opts, mask = captured
        mode = self.mode.value
        start = time.perf_counter()

        def compute(progress: Any, cancel: Any) -> Segmentation:
            return tasks.run_segmentation(src, opts, mask, progress, cancel)

        def done(seg: Segmentation) -> None:
            code = python_call(src, replace(opts, seed=seg.params["seed_used"]))
            written = self._write_result(layer, seg, src, code, mode, start)
            planes = few_planes(src)
            if written and planes is not None:
                n, axis = planes
                self._set_status(f"{self.status.value} {status('planes_hint', n=n, axis=axis)}")
            if written and self.loaded_model is not None:
                show_info(
                    f"The loaded model '{self.loaded_model_name}' was set aside: "
                    "'apply model' now uses this run's model."
                )
                self.forget_model()

        worker = self.jobs.start("main", f"K-means on {src.name}", compute, done, on_error=self._job_failed)
        if worker is not None:
            text = status("running", name=src.name, k=opts.n_clusters, mode=mode)
            self._set_status(text if self._runs else f"{text} {status('first_run')}")
        return worker

    def _capture_checked(self) -> tuple[Image, Source, Options, Any]:
        """The form's inputs, checked as far as possible before any work starts."""
        layer, src, opts, mask = self.capture()
        if not src.multiscale:
            precheck(src, opts)
        return layer, src, opts, mask

    def _refused(self, exc: BaseException) -> None:
        self._set_status(status("failed", reason=exc))

    def cancel(self, _: Any = None) -> None:
        """Stop the current Run, Apply model or Suggest K; nothing is added."""
        self.jobs.cancel("main")

    def _job_failed(self, exc: BaseException) -> None:
        from .._core import Cancelled

        if isinstance(exc, Cancelled):
            self._set_status(status("cancelled"))
        else:
            self._set_status(status("failed", reason=exc))
        report_error(exc, "The run")

    def _write_result(
        self,
        layer: Image,
        seg: Segmentation,
        src: Source,
        code: str,
        mode: str = "",
        start: float | None = None,
    ) -> bool:
        """Hand a result to the source's session (GUI thread)."""
        if layer not in self.viewer.layers:
            show_warning(status("source_removed", name=src.name))
            self._set_status(status("source_removed", name=src.name))
            return False
        session = self.session_for(layer)
        written = session.set_result(seg, src, code=code)
        self._runs += 1
        self._show(session)
        self.reveal_later(self.panel.table, self.panel.heading)  # the table of the result
        clusters = session.clusters
        if clusters is not None:  # napari's label controls, ready for "show selected label"
            self.viewer.layers.selection.active = clusters
        seconds = 0.0 if start is None else time.perf_counter() - start
        self._set_status(
            status(
                "done",
                k=seg.n_clusters,
                layer=written[0].name,
                mode=mode or seg.params.get("method", ""),
                seconds=seconds,
            )
        )
        return True

    # -- Suggest K -------------------------------------------------------------------------------
    def suggest_k(self, _: Any = None, k_range: range = range(2, 11)) -> Any:
        """Score K over ``k_range`` in the background; the suggestion is shown, not applied
        (press 'use K = n' or call :meth:`use_suggested_k`). Returns the worker."""
        return self.suggester.start(k_range)

    def use_suggested_k(self, _: Any = None) -> None:
        """Set K to the last suggestion."""
        self.suggester.use()

    @property
    def suggested_k(self) -> int | None:
        """The K the last Suggest K found best separated (None before one finished)."""
        return self.suggester.k

    @property
    def suggest_plot(self) -> SuggestKPlot | None:
        """The Suggest K plot (made on the first Suggest K)."""
        return self.suggester.plot

    # -- models ----------------------------------------------------------------------------------
    def load_model(self, path: str | Path) -> KMeansModel:
        """Load a model for 'apply model' (used until the next Run or :meth:`forget_model`)."""
        from .._core import load_model

        self.loaded_model = load_model(path)
        self.loaded_model_name = Path(path).name
        self.loaded_model_path = str(Path(path).resolve())
        k = labels_given(self.loaded_model)
        self.panel.set_loaded_model(self.loaded_model_name, k)
        self.reveal_later(self.panel.loaded_row)  # its name and 'apply model'
        self._set_status(status("model_loaded", model=self.loaded_model_name, k=k))
        return self.loaded_model

    def forget_model(self, _: Any = None) -> None:
        """Set the loaded model aside: 'apply model' uses the current result's model again."""
        if self.loaded_model is not None:
            self._set_status(status("model_cleared"))
        self.loaded_model, self.loaded_model_name, self.loaded_model_path = None, "", ""
        self.panel.set_loaded_model(None, 0)

    def current_model(self) -> KMeansModel:
        """The current result's model (merges included)."""
        return self._current().model

    def apply_model(self, layer: Image | None = None, model: KMeansModel | None = None) -> Any:
        """Label ``layer`` (default: the chosen image) with ``model``, else the loaded model,
        else the current result's model; in the background like Run. Returns the worker."""
        code = ""
        if model is None and self.loaded_model is not None:
            code = f"model = nks.load_model({self.loaded_model_path!r})"
        model = model or self.loaded_model or self.current_model()
        if layer is None:  # the form's image (and channel layers), as Run reads them
            layer, src, _, _ = self.capture()
        elif layer not in self.viewer.layers:
            raise ValueError("Choose an image layer of this viewer to apply the model to.")
        else:
            layer = unwrap(layer)
            src = Source.from_layers([layer])

        def compute(progress: Any, cancel: Any) -> Segmentation:
            return tasks.apply_model(model, src, progress, cancel)

        if code:  # the Python that reproduces it, when the model is a file
            code = (
                f"{read_image_code(src)}\n{code}\nseg = model.apply(image, rgb={src.rgb!r}, "
                f"channel_axis={src.channel_axis!r})"
            )

        loaded = model is self.loaded_model
        name = f"Model '{self.loaded_model_name}'" if loaded else "The current result's model"

        def done(seg: Segmentation) -> None:
            if self._write_result(layer, seg, src, code):
                self._set_status(
                    status(
                        "model_applied", model=name, k=seg.n_clusters, layer=output_name(src.name, "clusters")
                    )
                )

        return self.jobs.start(
            "main", f"Applying the model to {layer.name}", compute, done, on_error=self._job_failed
        )

    # -- console API (delegates to the current session) ------------------------------------------
    @property
    def clusters_layer(self) -> Labels | None:
        return None if self.session is None else self.session.clusters

    def set_cluster_visible(self, label: int, visible: bool) -> None:
        """Show or hide one cluster (alpha in the clusters layer's colormap)."""
        self._current().set_visible({label: visible})

    def set_clusters_visible(self, visible: dict[int, bool]) -> None:
        self._current().set_visible(visible)

    def hidden_clusters(self) -> list[int]:
        return self._current().hidden()

    def merge_clusters(self, labels: list[int]) -> None:
        """Merge clusters into the lowest label of the group (undo with :meth:`undo`)."""
        self._current().merge(labels)

    def undo(self) -> None:
        """Undo the last merge."""
        self._current().undo()

    def extract_cluster(self, label: int, objects: bool = False, min_size: int = 0) -> Labels:
        """Add one cluster as a new Labels layer (a mask, or its connected objects)."""
        return self._current().extract(label, objects=objects, min_size=min_size)

    def export_table(self, path: str | Path) -> Path:
        """Write the cluster table (with a 'visible' column) as CSV."""
        return self._current().export_table(path)

    def rename_cluster(self, label: int, name: str) -> None:
        self._current().rename(label, name)

    def save_model(self, path: str | Path) -> Path:
        return self._current().save_model(path)

    def python_code(self) -> str:
        """The Python call that reproduces the last run."""
        return self._current().code

    # -- console API: measuring (the panel's "measure" section) ------------------------------------
    def set_background(self, labels: list[int]) -> None:
        """Mark exactly these clusters as background (left out of the share of tissue)."""
        self._current().measure.set_background(labels)

    def background_clusters(self) -> list[int]:
        return self._current().measure.background()

    def extract_objects(self, labels: int | list[int], min_size: int = 0) -> Labels:
        """Add the connected objects of one or more clusters as a Labels layer whose features
        measure each object (area, centroid, bounding box, mean intensity, cluster)."""
        return self._current().measure.extract_objects(labels, min_size)

    def export_objects(self, path: str | Path, layer: Labels | None = None) -> Path:
        """Write an objects layer's table (default: the latest one) as CSV."""
        return self._current().measure.export_objects(path, layer)

    def uncertainty_map(self, kind: str = "distance") -> Any:
        """Start the '<image> uncertainty' layer ("distance" to the centre or "margin" to the
        next cluster) in the background. Returns the worker."""
        self._current()
        return self.panel.measure.start_uncertainty(kind)


def check_dock_versions() -> None:
    """Refuse to open on versions that cannot work together, in one sentence (a napari
    notification and ImportError), and warn about an OpenCV wheel that bundles Qt."""
    from .._core.versions import check_installed, qt_opencv_warning

    try:
        check_installed(with_napari=True)
    except ImportError as e:
        show_error(str(e))
        raise
    warning = qt_opencv_warning()
    if warning:
        show_warning(warning)


def few_planes(src: Source) -> tuple[int, int] | None:
    """(planes, axis) of a single grayscale 3-D layer clustered as one stack whose first or
    last axis is short enough (2-8) to hold channels rather than z, time or space; else None."""
    shape = src.spatial_shape
    if src.rgb or src.channel_axis is not None or src.channel_names or len(shape) != 3:
        return None
    for axis in (0, 2):  # (C, Y, X) as microscopes write it, or (Y, X, C) as photographs
        if 2 <= shape[axis] <= 8:
            return int(shape[axis]), axis
    return None


def labels_given(model: KMeansModel) -> int:
    """How many clusters ``model`` writes: merged clusters share one label (its label map)."""
    import numpy as np

    if model.label_map is None or not model.merges:
        return model.n_clusters
    return len(np.unique(np.asarray(model.label_map)))
