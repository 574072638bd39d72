"""A row of buttons that wraps onto more lines instead of cutting their words.

Qt's box layouts squeeze buttons below their text ("show al", "xtrac") when the dock is
narrow. :class:`FlowLayout` gives every widget at least the width its text needs and starts
a new line when the next one does not fit; the spare width of each line is shared out
(by stretch factor) so a full line looks like a row of equal buttons. A widget wider than
the whole line (a long model name) gets the line's width and must elide itself.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QPoint, QRect, QSize, Qt
from qtpy.QtWidgets import QAbstractSpinBox, QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    """Left-to-right lines of widgets at their preferred width, wrapped to the width given.

    Parameters
    ----------
    parent : QWidget, optional
    spacing : int
        Between widgets and between lines, in px.
    """

    def __init__(self, parent: QWidget | None = None, spacing: int = 4):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._stretch: list[int] = []
        self.setContentsMargins(0, 0, 0, 0)
        self.setSpacing(spacing)

    # -- QLayout's interface -----------------------------------------------------------------
    def addItem(self, item: QLayoutItem | None) -> None:  # noqa: N802 - Qt's name
        if item is None:
            return
        self._items.append(item)
        self._stretch.append(1)

    def add_widget(self, widget: QWidget, stretch: int = 1) -> None:
        """Add ``widget``; ``stretch`` is its share of a line's spare width (0: none)."""
        self.addWidget(widget)
        self._stretch[-1] = int(stretch)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt's name
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt's name
        if not 0 <= index < len(self._items):
            return None
        self._stretch.pop(index)
        return self._items.pop(index)

    def expandingDirections(self) -> Any:  # noqa: N802 - Qt's name
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        return self._place(QRect(0, 0, width, 0), apply=False)

    def minimumHeightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        return self.heightForWidth(width)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 - Qt's name
        super().setGeometry(rect)
        self._place(rect, apply=True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        """Everything on one line."""
        shown = self._shown()
        m = self.contentsMargins()
        w = sum(_hint(it).width() for it, _ in shown) + self.spacing() * max(len(shown) - 1, 0)
        h = max((_hint(it).height() for it, _ in shown), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802 - Qt's name
        """As narrow as the widest widget's minimum: the layout wraps below its hint."""
        shown = self._shown()
        m = self.contentsMargins()
        w = max((it.minimumSize().width() for it, _ in shown), default=0)
        h = max((_hint(it).height() for it, _ in shown), default=0)
        return QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    # -- placing -----------------------------------------------------------------------------
    def _shown(self) -> list[tuple[QLayoutItem, int]]:
        return [(it, s) for it, s in zip(self._items, self._stretch) if not it.isEmpty()]

    def lines(self, width: int) -> list[list[QLayoutItem]]:
        """The items on each line at ``width`` (what :meth:`setGeometry` lays out)."""
        return [[it for it, _ in line] for line in self._lines(width)]

    def _lines(self, width: int) -> list[list[tuple[QLayoutItem, int]]]:
        gap = self.spacing()
        lines: list[list[tuple[QLayoutItem, int]]] = []
        used = 0
        for it, stretch in self._shown():
            w = min(_hint(it).width(), width)
            if lines and lines[-1] and used + gap + w <= width:
                lines[-1].append((it, stretch))
                used += gap + w
            else:
                lines.append([(it, stretch)])
                used = w
        return lines

    def _place(self, rect: QRect, apply: bool) -> int:
        m = self.contentsMargins()
        inner = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        width, gap = max(inner.width(), 1), self.spacing()
        y = inner.y()
        for line in self._lines(width):
            widths = [min(_hint(it).width(), width) for it, _ in line]
            spare = width - sum(widths) - gap * (len(line) - 1)
            weights = [s for _, s in line]
            total = sum(weights)
            if spare > 0 and total > 0:  # share the spare width by stretch
                given = [spare * s // total for s in weights]
                given[weights.index(max(weights))] += spare - sum(given)
                widths = [w + g for w, g in zip(widths, given)]
            height = max(_hint(it).height() for it, _ in line)
            x = inner.x()
            for (it, _), w in zip(line, widths):
                if apply:
                    it.setGeometry(QRect(QPoint(x, y), QSize(w, height)))
                x += w + gap
            y += height + gap
        return y - gap - rect.y() + m.bottom() if y > inner.y() else m.top() + m.bottom()


def _hint(item: QLayoutItem) -> QSize:
    """The item's preferred size, whatever its size policy (Qt's own answer is 0 wide for an
    "Ignored" policy, which eliding labels use so that box layouts may squeeze them)."""
    w = item.widget()
    if w is None:
        return item.sizeHint()
    return w.sizeHint().expandedTo(w.minimumSize()).boundedTo(w.maximumSize())


def flowing(row: Any) -> Any:
    """``row`` (a horizontal magicgui container) with its widgets in a
    :class:`~.flow.FlowLayout`: they wrap onto a second line rather than be cut. The
    container still lists them (``row["name"]``, ``reset_choices``)."""
    row.margins = (0, 0, 0, 0)
    holder = QWidget()
    flow = FlowLayout(holder)
    for w in row:
        flow.add_widget(w.native, 0 if isinstance(w.native, QAbstractSpinBox) else 1)
    layout = row.native.layout()
    assert layout is not None
    layout.addWidget(holder)
    return row
