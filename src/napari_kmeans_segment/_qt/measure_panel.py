"""The measure section of the cluster panel: background marks, areas and shares of tissue,
the pixel size, the objects extracted (count and areas) and their export, and the
uncertainty map.

Seen with the section folded: the tissue summary, the objects counted (:attr:`counts`) and
the see-through option. In the body: the table, the pixel size (offered while the image has
no physical unit) and the buttons, which wrap onto more lines rather than cut their words.

A view of one session's :class:`~.._session.measure.SessionMeasure`: the table is read from
the clusters layer's ``features`` (where the background marks and areas live) whenever the
session changes; each control is one call into the session. The uncertainty map is computed
through the background-job helper (its own lanes), cancellable from napari's activity panel
or by pressing the button again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_info
from qtpy.QtCore import QEvent, Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
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

from .._core.measure.foreground import FOREGROUNDS
from .._session.colors import label_colors
from .._session.measure import LENGTH_UNITS, UNCERTAINTY_KINDS
from .flow import FlowLayout
from .guard import guarded
from .jobs import Jobs
from .scroll import LeastLayout
from .table import FEW_ROWS, column_need, compact_rows, rows_height
from .texts import file_name, tooltip

if TYPE_CHECKING:
    from .._session.session import ClusterSession

COLUMNS = ["label", "background", "pixels", "area", "% image", "% tissue"]
_TIPS = [
    "column_label",
    "column_background",
    "column_area_px",
    "column_area",
    "column_image_share",
    "column_tissue_share",
]
TITLE = "measure"  # its tooltip says what is in it
#: Where the objects come from: the clusters selected in the table, or a named choice.
SOURCES = [("selected clusters", None)] + [(name, name) for name in FOREGROUNDS]
MARK_COLUMN = COLUMNS.index("background")  # the name, with the background tick box
#: The heading of that column: "name" while it shows the names beside the tick boxes (the
#: summary above and the heading's tooltip say that a tick marks background), "background"
#: when a narrow dock leaves the tick boxes alone.
MARK_HEADINGS = {True: "name", False: "background"}
IMAGE_COLUMN = COLUMNS.index("% image")  # the first to go in a narrow dock
NAME = Qt.ItemDataRole.UserRole + 1  # the cluster's name (shown or not)
CHECK_WIDTH = 28  # px of a cell's tick box and padding
FIT_SLACK = 8  # px kept spare when deciding what fits (widths round, a frame)
MAX_ROWS = 6  # the table asks for room for this many rows at most (more scroll), as the
# clusters table does, so that the two share the dock's height


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


#: "H-score" is one word: a plain hyphen lets the wrapped summary break it as "H-" / "score"
NB_HYPHEN = "\N{NON-BREAKING HYPHEN}"


def stain_summary(report: Any, f: Any, unit: str) -> tuple[str, str]:
    """(short text, full text) of the slide's numbers: tissue (area) and glass, DAB
    positivity with its bins and H-score, and the number of warnings; the full text (the
    label's tooltip) adds the thresholds, saturated pixels, background marks and warnings."""
    per_px = float(f["area"].iloc[0] / f["area_px"].iloc[0]) if len(f) and f["area_px"].iloc[0] else 1.0
    b = 100 * report.bin_shares()
    short = (
        f"Tissue {percent(100 * report.tissue_share)}% ({_number(report.tissue_px * per_px)} {unit}), "
        f"glass {percent(100 * report.glass_share)}% (label 0). DAB+ {percent(100 * report.positive_share)}% "
        f"of tissue (weak {percent(b[1])}, moderate {percent(b[2])}, strong {percent(b[3])}); "
        f"H{NB_HYPHEN}score\N{NO-BREAK SPACE}{report.h_score:.0f}."
    )
    if report.warnings:
        short += f" {len(report.warnings)} warning(s): hover here."
    lines = [
        short,
        "The glass is told from the tissue by optical density and left out of the clusters (label 0). "
        f"DAB optical density from {' / '.join(f'{t:.2g}' for t in report.thresholds)} is weak / "
        "moderate / strong.",
        "DAB+ is per pixel: every tissue pixel whose DAB optical density is above the weak "
        "threshold, whatever its cluster. It is not the DAB cluster's share (the table's % "
        "tissue), which moves with K and with where k-means draws the clusters' borders. "
        "Report DAB+ with its bins and H-score.",
        f"Saturated: {_number(report.saturated_px)} px of the tissue.",
    ]
    bg = f["background"].to_numpy(bool)
    if bg.any():
        names = ", ".join(f"'{n}'" for n in f.loc[bg, "name"])
        lines.append(f"Also left out of the % tissue column: {names}.")
    lines += [f"Warning: {note}" for note in report.warnings]
    return short, "\n".join(lines)


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
        self.toggle.toggled.connect(self.set_expanded)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setToolTip(tooltip("tissue_summary"))
        # beside the summary, so it is seen with the section folded: it changes the overlay
        self.see_through = QCheckBox("see-through background")
        self.see_through.setObjectName("see_through")
        self.see_through.setToolTip(tooltip("see_through"))
        self.see_through.toggled.connect(self._on_see_through)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self._mark_heading(True)
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
        self.table.installEventFilter(self)  # a narrow dock: fewer columns, never cut names
        self._names = True  # the names are shown beside the background tick boxes
        self.uncertainty_btn = QPushButton("uncertainty map")
        self.uncertainty_btn.setToolTip(tooltip("uncertainty"))
        self.uncertainty_btn.clicked.connect(lambda *_: guarded(self.start_uncertainty, "uncertainty map")())
        self.uncertainty_kind = QComboBox()
        for i, (kind, (text, how)) in enumerate(UNCERTAINTY_KINDS.items()):
            # one word each, so the choice is never cut; the item's tooltip says the rest
            self.uncertainty_kind.addItem(kind, kind)
            self.uncertainty_kind.setItemData(i, f"{text}: {how}", Qt.ItemDataRole.ToolTipRole)
        self.uncertainty_kind.setToolTip(tooltip("uncertainty_kind"))
        # objects: their source, touching ones apart, and the count in sight
        self.source = QComboBox()
        for text, value in SOURCES:
            self.source.addItem(text, value)
        self.source.setCurrentIndex(1)  # fluorescence: everything brighter than the background
        self.source.setToolTip(tooltip("objects_source"))
        self.source.currentIndexChanged.connect(self.refresh)  # the summary names its clusters
        self.split = QCheckBox("split touching")
        self.split.setChecked(True)
        self.split.setToolTip(tooltip("split"))
        self.count_btn = QPushButton("count objects")
        self.count_btn.setToolTip(tooltip("count_objects"))
        self.counts = QLabel("")
        self.counts.setWordWrap(True)
        self.counts.setObjectName("object_counts")
        self.counts.setToolTip(tooltip("object_counts"))
        self.export_objects_btn = QPushButton("objects CSV…")
        self.export_objects_btn.setToolTip(tooltip("export_objects"))
        self.export_objects_btn.clicked.connect(lambda *_: guarded(self._export_objects, "objects CSV")())
        # the pixel size, while the image has none: areas then come in that unit
        self.pixel_row = QWidget()
        self.pixel_row.setToolTip(tooltip("pixel_size"))
        pixel = FlowLayout(self.pixel_row)
        self.pixel_label = QLabel("pixel size")
        self.pixel_size = QDoubleSpinBox()
        self.pixel_size.setObjectName("pixel_size")
        self.pixel_size.setDecimals(4)
        self.pixel_size.setRange(0.0001, 1e6)
        self.pixel_size.setValue(1.0)
        self.pixel_size.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)  # narrow
        self.pixel_unit = QComboBox()
        self.pixel_unit.setObjectName("pixel_unit")
        self.pixel_unit.setEditable(True)  # any length pint knows ("um", "inch")
        self.pixel_unit.addItems(list(LENGTH_UNITS))
        self.pixel_unit.setCurrentText("µm")
        self.pixel_set_btn = QPushButton("set")
        self.pixel_set_btn.setObjectName("set_pixel_size")
        self.pixel_set_btn.clicked.connect(lambda *_: guarded(self._set_pixel_size, "set pixel size")())
        for w, stretch in ((self.pixel_label, 0), (self.pixel_size, 1), (self.pixel_unit, 1)):
            w.setToolTip(tooltip("pixel_size"))
            pixel.add_widget(w, stretch)
        self.pixel_set_btn.setToolTip(tooltip("pixel_size"))
        pixel.add_widget(self.pixel_set_btn, 1)
        self.pixel_row.setVisible(False)

        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(12, 0, 0, 0)
        body.addWidget(self.table, 1)
        body.addWidget(self.pixel_row)
        objects = FlowLayout()  # wraps onto a second line rather than cut the words
        for part, stretch in ((self.source, 1), (self.split, 0), (self.count_btn, 1)):
            objects.add_widget(part, stretch)
        body.addLayout(objects)
        buttons = FlowLayout()
        for button in (self.uncertainty_btn, self.uncertainty_kind, self.export_objects_btn):
            buttons.add_widget(button, 1)
        body.addLayout(buttons)
        lay = LeastLayout(self)  # the dock's page shares the spare height out
        lay.setContentsMargins(0, 0, 0, 0)
        head = FlowLayout()  # the option beside the title, below it in a narrow dock
        head.add_widget(self.toggle, 0)
        head.add_widget(self.see_through, 1)
        lay.addLayout(head)
        lay.addWidget(self.summary)
        lay.addWidget(self.counts)  # in sight while the section is folded, as the summary
        lay.addWidget(self.body, 1)
        self.granted = 0  # px beyond the table's least height the dock's page gives it
        self.set_expanded(False)

    # -- what the section observes ---------------------------------------------------------------
    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, on: bool) -> None:
        self.toggle.setChecked(bool(on))
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(bool(on))
        if self.session is not None:  # the summary's advice depends on the table being in sight
            self.refresh()

    @property
    def step(self) -> int:
        """A row of its table: the dock's page gives it height a row at a time."""
        vh = self.table.verticalHeader()
        return vh.defaultSectionSize() if vh is not None else 20

    def want(self) -> int:
        """px beyond FEW_ROWS rows to show every row up to MAX_ROWS (the dock's page)."""
        return self._most() - self._least() if self.body.isVisibleTo(self) else 0

    def grant(self, px: int) -> None:
        px = max(int(px), 0)
        if px != self.granted:
            self.granted = px
            self._fit_height()

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
        elif lane == "objects":
            self.count_btn.setText("cancel counting" if busy else "count objects")

    # -- reading the layer ------------------------------------------------------------------------
    def refresh(self, _: Any = None) -> None:
        s = self.session
        layer = None if s is None or s.seg is None else s.clusters
        f = None if layer is None else layer.features
        self._updating = True
        try:
            self.see_through.setEnabled(f is not None)
            self.see_through.setChecked(s is not None and f is not None and s.see_through)
            self.counts.setText("" if s is None or s.seg is None else s.measure.objects_summary())
            self.counts.setVisible(bool(self.counts.text()))
            self.pixel_row.setVisible(s is not None and f is not None and s.measure.pixel_size() is None)
            if f is None or "area_px" not in f.columns:
                self.table.setRowCount(0)
                self.summary.setText("")
                return
            unit = str(f["area_unit"].iloc[0])
            word = self._word()
            self.table.setHorizontalHeaderLabels(COLUMNS[:3] + [f"area ({unit})", COLUMNS[4], f"% {word}"])
            # one area column: in pixels, or in the image's unit (the pixels are in the CSV)
            self.table.setColumnHidden(2, unit != "px")
            self.table.setColumnHidden(3, unit == "px")
            self.table.setRowCount(len(f))
            colors = label_colors(layer, [int(v) for v in f["index"]])
            for r, ((_, row), rgba) in enumerate(zip(f.iterrows(), colors)):
                for c, item in enumerate(self._row_items(row, rgba)):
                    self.table.setItem(r, c, item)
            self._fit_height()
            self._fit_columns()
            report = s.measure.stains() if s is not None else None
            if report is None:
                self.summary.setText(self._summary(f, unit, word))
                self.summary.setToolTip(tooltip("tissue_summary"))
            else:
                short, full = stain_summary(report, f, unit)
                self.summary.setText(short)
                self.summary.setToolTip(full)
        finally:
            self._updating = False

    def _word(self) -> str:
        """ "tissue" for slides (a stain run, color space "hed"), "foreground" elsewhere: a
        fluorescence image has no tissue, and a photo none either."""
        s = self.session
        seg = None if s is None else s.seg
        return "tissue" if seg is not None and seg.params.get("color_space") == "hed" else "foreground"

    def _row_items(self, row: Any, rgba: Any) -> list[QTableWidgetItem]:
        fixed = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        label, name = int(row["index"]), str(row["name"])
        tip = f"{name} (cluster {label})"
        number = QTableWidgetItem(str(label))  # with its colour, to find it in the image
        number.setIcon(swatch(rgba))
        mark = QTableWidgetItem(name if self._names else "")
        mark.setFlags(fixed | Qt.ItemFlag.ItemIsUserCheckable)
        mark.setCheckState(Qt.CheckState.Checked if bool(row["background"]) else Qt.CheckState.Unchecked)
        mark.setData(Qt.ItemDataRole.UserRole, label)
        mark.setData(NAME, name)
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

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
        if obj is self.table and event.type() == QEvent.Type.Resize and not self._updating:
            self._fit_columns()
        return False

    def _fit_columns(self) -> None:
        """In a narrow dock, first drop '% image' (the clusters table shows the same share),
        then the names beside the tick boxes (the clusters table shows them, and each row's
        tooltip): a number or a name is never cut. From size hints, so the decision does not
        depend on the widths it changes."""
        t = self.table
        view = t.viewport()
        room = view.width() if view is not None and t.isVisible() else t.width()
        t.setColumnHidden(IMAGE_COLUMN, False)
        names = True
        mark_need = t.fontMetrics().horizontalAdvance
        widest = max(
            (
                mark_need(str(m.data(NAME)))
                for m in (t.item(r, MARK_COLUMN) for r in range(t.rowCount()))
                if m
            ),
            default=0,
        )
        others = [c for c in range(t.columnCount()) if c != MARK_COLUMN and not t.isColumnHidden(c)]
        was = self._updating
        self._updating = True
        try:
            self._mark_heading(True)  # measured with the heading it has beside the names
            mark = max(widest + CHECK_WIDTH, column_need(t, MARK_COLUMN))
        finally:
            self._updating = was
        need = sum(column_need(t, c) for c in others) + mark + FIT_SLACK
        if need > room:
            t.setColumnHidden(IMAGE_COLUMN, True)
            need -= column_need(t, IMAGE_COLUMN)
            names = need <= room
        self._updating = True
        try:
            self._mark_heading(names)
        finally:
            self._updating = was
        if names != self._names:
            self._names = names
            self._updating = True
            try:
                for r in range(t.rowCount()):
                    m = t.item(r, MARK_COLUMN)
                    if m is not None:
                        m.setText(str(m.data(NAME)) if names else "")
            finally:
                self._updating = False

    def _mark_heading(self, names: bool) -> None:
        item = self.table.horizontalHeaderItem(MARK_COLUMN)
        if item is not None and item.text() != MARK_HEADINGS[names]:
            item.setText(MARK_HEADINGS[names])

    def _fit_height(self) -> None:
        """Room for its rows up to MAX_ROWS (then it scrolls) and no more, so the clusters
        table keeps the rest; it may shrink to FEW_ROWS rows so the dock fits a short screen.
        From size hints, as it may not be shown yet."""
        most = self._most()
        self.table.setMaximumHeight(most)
        self.table.setMinimumHeight(min(self._least() + self.granted, most))

    def _most(self) -> int:
        return rows_height(self.table, min(max(self.table.rowCount(), 1), MAX_ROWS))

    def _least(self) -> int:
        return min(rows_height(self.table, FEW_ROWS), self._most())

    def _summary(self, f: Any, unit: str, word: str = "tissue") -> str:
        bg = f["background"].to_numpy(bool)
        if not bg.any():
            # where to tick depends on whether the table is in sight; the objects counted
            # follow their own source, whatever is marked background: say which they are
            where = "below" if self.expanded else "in 'measure'"
            text = (
                f"No cluster is marked as background: % {word} is of every cluster "
                f"(tick one {where} to leave it out)."
            )
            source = self.source.currentData()
            seg = None if self.session is None else self.session.seg
            if source is not None and seg is not None and len(seg.index) > 1:
                from .._core.measure.foreground import foreground_labels

                labels = " + ".join(str(v) for v in foreground_labels(seg, source))
                text += f" Objects are counted in clusters {labels} ('{source}')."
            return text
        share = float(f.loc[~bg, "share"].sum())
        area = float(f.loc[~bg, "area"].sum())
        names = ", ".join(f"'{n}'" for n in f.loc[bg, "name"])
        return (
            f"{word.capitalize()}: {100 * share:.1f}% of the image ({_number(area)} {unit}); "
            f"background: {names}."
        )

    def stain_numbers(self) -> dict | None:
        """The slide's numbers the section shows (for tests and scripts): tissue and glass
        (% of the image), DAB-positive and weak/moderate/strong (% of the tissue), H-score,
        saturated pixels, warnings; None without a stain measurement."""
        report = None if self.session is None or self.session.seg is None else self.session.measure.stains()
        if report is None:
            return None
        b = report.bin_shares()
        return {
            "tissue": 100 * report.tissue_share,
            "glass": 100 * report.glass_share,
            "positive": 100 * report.positive_share,
            "weak": 100 * float(b[1]),
            "moderate": 100 * float(b[2]),
            "strong": 100 * float(b[3]),
            "h_score": report.h_score,
            "saturated": report.saturated_px,
            "warnings": list(report.warnings),
        }

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
                    "name": str(mark.data(NAME)),
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
        guarded(lambda: self._require().measure.set_background(marks), "background")()
        self.refresh()  # a refused request shows the marks as they are

    def _set_pixel_size(self) -> None:
        self._require().measure.set_pixel_size(self.pixel_size.value(), self.pixel_unit.currentText())

    def _on_see_through(self, on: bool) -> None:
        if not self._updating:
            guarded(lambda: self._require().set_see_through(on), "see-through")()

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

    def start_objects(self, labels: Any, min_size: int = 0, split: bool | None = None) -> Any:
        """Extract and measure the objects of ``labels`` (cluster labels, or "all but
        darkest" / "all but brightest") in the background (the worker; None if objects are
        already being measured); ``split`` (default: the "split touching" box) cuts touching
        ones apart. The progress bar's Cancel, or the button again, stops it."""
        if self.jobs.busy("objects"):
            self.jobs.cancel("objects")
            return None
        s = self._require()
        split = self.split.isChecked() if split is None else bool(split)
        compute, done = s.measure.objects_job(labels, min_size, split)
        what = labels if isinstance(labels, str) else f"cluster(s) {labels}"
        return self.jobs.start("objects", f"Objects of {what} in {s.source.name}", compute, done)

    def _export_objects(self) -> None:
        s = self._require()
        layer = s.measure.objects_layer(s.viewer.layers.selection.active)
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export the objects of '{layer.name}'", file_name(f"{layer.name}.csv"), "CSV (*.csv)"
        )
        if path:
            show_info(f"Objects table written to {s.measure.export_objects(path, layer)}.")
