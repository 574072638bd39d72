"""The one way the dock tells a person that an action failed.

Every button, menu entry, tick box and background job of the dock ends in :func:`report_error`
when it fails, with one behaviour:

- an expected error (:data:`EXPECTED`: bad input, a file that cannot be read or written, a
  damaged model) is one napari error notification whose text is the error's message, which
  says what to do; the action changed nothing (the core and the session check before they
  write);
- a cancelled job is one info notification;
- anything else is a bug: napari's error notification says the action failed unexpectedly,
  and the traceback goes to the log.

:func:`guarded` wraps a callback (a Qt slot) in that behaviour and returns None when it
failed; :class:`~._qt.jobs.Jobs` reports a failed background job the same way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from napari.utils.notifications import show_error, show_info

from .._core import Cancelled

log = logging.getLogger(__name__)

#: Errors a person can cause and fix (the core's own ``Damaged`` model file is a ValueError).
EXPECTED: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError)

T = TypeVar("T")


def expected(exc: BaseException) -> bool:
    """True for an error the person can fix from its message (not a bug, not a cancel)."""
    return isinstance(exc, EXPECTED) and not isinstance(exc, Cancelled)


def report_error(exc: BaseException, what: str) -> None:
    """Tell the person that ``what`` failed: cancelled, bad input (its message), or a bug."""
    if isinstance(exc, Cancelled):
        show_info(f"{what} cancelled; nothing was added.")
    elif expected(exc):
        show_error(str(exc))
    else:  # a bug: say so, and keep the traceback in the log
        log.error("%s failed", what, exc_info=exc)
        show_error(
            f"{what} failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug; "
            "the details are in the log."
        )


def guarded(
    fn: Callable[..., T],
    what: str = "",
    *,
    on_error: Callable[[BaseException], None] | None = None,
) -> Callable[..., T | None]:
    """``fn`` as a callback that never raises: a failure goes to :func:`report_error`
    (after ``on_error``, e.g. to put the reason in the status line) and gives None.

    ``what`` names the action in the "failed unexpectedly" message (default: the
    function's name).
    """
    name = what or getattr(fn, "__name__", "").strip("_").replace("_", " ") or "The action"

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> T | None:
        try:
            return fn(*a, **kw)
        except Exception as exc:  # told to the person, never lost in Qt's event loop
            if on_error is not None:
                on_error(exc)
            report_error(exc, name)
            return None

    return wrapper
