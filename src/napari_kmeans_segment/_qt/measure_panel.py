"""The measure section of the cluster panel: background marks, areas and shares of tissue,
the objects table export, and the uncertainty map.

A view of one session's :class:`~.._measure_session.SessionMeasure`: the table is read from
the clusters layer's ``features`` (where the background marks and areas live) whenever the
session changes; each control is one call into the session. The uncertainty map is computed
through the background-job helper (its own lanes), cancellable from napari's activity panel
or by pressing the button again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_info
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .._colors import label_colors
from .._measure_session import UNCERTAINTY_KINDS
from .jobs import Jobs
from .table import FEW_ROWS, compact_rows, rows_height
from .texts import file_name, tooltip

if TYPE_CHECKING:
    from .._session import ClusterSession

COLUMNS = ["label", "background", "pixels", "area", "% image", "% tissue"]
_TIPS = [
    "column_label",
    "column_background",
    "column_area_px",
    "column_area",
    "column_image_share",
    "column_tissue_share",
]
TITLE = "measure: background, areas, objects, uncertainty"
MARK_COLUMN = COLUMNS.index("background")  # the name, with the background tick box
MAX_ROWS = 6  # the table asks for room for this many rows at most (more scroll), as the
# clusters table does, so that the two share the dock's height


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    from .panel import guarded

    return guarded(fn)


def _number(value: float) -> str:
    """Readable without exponents: 22,137 or 0.0312 (empty for NaN)."""
    if math.isnan(value):
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def percent(value: float) -> str:
    """One format for every share: one decimal (34.0, 7.2), two significant digits below 1%
    (0.34, 0.031) so that a small cluster does not read as 0; empty for NaN."""
    if math.isnan(value):
        return ""
    if value == 0 or abs(round(value, 1)) >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def swatch(rgba: Any, size: int = 10) -> QIcon:
    """A small square of the cluster's colour, as the clusters table shows it."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*(int(round(float(v) * 255)) for v in list(rgba)[:3])))
    return QIcon(pixmap)


class MeasurePanel(QWidget):
    """Folded under a title at first; the summary line stays visible."""

    def __init__(self) -> None:
        super().__init__()
        self.session: ClusterSession | None = None
        self._updating = False
        jobs = self.jobs = Jobs(self._on_jobs)
        self.destroyed.connect(lambda *_: jobs.close())  # the dock closed: drop what comes back

        self.toggle = QToolButton()
        self.toggle.setText(TITLE)
        self.toggle.setToolTip(tooltip("measure"))
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.toggle.toggled.connect(self.set_expanded)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setToolTip(tooltip("tissue_summary"))
        # beside the summary, so it is seen with the section folded: it changes the overlay
        self.see_through = QCheckBox("background see-through in the overlay")
        self.see_through.setObjectName("see_through")
        self.see_through.setToolTip(tooltip("see_through"))
        self.see_through.toggled.connect(self._on_see_through)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setToolTip(tooltip("measure_table"))
        for c, key in enumerate(_TIPS):
            header = self.table.horizontalHeaderItem(c)
            if header is not None:
                header.setToolTip(tooltip(key))
        compact_rows(self.table)  # one line per row, like the clusters table; names elided
        # share the dock's width rather than widen it or scroll sideways: the numbers take
        # what they need, the names the rest
        heads = self.table.horizontalHeader()
        assert heads is not None
        heads.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        heads.setSectionResizeMode(MARK_COLUMN, QHeaderView.ResizeMode.Stretch)
        heads.setMinimumSectionSize(24)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.table.setMinimumHeight(rows_height(self.table, FEW_ROWS))
        self.table.itemChanged.connect(self._on_item_changed)
        self.uncertainty_btn = QPushButton("uncertainty map")
        self.uncertainty_btn.setToolTip(tooltip("uncertainty"))
        self.uncertainty_btn.clicked.connect(lambda *_: _guarded(self.start_uncertainty)())
        self.uncertainty_kind = QComboBox()
        for kind, (text, _) in UNCERTAINTY_KINDS.items():
            self.uncertainty_kind.addItem(text, kind)
        self.uncertainty_kind.setToolTip(tooltip("uncertainty_kind"))
        self.export_objects_btn = QPushButton("objects CSV…")
        self.export_objects_btn.setToolTip(tooltip("export_objects"))
        self.export_objects_btn.clicked.connect(lambda *_: _guarded(self._export_objects)())

        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(12, 0, 0, 0)
        body.addWidget(self.table, 1)
        buttons = QHBoxLayout()  # one row: the section must fit beside the clusters table
        for w in (self.uncertainty_btn, self.uncertainty_kind, self.export_objects_btn):
            w.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            w.setMinimumWidth(40)
            buttons.addWidget(w, 1)
        body.addLayout(buttons)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.toggle)
        lay.addWidget(self.summary)
        lay.addWidget(self.see_through)
        lay.addWidget(self.body, 1)
        self.set_expanded(False)

    # -- what the section observes ---------------------------------------------------------------
    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, on: bool) -> None:
        self.toggle.setChecked(bool(on))
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(bool(on))

    def set_session(self, session: ClusterSession | None) -> None:
        if self.session is not None:
            self.session.changed.disconnect(self.refresh)
        self.session = session
        if session is not None:
            session.changed.connect(self.refresh)
        self.refresh()

    def _on_jobs(self, lane: str, busy: bool) -> None:
        if lane == "uncertainty":
            self.uncertainty_btn.setText("cancel uncertainty map" if busy else "uncertainty map")

    # -- reading the layer ------------------------------------------------------------------------
    def refresh(self, _: Any = None) -> None:
        s = self.session
        layer = None if s is None or s.seg is None else s.clusters
        f = None if layer is None else layer.features
        self._updating = True
        try:
            self.see_through.setEnabled(f is not None)
            self.see_through.setChecked(s is not None and f is not None and s.see_through)
            if f is None or "area_px" not in f.columns:
                self.table.setRowCount(0)
                self.summary.setText("")
                return
            unit = str(f["area_unit"].iloc[0])
            self.table.setHorizontalHeaderLabels(COLUMNS[:3] + [f"area ({unit})"] + COLUMNS[4:])
            self.table.setColumnHidden(3, unit == "px")  # the same numbers as 'pixels'
            self.table.setRowCount(len(f))
            colors = label_colors(layer, [int(v) for v in f["index"]])
            for r, ((_, row), rgba) in enumerate(zip(f.iterrows(), colors)):
                for c, item in enumerate(self._row_items(row, rgba)):
                    self.table.setItem(r, c, item)
            self._fit_height()
            self.summary.setText(self._summary(f, unit))
        finally:
            self._updating = False

    @staticmethod
    def _row_items(row: Any, rgba: Any) -> list[QTableWidgetItem]:
        fixed = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        label, name = int(row["index"]), str(row["name"])
        tip = f"{name} (cluster {label})"
        number = QTableWidgetItem(str(label))  # with its colour, to find it in the image
        number.setIcon(swatch(rgba))
        mark = QTableWidgetItem(name)
        mark.setFlags(fixed | Qt.ItemFlag.ItemIsUserCheckable)
        mark.setCheckState(Qt.CheckState.Checked if bool(row["background"]) else Qt.CheckState.Unchecked)
        mark.setData(Qt.ItemDataRole.UserRole, label)
        items = [number, mark]
        for value, text in (
            (float(row["area_px"]), _number),
            (float(row["area"]), _number),
            (100 * float(row["share"]), percent),
            (100 * float(row["tissue_share"]), percent),
        ):
            item = QTableWidgetItem(text(value))
            item.setData(Qt.ItemDataRole.UserRole, value)  # the number, for rows()
            items.append(item)
        for item in items:
            item.setToolTip(tip)  # the whole name, however narrow the column
            if item is not mark:
                item.setFlags(fixed)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return items

    def _fit_height(self) -> None:
        """Room for its rows up to MAX_ROWS (then it scrolls) and no more, so the clusters
        table keeps the rest; it may shrink to FEW_ROWS rows so the dock fits a short screen.
        From size hints, as it may not be shown yet."""
        self.table.setMaximumHeight(rows_height(self.table, min(max(self.table.rowCount(), 1), MAX_ROWS)))

    @staticmethod
    def _summary(f: Any, unit: str) -> str:
        bg = f["background"].to_numpy(bool)
        if not bg.any():
            return (
                "No cluster is marked as background, so the tissue is the whole image; "
                "open 'measure' and tick background."
            )
        share = float(f.loc[~bg, "share"].sum())
        area = float(f.loc[~bg, "area"].sum())
        names = ", ".join(f"'{n}'" for n in f.loc[bg, "name"])
        return f"Tissue: {100 * share:.1f}% of the image ({_number(area)} {unit}); background: {names}."

    def rows(self) -> list[dict]:
        """What the table shows (for tests and scripts): label, name, background, pixels,
        area, share and tissue_share in percent (NaN when empty), as numbers."""
        out = []
        for r in range(self.table.rowCount()):
            _, mark, px, area, share, tissue = (self._cell(r, c) for c in range(len(COLUMNS)))
            role = Qt.ItemDataRole.UserRole
            out.append(
                {
                    "label": int(mark.data(role)),
                    "name": mark.text(),
                    "background": mark.checkState() == Qt.CheckState.Checked,
                    "pixels": int(px.data(role)),
                    "area": float(area.data(role)),
                    "share": float(share.data(role)),
                    "tissue_share": float(tissue.data(role)),
                }
            )
        return out

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.table.item(row, column)
        assert item is not None, "every cell is filled by refresh()"
        return item

    # -- actions ----------------------------------------------------------------------------------
    def _require(self) -> ClusterSession:
        if self.session is None:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        return self.session

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating or item.column() != MARK_COLUMN:
            return
        marks = [
            int(m.data(Qt.ItemDataRole.UserRole))
            for m in (self.table.item(r, MARK_COLUMN) for r in range(self.table.rowCount()))
            if m is not None and m.checkState() == Qt.CheckState.Checked
        ]
        _guarded(lambda: self._require().measure.set_background(marks))()
        self.refresh()  # a refused request shows the marks as they are

    def _on_see_through(self, on: bool) -> None:
        if not self._updating:
            _guarded(lambda: self._require().set_see_through(on))()

    def start_uncertainty(self, kind: str | None = None) -> Any:
        """Compute the uncertainty map of the current result in the background (the worker),
        or cancel the one running."""
        if self.jobs.busy("uncertainty"):
            self.jobs.cancel("uncertainty")
            return None
        s = self._require()
        kind = kind or self.uncertainty_kind.currentData()
        compute, done = s.measure.uncertainty_job(kind)
        return self.jobs.start("uncertainty", f"Uncertainty map of {s.source.name}", compute, done)

    def start_objects(self, labels: list[int], min_size: int = 0) -> Any:
        """Extract and measure the objects of ``labels`` in the background (the worker; None
        if objects are already being measured). The progress bar's Cancel drops the result."""
        s = self._require()
        compute, done = s.measure.objects_job(labels, min_size)
        return self.jobs.start("objects", f"Objects of cluster(s) {labels} in {s.source.name}", compute, done)

    def _export_objects(self) -> None:
        s = self._require()
        layer = s.measure.objects_layer(s.viewer.layers.selection.active)
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export the objects of '{layer.name}'", file_name(f"{layer.name}.csv"), "CSV (*.csv)"
        )
        if path:
            show_info(f"Objects table written to {s.measure.export_objects(path, layer)}.")
