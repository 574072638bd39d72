"""Scrolling in the dock: what an action made is scrolled into view, rows are never cut at
the top edge, and a short window scrolls the dock as one page.

Two scroll areas, one inside the other:

- :class:`FormScroll` holds the settings (colour space, the folded sections, Suggest K's
  answer). On a screen tall enough for the dock it shrinks, down to
  :data:`MIN_FORM_HEIGHT`, so the cluster table below keeps its rows.
- :class:`PageScroll` holds the form, Run and the cluster panel, and shares out their
  height: every part gets its least height, then the spare height goes to the *elastic*
  parts in turn (the clusters table up to its usual rows, the measure table, then the
  form). When even the least heights do not fit (napari's small default window) it scrolls
  them as one page, every elastic part at its full height ("page mode") instead of being
  squeezed to a sliver.

:func:`reveal` scrolls both so a widget is wholly in view; :func:`snap` keeps the top edge of
a scroll area on the top of a row, so no row is half hidden under the controls above it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from qtpy.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QBoxLayout,
    QComboBox,
    QGridLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from .flow import FlowLayout

MIN_FORM_HEIGHT = 80  # px the form keeps on a short screen (it scrolls below that)
MARGIN = 4  # px kept around a widget scrolled into view
MAX_PASSES = 4  # layouts tried when Qt's estimate of the content's height falls short


# what must not be squeezed: its words or rows would be cut
_MEASURED = (QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QTableWidget, QScrollArea)


class Elastic(Protocol):
    """A part of the page that can take height beyond its least: ``want`` px more to be
    shown whole; it is granted some of that (``grant``), all of it in page mode. Parts with
    a ``step`` (a table's row height) are served a row at a time in turn, before the parts
    without one."""

    @property
    def granted(self) -> int: ...

    @property
    def step(self) -> int: ...

    def want(self) -> int: ...

    def grant(self, px: int) -> None: ...


def _scroll_areas(widget: QWidget) -> list[QScrollArea]:
    """The scroll areas ``widget`` lies in, innermost first."""
    out = []
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            out.append(parent)
        parent = parent.parentWidget()
    return out


def row_tops(content: QWidget) -> list[int]:
    """The tops (in ``content``'s coordinates) of the rows of ``content``: the items of its
    vertical layouts, grids and the lines of flow layouts, at any depth."""
    tops = {0}

    def walk(layout: QLayout, owner: QWidget) -> None:
        vertical = isinstance(layout, QGridLayout | FlowLayout) or (
            isinstance(layout, QBoxLayout)
            and layout.direction() in (QBoxLayout.Direction.TopToBottom, QBoxLayout.Direction.BottomToTop)
        )
        for i in range(layout.count()):
            item = layout.itemAt(i)
            if item is None or item.isEmpty():
                continue
            if vertical:
                y = item.geometry().top()
                tops.add(y if owner is content else owner.mapTo(content, QPoint(0, y)).y())
            inner, widget = item.layout(), item.widget()
            if inner is not None:
                walk(inner, owner)
            elif widget is not None and widget.isVisibleTo(content):
                inside = widget.widget() if isinstance(widget, QScrollArea) else None
                host = inside if inside is not None else widget  # a scroll area's rows too
                own = host.layout()
                if own is not None:
                    walk(own, host)

    top_layout = content.layout()
    if top_layout is not None:
        walk(top_layout, content)
    return sorted(tops)


def snap(area: QScrollArea, old: int, keep: QWidget | None = None) -> None:
    """Move ``area``'s scroll position from where it is to the nearest row top in the
    direction it moved from ``old`` (down: the next row below; up: the row above), so the
    top edge shows a whole row. ``keep`` stays in view if it was."""
    bar, content = area.verticalScrollBar(), area.widget()
    if bar is None or content is None:
        return
    value = bar.value()
    if value in (old, bar.maximum()) or value <= 0:
        return
    tops = row_tops(content)
    if value > old:
        after = [t for t in tops if t >= value]
        target = min(after) if after else value
    else:
        before = [t for t in tops if t <= value]
        target = max(before) if before else value
    if keep is not None:
        top = keep.mapTo(content, QPoint(0, 0)).y()
        target = min(target, max(top - MARGIN, 0))  # never past the top of what is shown
    bar.setValue(min(target, bar.maximum()))


def deleted(obj: QObject) -> bool:
    """Whether the C++ side of ``obj`` is gone (its dock was closed): PyQt and PySide raise
    RuntimeError on any call then."""
    try:
        obj.objectName()
    except RuntimeError:
        return True
    return False


def after_layout(call: Callable[[], None], *needs: QObject) -> None:
    """Call ``call`` once Qt has laid out what is pending, unless one of ``needs`` was
    deleted meanwhile (the dock closed before the event loop came back)."""

    def now() -> None:
        if not any(deleted(w) for w in needs):
            call()

    QTimer.singleShot(0, now)


def reveal(widget: QWidget, *keep: QWidget) -> None:
    """Scroll every scroll area around ``widget`` so it is in view (its top first when it
    is taller than the view), then bring each of ``keep`` (a value just changed) back into
    view if that moved it out. The top edge is snapped to a row. The dock's own scroll
    areas keep ``widget`` in view while they are resized, until the person scrolls."""
    for area in _scroll_areas(widget):
        bar, inner = area.verticalScrollBar(), area.widget()
        if bar is None or inner is None:
            continue
        if isinstance(area, _Snapping):
            area.hold(widget, keep)
        old = bar.value()
        area.ensureWidgetVisible(widget, 0, MARGIN)
        top = widget.mapTo(inner, QPoint(0, 0)).y()
        if top < bar.value():  # taller than the view: its top (a heading, a title) first
            bar.setValue(max(top - MARGIN, 0))
        for k in keep:
            if k is not None and not deleted(k) and k.isVisible() and inner.isAncestorOf(k):
                area.ensureWidgetVisible(k, 0, MARGIN)
        snap(area, old, widget)


class _Snapping(QScrollArea):
    """A vertical scroll area whose top edge snaps to rows after the person scrolls, and
    which keeps one widget in view while it is resized until the person scrolls."""

    def __init__(self, content: QWidget):
        super().__init__()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content.installEventFilter(self)
        self.keep_in_view: Any = None  # a widget kept in view when the area's height changes
        self.keep_also: tuple[QWidget, ...] = ()  # ... and values kept in view after it
        self._dragging = False
        bar = self.verticalScrollBar()
        assert bar is not None
        self._last = bar.value()
        bar.sliderPressed.connect(self._on_pressed)
        bar.sliderReleased.connect(self._on_released)

    def show_widget(self, widget: Any, *keep: QWidget) -> None:
        """Scroll ``widget`` into view (``keep`` too, see :func:`reveal`), and keep it there
        while the area is resized (a Run that fills the table below shrinks it) until the
        person scrolls."""
        reveal(widget, *keep)

    def hold(self, widget: QWidget, keep: tuple[QWidget, ...] = ()) -> None:
        """Keep ``widget`` (and then ``keep``, see :func:`reveal`) in view from now on,
        until the person scrolls."""
        self.keep_also = keep
        if widget is not self.keep_in_view:
            self.keep_in_view = widget
            self.updateGeometry()

    def follow(self) -> None:
        """Scroll the widget held in view back into view (after a resize)."""
        bar, keep = self.verticalScrollBar(), self.keep_in_view
        if keep is not None and keep.isVisible() and bar is not None:
            old = bar.value()
            self.ensureWidgetVisible(keep, 0, MARGIN)
            inner = self.widget()
            top = keep.mapTo(inner, QPoint(0, 0)).y() if inner is not None else bar.value()
            if top < bar.value():
                bar.setValue(max(top - MARGIN, 0))
            for k in self.keep_also:
                if k.isVisible() and inner is not None and inner.isAncestorOf(k):
                    self.ensureWidgetVisible(k, 0, MARGIN)
            snap(self, old, keep)

    def release(self) -> None:
        if self.keep_in_view is not None:
            self.keep_in_view = None
            self.updateGeometry()  # what it kept in view no longer sets its least height

    def _on_pressed(self) -> None:
        self.release()
        self._dragging = True
        bar = self.verticalScrollBar()
        self._last = bar.value() if bar is not None else 0

    def _on_released(self) -> None:
        self._dragging = False
        snap(self, self._last)

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        bar = self.verticalScrollBar()
        old = bar.value() if bar is not None else 0
        super().wheelEvent(event)
        if bar is not None and bar.value() != old:
            self.release()
            snap(self, old)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.follow()

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        """The content changed size (a section opened, Suggest K's plot appeared): ask the
        dock to lay out again (a scroll area does not pass its content's size on)."""
        if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
            self.layout_changed()
        return super().eventFilter(obj, event)

    def layout_changed(self) -> None:
        """The content asked to be laid out again."""

    def _content_height(self, width: int) -> int:
        inner = self.widget()
        if inner is None:
            return 0
        lay = inner.layout()
        if lay is not None and lay.hasHeightForWidth():
            return max(inner.heightForWidth(width), inner.minimumSizeHint().height())
        return inner.sizeHint().height()


def squeezed(root: QWidget) -> int:
    """The most px any control, label, table or scroll area under ``root`` lacks of its
    least height (a wrapping label: of the height its lines need at its width)."""
    worst = 0
    for w in root.findChildren(QWidget):
        if not isinstance(w, _MEASURED) or not w.isVisibleTo(root):
            continue
        need = w.minimumSizeHint().height() if w.minimumHeight() == 0 else w.minimumHeight()
        if isinstance(w, QLabel) and w.wordWrap() and w.text():
            need = max(need, w.heightForWidth(w.width()))
        worst = max(worst, need - w.height())
    return worst


class LeastLayout(QVBoxLayout):
    """A vertical box whose height for a width is its *least* height for that width.

    Qt's box layouts take a child's height-for-width (a panel holding wrapping text has
    one) as that child's least height too: asked for its preferred height, a panel would
    squeeze the form above it. The dock's page shares the spare height out instead."""

    _asking = False  # Qt's minimumHeightForWidth asks heightForWidth first

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        if self._asking:
            return super().heightForWidth(width)
        self._asking = True
        try:
            return self.minimumHeightForWidth(width)
        finally:
            self._asking = False


def share(parts: list[Elastic], spare: int | None) -> list[int]:
    """How much of ``spare`` px each part gets (all it wants when ``spare`` is None): the
    parts with a ``step`` a step at a time in turn, so two tables both gain rows; then the
    others in order."""
    wants = [max(p.want(), 0) for p in parts]
    if spare is None:
        return wants
    given = [0] * len(parts)
    left = max(spare, 0)
    stepped = [i for i, p in enumerate(parts) if getattr(p, "step", 0) > 0]
    while left > 0 and any(given[i] < wants[i] for i in stepped):
        for i in stepped:
            more = min(parts[i].step, wants[i] - given[i], left)
            given[i] += max(more, 0)
            left -= max(more, 0)
    for i, _ in enumerate(parts):
        if i not in stepped:
            more = min(wants[i], left)
            given[i] += more
            left -= more
    return given


class FormScroll(_Snapping):
    """Scrolls the form; shown at least :data:`MIN_FORM_HEIGHT` tall, and as much more of
    its content as the page grants it (all of it in page mode, where it never scrolls
    itself)."""

    def __init__(self, content: QWidget):
        super().__init__(content)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.granted = 0
        self.step = 0  # served after the tables' rows

    def _whole(self) -> int:
        """The height that shows all of the form."""
        view = self.viewport()
        width = view.width() if view is not None else self.width()
        return self._content_height(width) + 2 * self.frameWidth()

    def least(self) -> int:
        """:data:`MIN_FORM_HEIGHT`, or the height of what an action just showed here (the
        Suggest K answer it keeps in view), so that is never cut."""
        keep = self.keep_in_view
        shown = (
            keep.height() + 2 * (MARGIN + self.frameWidth()) if keep is not None and keep.isVisible() else 0
        )
        return min(max(MIN_FORM_HEIGHT, shown), max(self._whole(), MIN_FORM_HEIGHT))

    def want(self) -> int:
        return max(self._whole() - self.least(), 0)

    def grant(self, px: int) -> None:
        """Take ``px`` more than its least height, or a little less: scrolled to its end,
        the view then starts at the top of a row (the rest goes to the tables below)."""
        px = max(int(px), 0)
        whole = px >= self.want()  # all of it shown: no scroll bar (nor room kept for one)
        inner = self.widget()
        if not whole and inner is not None:
            end = self._whole() - (self.least() + px)  # the scroll position of its end
            later = [t for t in row_tops(inner) if t >= end]
            if later:
                px = max(self._whole() - min(later) - self.least(), 0)
        policy = Qt.ScrollBarPolicy.ScrollBarAlwaysOff if whole else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        if px != self.granted or policy != self.verticalScrollBarPolicy():
            self.granted = px
            self.setVerticalScrollBarPolicy(policy)
            self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(super().sizeHint().width(), self.least() + self.granted)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        inner = self.widget()
        w = inner.minimumSizeHint().width() if inner is not None else 0
        bar = self.verticalScrollBar()
        if bar is not None and self.verticalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff:
            w += bar.sizeHint().width()
        return QSize(w, self.least() + self.granted)


class PageScroll(_Snapping):
    """The dock below its fixed top as one page: shares out its height, and scrolls only
    when the window is too short for the least height of everything in it (see the
    module's notes). ``elastic`` parts are served in their order.

    It sizes its content itself: Qt's resizable scroll area would give content with
    wrapping text its *preferred* height, and scroll, where squeezing the form fits."""

    def __init__(self, content: QWidget):
        super().__init__(content)
        self.setWidgetResizable(False)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.elastic: list[Elastic] = []
        self.page = False
        self._busy = False

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        inner = self.widget()
        w = inner.sizeHint().width() if inner is not None else 0
        return QSize(w, self._least(w) + sum(e.want() - e.granted for e in self.elastic))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        inner = self.widget()
        w = inner.minimumSizeHint().width() if inner is not None else 0
        return QSize(w + self._bar_width(), MIN_FORM_HEIGHT)

    def _bar_width(self) -> int:
        bar = self.verticalScrollBar()
        return bar.sizeHint().width() if bar is not None else 0

    def _least(self, width: int) -> int:
        """The content's least height at ``width`` with what is granted now."""
        inner = self.widget()
        if inner is None:
            return 0
        lay = inner.layout()
        if lay is not None and lay.hasHeightForWidth():
            return lay.minimumHeightForWidth(max(width, 1))
        return inner.minimumSizeHint().height()

    def least_height(self) -> int:
        """The content's least height with nothing granted, at the width it has with a
        scroll bar shown (so showing the bar cannot change the decision)."""
        return self._least(self._view().width() - self._bar_width()) - sum(e.granted for e in self.elastic)

    def _view(self) -> QSize:
        """The view's size without scroll bars, inside any frame (whatever the bar's policy)."""
        f = 2 * self.frameWidth()
        return QSize(self.width() - f, self.height() - f)

    def decide(self) -> None:
        """Page mode when the content cannot fit the view even squeezed; share out the
        spare height; size the content (the view's size when it fits). Qt's estimate of
        the least height of wrapping text is checked against the laid-out widgets and
        corrected, so nothing is squeezed below its least height."""
        if self._busy or self.widget() is None:
            return
        self._busy = True
        try:
            view = self._view()
            short = 0  # px the estimate fell short by, found by laying the content out
            for _ in range(MAX_PASSES):
                page = self.least_height() + short > view.height()
                if page != self.page:
                    self.page = page
                    self.setVerticalScrollBarPolicy(
                        Qt.ScrollBarPolicy.ScrollBarAlwaysOn
                        if page
                        else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
                    )
                # shared out at the width the content gets (wider without the bar)
                width = view.width() - (self._bar_width() if page else 0)
                least = self._least(width) - sum(e.granted for e in self.elastic) + short
                for e, give in zip(
                    self.elastic, share(self.elastic, None if page else view.height() - least)
                ):
                    e.grant(give)
                height = max(view.height(), self._least(width) + short) if page else view.height()
                missing = self._lay_out(width, height)
                if not missing:
                    break
                short += missing
            self.follow()
        finally:
            self._busy = False

    def _lay_out(self, width: int, height: int) -> int:
        """Size the content and lay it out now; returns how many px the most squeezed
        widget in it lacks (0 when every one has its least height)."""
        inner = self.widget()
        if inner is None:
            return 0
        if (inner.width(), inner.height()) != (width, height):
            inner.resize(width, height)
        lay = inner.layout()
        if lay is None:
            return 0
        lay.invalidate()
        lay.activate()
        return squeezed(inner)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.decide()

    def layout_changed(self) -> None:
        self.decide()


def in_view(widget: QWidget) -> bool:
    """True when the whole of ``widget`` is on screen now (not clipped by a scroll area or
    any other parent)."""
    if not widget.isVisible():
        return False
    region = widget.visibleRegion().boundingRect()
    return region.height() >= widget.height() and region.width() >= widget.width()
