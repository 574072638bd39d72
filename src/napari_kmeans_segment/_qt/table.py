"""The clusters table: one row per cluster, columns declared once in :data:`COLUMNS`.

Narrow enough for a 390-px dock without horizontal scrolling: the average colour (centre)
is folded into each row's tooltip and into a column that is hidden at first (right-click the
header to show it). To add a column (e.g. a stain amount or an object count), append a
:class:`Column` to :data:`COLUMNS` or call :meth:`ClusterTable.add_column`: its ``make``
builds the cell from the row's :class:`RowData`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from qtpy.QtCore import QModelIndex, QPoint, QSize, Qt
from qtpy.QtGui import QBrush, QColor, QPainter
from qtpy.QtWidgets import (
    QHeaderView,
    QMenu,
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
)

from .texts import tooltip

VISIBLE_ROWS = 6  # rows the table always has room for (at 1280x800)
FEW_ROWS = 2  # ... and while the measure section is open below it (the window must fit 800 px)
ROW_HEIGHT_EM = 1.6  # row height in font heights: compact, still easy to click
LABEL = Qt.ItemDataRole.UserRole  # every cell keeps its row's cluster label here
VALUE = Qt.ItemDataRole.UserRole + 1  # the cell's own value (sort key, colour)
DRAWN = Qt.ItemDataRole.UserRole + 2  # whether the canvas draws the row's label now
FIXED = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
SWATCH_WIDTH = 26  # px of the colour column
NARROW_HIDES = ("label",)  # hidden, in turn, while a narrow dock would cut the names


@dataclass
class RowData:
    """What one row shows: read from the clusters layer."""

    label: int
    rgba: np.ndarray  # the colour the layer's colormap draws it with (alpha 0: hidden)
    drawn: bool  # False when "show selected label" leaves it out
    features: Any  # the layer's features row (pandas Series): name, count, fraction, center_*
    center: str  # the average colour, as text


@dataclass
class Column:
    """One column: ``key`` (for code), ``header``, its tooltip key in texts.TOOLTIPS, how to
    make the cell, whether it takes the spare width, and whether it is shown at first."""

    key: str
    header: str
    tip: str
    make: Callable[[RowData], QTableWidgetItem]
    stretch: bool = False
    shown: bool = True


class _NumberItem(QTableWidgetItem):
    """Sorts by its number, not by its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return float(self.data(VALUE)) < float(other.data(VALUE))


def _show(row: RowData) -> QTableWidgetItem:
    item = QTableWidgetItem()
    item.setFlags(FIXED | Qt.ItemFlag.ItemIsUserCheckable)
    item.setCheckState(Qt.CheckState.Checked if row.rgba[3] > 0 else Qt.CheckState.Unchecked)
    return item


def _color(row: RowData) -> QTableWidgetItem:
    from .._session.stack import SEE_THROUGH_ALPHA

    item = QTableWidgetItem()
    item.setData(VALUE, [float(v) for v in row.rgba])
    item.setFlags(FIXED)
    if 0 < row.rgba[3] <= 2 * SEE_THROUGH_ALPHA:
        item.setToolTip(
            f"cluster {row.label}: drawn see-through (marked as background), so the image shows "
            f"through it; average colour {row.center}"
        )
    return item


class SwatchDelegate(QStyledItemDelegate):
    """Paints a cell's colour (its VALUE, RGBA in 0..1) as a swatch that stays visible
    when the row is selected (a cell background would be painted over by the selection):
    the selection shows as a frame around it. A see-through colour is hatched."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(SWATCH_WIDTH, super().sizeHint(option, index).height())

    def paint(self, painter: QPainter | None, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)  # the selection highlight, if any
        rgba = index.data(VALUE)
        if rgba is None or painter is None:
            return
        from .._session.stack import SEE_THROUGH_ALPHA

        color = QColor(*(int(round(float(v) * 255)) for v in list(rgba)[:3]))
        rect = option.rect.adjusted(3, 3, -3, -3)
        painter.save()
        painter.fillRect(rect, color)
        if 0 < float(rgba[3]) <= 2 * SEE_THROUGH_ALPHA:  # see-through: hatched over the theme
            painter.fillRect(rect, QBrush(option.palette.base().color(), Qt.BrushStyle.BDiagPattern))
        painter.restore()


def _label(row: RowData) -> QTableWidgetItem:
    item = _NumberItem(str(row.label))
    item.setData(VALUE, row.label)
    item.setFlags(FIXED)
    return item


def _name(row: RowData) -> QTableWidgetItem:
    name = str(row.features["name"])
    item = QTableWidgetItem(name)  # editable: double-click to rename
    item.setToolTip(f"{name}: cluster {row.label}, average colour {row.center}")  # when elided
    return item


def _share(row: RowData) -> QTableWidgetItem:
    fraction = float(row.features["fraction"])
    item = _NumberItem(f"{100 * fraction:.1f}")
    item.setData(VALUE, fraction)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setFlags(FIXED)
    return item


def _center(row: RowData) -> QTableWidgetItem:
    item = QTableWidgetItem(row.center)
    item.setFlags(FIXED)
    return item


COLUMNS: list[Column] = [
    Column("show", "show", "column_show", _show),
    Column("color", "", "column_color", _color),  # a swatch: the header's tooltip names it
    Column("label", "label", "column_label", _label),
    Column("name", "name", "column_name", _name, stretch=True),
    Column("share", "%", "column_share", _share),  # short: the names keep the width
    Column("center", "centre", "column_center", _center, shown=False),
]


class ClusterTable(QTableWidget):
    """The table widget: fills itself from :class:`RowData`, always has room for
    :data:`VISIBLE_ROWS` rows, and never asks the dock for more width."""

    def __init__(self, columns: list[Column] | None = None):
        super().__init__(0, 0)
        self.columns: list[Column] = []
        self._swatches = SwatchDelegate(self)
        self.min_rows = VISIBLE_ROWS  # the panel lowers it while the measure section is open
        self.setObjectName("clusters_table")
        self.setToolTip(tooltip("table"))
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        compact_rows(self)
        header = self.horizontalHeader()
        assert header is not None
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        header.setMinimumSectionSize(24)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.granted = 0  # px beyond min_rows the dock's page gives it
        self._auto_hidden: set[str] = set()  # columns hidden because the dock is narrow
        for col in columns if columns is not None else COLUMNS:
            self.add_column(col)

    # -- columns ---------------------------------------------------------------------------
    def add_column(self, column: Column, position: int | None = None) -> None:
        """Add a column (at ``position``, default last); call :meth:`fill` again after."""
        pos = len(self.columns) if position is None else position
        self.columns.insert(pos, column)
        self.insertColumn(pos)
        head = QTableWidgetItem(column.header)
        head.setToolTip(tooltip(column.tip))
        self.setHorizontalHeaderItem(pos, head)
        header = self.horizontalHeader()
        assert header is not None
        for i, col in enumerate(self.columns):
            mode = QHeaderView.ResizeMode.Stretch if col.stretch else QHeaderView.ResizeMode.ResizeToContents
            header.setSectionResizeMode(i, mode)
            self.setColumnHidden(i, not col.shown)
            # the swatch column draws its own colour, kept when the row is selected
            self.setItemDelegateForColumn(i, self._swatches if col.key == "color" else None)

    def _set_shown(self, i: int, on: bool) -> None:
        """The person shows or hides a column: their choice, never undone by :meth:`fit`."""
        self._auto_hidden.discard(self.columns[i].key)
        self.setColumnHidden(i, not on)
        self.fit()

    def fit(self) -> None:
        """In a narrow dock, hide the columns named in :data:`NARROW_HIDES` (in turn) while
        the names would not fit whole; show them again when there is room. From size
        hints, so the result does not depend on the widths it changes."""
        for key in list(self._auto_hidden):
            self.setColumnHidden(self.column_index(key), False)
        self._auto_hidden.clear()
        if "name" not in {c.key for c in self.columns}:
            return
        view = self.viewport()
        room = view.width() if view is not None and self.isVisible() else self.width()
        name = self.column_index("name")
        for key in NARROW_HIDES:
            shown = [c for c in range(self.columnCount()) if not self.isColumnHidden(c)]
            if sum(column_need(self, c) for c in shown) + 8 <= room:  # 8: rounding, the frame
                break
            if key in {c.key for c in self.columns} and not self.isColumnHidden(i := self.column_index(key)):
                if i != name:
                    self.setColumnHidden(i, True)
                    self._auto_hidden.add(key)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.fit()

    def column_index(self, key: str) -> int:
        """The index of the column ``key``."""
        return next(i for i, c in enumerate(self.columns) if c.key == key)

    def _header_menu(self, pos: QPoint) -> None:
        """Right-click on the header: show or hide columns."""
        menu = QMenu(self)
        for i, col in enumerate(self.columns):
            action = menu.addAction(col.header)
            assert action is not None
            action.setCheckable(True)
            action.setChecked(not self.isColumnHidden(i))
            action.toggled.connect(lambda on, i=i: self._set_shown(i, on))
        header = self.horizontalHeader()
        assert header is not None
        menu.exec(header.mapToGlobal(pos))

    # -- rows ------------------------------------------------------------------------------
    def fill(self, rows: list[RowData]) -> None:
        """Replace the rows (the caller blocks its own itemChanged handling meanwhile)."""
        self.setSortingEnabled(False)
        try:
            self.setRowCount(len(rows))
            for r, row in enumerate(rows):
                tip = f"cluster {row.label}, average colour {row.center}"
                for c, col in enumerate(self.columns):
                    item = col.make(row)
                    item.setData(LABEL, row.label)
                    item.setData(DRAWN, row.drawn)
                    if not item.toolTip():
                        item.setToolTip(tip)
                    if not row.drawn and row.rgba[3] > 0 and col.key != "color":
                        item.setForeground(QColor(128, 128, 128))  # dimmed by napari
                    self.setItem(r, c, item)
        finally:
            self.setSortingEnabled(True)
        self.fit()
        self.updateGeometry()  # its least height follows its rows

    def cell(self, row: int, key: str) -> QTableWidgetItem:
        item = self.item(row, self.column_index(key))
        assert item is not None, "every cell is filled by fill()"
        return item

    def labels_in(self, rows: set[int]) -> list[int]:
        return sorted(int(self.cell(r, "label").data(LABEL)) for r in rows)

    # -- size ------------------------------------------------------------------------------
    def set_min_rows(self, n: int) -> None:
        """Keep room for ``n`` rows at least (more rows scroll)."""
        self.min_rows = int(n)
        self.updateGeometry()

    @property
    def step(self) -> int:
        """A row: the dock's page gives the table its height a row at a time."""
        vh = self.verticalHeader()
        return vh.defaultSectionSize() if vh is not None else 20

    def least_rows(self) -> int:
        """Rows it keeps room for: :attr:`min_rows`, or fewer when it has fewer rows (before
        a Run an empty table leaves the height to the form)."""
        return min(self.min_rows, max(self.rowCount(), 1))

    def want(self) -> int:
        """px beyond :meth:`least_rows` to show its rows up to :data:`VISIBLE_ROWS`."""
        shown = min(max(self.rowCount(), 1), VISIBLE_ROWS)
        return max(rows_height(self, shown) - rows_height(self, self.least_rows()), 0)

    def grant(self, px: int) -> None:
        px = max(int(px), 0)
        if px != self.granted:
            self.granted = px
            self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(160, rows_height(self, self.least_rows()) + self.granted)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(340, rows_height(self, VISIBLE_ROWS))


def column_need(table: QTableWidget, column: int) -> int:
    """The width ``column`` needs for its header and its widest cell."""
    header = table.horizontalHeader()
    assert header is not None
    return max(header.sectionSizeHint(column), table.sizeHintForColumn(column))


def compact_rows(table: QTableWidget) -> None:
    """One line per row, ROW_HEIGHT_EM font heights tall, long text elided in the middle (the
    whole text is in the cell's tooltip): the panel's two tables look and size alike."""
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    vh = table.verticalHeader()
    assert vh is not None
    vh.setVisible(False)
    vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vh.setDefaultSectionSize(int(table.fontMetrics().lineSpacing() * ROW_HEIGHT_EM))


def rows_height(table: QTableWidget, n: int) -> int:
    """The height of ``table`` showing its header and ``n`` rows (from size hints, so it is
    right before the table is shown)."""
    header = table.horizontalHeader()
    vh = table.verticalHeader()
    assert header is not None and vh is not None
    return header.sizeHint().height() + n * vh.defaultSectionSize() + 2 * table.frameWidth()
