"""The one way the dock starts background work (Run, Apply model, Suggest K, preview).

``compute(progress, cancel)`` runs in a worker thread and touches no layer; ``done(result)``
runs on the GUI thread when it returns. Jobs live in named lanes: the "main" lane runs one
job at a time (a second start is refused with a message) with napari's cancelable progress
bar; a lane started with ``replace=True`` (the preview) cancels the job it replaces and
drops its result. Warnings the computation raises (``warnings.warn``) become napari
warning notifications; a failed job is told by :func:`.guard.report_error`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QObject, Signal

from .guard import report_error

Compute = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]


class _Relay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued Qt signal)."""

    progressed = Signal(float, str)


@dataclass
class _Job:
    worker: Any
    cancel: threading.Event
    relay: _Relay
    pbar: Any = None


class Jobs:
    """Background jobs of one dock widget.

    Parameters
    ----------
    on_change : callable(lane, busy)
        Called on the GUI thread when a lane starts or finishes (to enable buttons).
    """

    def __init__(self, on_change: Callable[[str, bool], None] | None = None):
        self._on_change = on_change
        self._jobs: dict[str, _Job] = {}
        self.closed = False

    def busy(self, lane: str = "main") -> bool:
        return lane in self._jobs

    @property
    def idle(self) -> bool:
        """True when no lane has a job (every result has been handed over)."""
        return not self._jobs

    def worker(self, lane: str = "main") -> Any:
        job = self._jobs.get(lane)
        return None if job is None else job.worker

    def start(
        self,
        lane: str,
        desc: str,
        compute: Compute,
        done: Callable[[Any], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        replace: bool = False,
        progress_bar: bool = True,
    ) -> Any:
        """Start ``compute`` in a worker. Returns the worker, or None if the lane is busy."""
        if self.closed:
            return None
        if lane in self._jobs:
            if not replace:
                show_info(f"{desc}: another job is still running; wait for it or press Cancel.")
                return None
            self._jobs[lane].cancel.set()  # its result is stale now
        cancel = threading.Event()
        relay = _Relay()
        worker = create_worker(
            lambda: compute(relay.progressed.emit, cancel.is_set), _start_thread=False, _ignore_errors=True
        )
        job = _Job(worker, cancel, relay)
        if progress_bar:
            job.pbar = _progress_bar(relay, desc, cancel)

        def current() -> bool:
            return not self.closed and self._jobs.get(lane) is job and not cancel.is_set()

        def failed(exc: BaseException) -> None:
            (on_error or (lambda e: report_error(e, desc)))(exc)

        def returned(result: Any) -> None:
            if current():
                try:
                    done(result)
                except Exception as exc:  # writing the result failed: told like a failed job,
                    failed(exc)  # never an exception lost in Qt's event loop with a stuck status

        def errored(exc: BaseException) -> None:
            if self.closed or self._jobs.get(lane) is not job:
                return
            failed(exc)

        def warned(args: tuple) -> None:
            # napari 0.9.2's worker catches warnings.warn and emits `warned`, but its relay
            # to the notifications is never connected: without this they vanish. The
            # preview (replace=True) reruns on every change; its warnings would repeat.
            if current() and not replace:
                show_warning(str(args[0]))

        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.warned.connect(warned)
        worker.finished.connect(lambda: self._finished(lane, job))
        self._jobs[lane] = job
        if self._on_change:
            self._on_change(lane, True)
        worker.start()
        return worker

    def _finished(self, lane: str, job: _Job) -> None:
        if job.pbar is not None:
            job.pbar.close()
        if self._jobs.get(lane) is job:
            del self._jobs[lane]
            if self._on_change and not self.closed:
                self._on_change(lane, False)

    def cancel(self, lane: str | None = None) -> None:
        """Ask the job(s) to stop; a cancelled job adds nothing."""
        for name, job in list(self._jobs.items()):
            if lane is None or name == lane:
                job.cancel.set()

    def close(self) -> None:
        """The dock closed: stop everything and ignore what comes back."""
        self.closed = True
        self.cancel()


def _progress_bar(relay: _Relay, desc: str, cancel: threading.Event) -> Any:
    from napari.utils import cancelable_progress

    pbar = cancelable_progress(total=100, desc=desc, cancel_callback=cancel.set)

    def update(fraction: float, message: str) -> None:
        n = int(round(fraction * 100))
        if n > pbar.n:
            pbar.update(n - pbar.n)
        pbar.set_description(f"{desc}: {message}")

    relay.progressed.connect(update)
    relay._keep = update  # type: ignore[attr-defined]  # keep the slot alive with the relay
    return pbar
