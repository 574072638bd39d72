"""The cluster panel: a view of one :class:`~.._session.ClusterSession`.

The table is read from the clusters layer (names from ``features``, colours and visibility
through the colormap's own mapping) whenever the session or the layer changes; every button
is one call into the session. Model loading and applying need the dock's background jobs, so
the panel only asks for them (Qt signals the dock connects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._colors import drawn_labels, label_colors

if TYPE_CHECKING:
    from napari.layers import Labels

    from .._session import ClusterSession

COLUMNS = ["show", "colour", "label", "name", "share %", "centre"]
_DRAWN = Qt.ItemDataRole.UserRole + 1  # whether the canvas draws the row's label now
_DISPLAY_EVENTS = ("show_selected_label", "selected_label")  # change what is drawn, not the state


class _NumberItem(QTableWidgetItem):
    """Sorts by its number, not by its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return float(self.data(Qt.ItemDataRole.UserRole)) < float(
            other.data(Qt.ItemDataRole.UserRole))


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a panel action; a bad request becomes a notification, never a traceback."""
    def wrapper(*a: Any, **kw: Any) -> Any:
        try:
            return fn(*a, **kw)
        except (ValueError, TypeError, OSError) as e:
            show_error(str(e))
            return None
    return wrapper


class ClusterPanel(QWidget):
    apply_model_requested = Signal()
    load_model_requested = Signal(str)
    forget_model_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.session: ClusterSession | None = None
        self._layer: Labels | None = None  # the clusters layer whose display events we follow
        self._updating = False
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(self._on_item_changed)
        self.note = QLabel("")
        self.note.setWordWrap(True)

        def button(text: str, slot: Callable[[], Any]) -> QPushButton:
            b = QPushButton(text)
            action = guarded(slot)
            b.clicked.connect(lambda *_: action())  # drop Qt's "checked" argument
            return b

        self.show_all_btn = button("show all", lambda: self._set_all(lambda hidden: True))
        self.hide_all_btn = button("hide all", lambda: self._set_all(lambda hidden: False))
        self.invert_btn = button("invert", lambda: self._require().invert())
        self.merge_btn = button("merge selected", lambda: self._require().merge(
            self.selected_labels()))
        self.undo_btn = button("undo merge", lambda: self._require().undo())
        self.extract_btn = button("extract selected", self._extract_selected)
        self.objects = QCheckBox("as objects, min size")
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 10**9)
        self.min_size.setValue(20)
        self.export_btn = button("export CSV…", self._export)
        self.copy_btn = button("copy Python", self._copy_python)
        self.save_model_btn = button("save model…", self._save_model)
        self.load_model_btn = button("load model…", self._load_model)
        self.model_label = QLabel("")
        self.forget_model_btn = button("forget", self.forget_model_requested.emit)
        self.apply_model_btn = button("apply model to image", self.apply_model_requested.emit)
        from .._k_plot import KPlot

        self.curve = KPlot()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("clusters"))
        lay.addWidget(self.table)
        lay.addWidget(self.note)
        for row in (
            [self.show_all_btn, self.hide_all_btn, self.invert_btn],
            [self.merge_btn, self.undo_btn],
            [self.extract_btn, self.objects, self.min_size],
            [self.export_btn, self.copy_btn],
            [self.save_model_btn, self.load_model_btn],
            [self.model_label, self.forget_model_btn],
            [self.apply_model_btn],
        ):
            h = QHBoxLayout()
            for wdg in row:
                h.addWidget(wdg)
            lay.addLayout(h)
        lay.addWidget(self.curve)
        self.set_loaded_model(None, 0)

    # -- what the panel observes --------------------------------------------------------------
    def set_session(self, session: ClusterSession | None) -> None:
        if self.session is not None:
            self.session.changed.disconnect(self._on_changed)
        self.session = session
        if session is not None:
            session.changed.connect(self._on_changed)
        self.refresh()

    def _on_changed(self, what: str = "") -> None:
        self.refresh()

    def _follow_layer(self, layer: Labels | None) -> None:
        if layer is self._layer:
            return
        for name in _DISPLAY_EVENTS:
            if self._layer is not None:
                getattr(self._layer.events, name).disconnect(self._on_changed)
            if layer is not None:
                getattr(layer.events, name).connect(self._on_changed)
        self._layer = layer

    def set_loaded_model(self, name: str | None, n_clusters: int) -> None:
        """Show which model 'apply' will use (the dock calls this)."""
        if name:
            self.model_label.setText(f"model: '{name}' ({n_clusters} clusters), loaded; "
                                     "used until the next Run")
            self.apply_model_btn.setText(f"apply '{name}' to image")
        else:
            self.model_label.setText("model: this result's")
            self.apply_model_btn.setText("apply this result's model to image")
        self.forget_model_btn.setVisible(bool(name))

    def set_busy(self, busy: bool) -> None:
        self.apply_model_btn.setEnabled(not busy)

    def show_k_curve(self, res: Any) -> None:
        """Plot silhouette and compactness per K (from the Suggest K button)."""
        self.curve.set_result(res)

    # -- reading the layer ---------------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session
        layer = None if s is None or s.seg is None else s.clusters
        self._follow_layer(layer)
        self.undo_btn.setEnabled(s is not None and s.can_undo)
        self._updating = True
        self.table.setSortingEnabled(False)
        try:
            if layer is None:
                self.table.setRowCount(0)
                self.note.setText("")
                return
            f = layer.features
            index = [int(v) for v in f["index"]]
            colors = label_colors(layer, index)
            drawn = set(drawn_labels(layer, index))
            centre_cols = [c for c in f.columns if c.startswith("center_")]
            self.table.setRowCount(len(index))
            for r, (lab, rgba, (_, row)) in enumerate(zip(index, colors, f.iterrows())):
                items = self._row_items(lab, rgba, row, centre_cols)
                items[2].setData(_DRAWN, lab in drawn)
                if lab not in drawn and rgba[3] > 0:  # dimmed by "show selected label"
                    for item in items[1:]:
                        item.setForeground(QColor(128, 128, 128))
                for c, item in enumerate(items):
                    self.table.setItem(r, c, item)
            self.note.setText(
                f"napari draws only label {layer.selected_label} ('show selected label')."
                if layer.show_selected_label else "")
        finally:
            self.table.setSortingEnabled(True)
            self._updating = False

    @staticmethod
    def _row_items(lab: int, rgba: np.ndarray, row: Any,
                   centre_cols: list[str]) -> list[QTableWidgetItem]:
        fixed = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        show = QTableWidgetItem()
        show.setFlags(fixed | Qt.ItemFlag.ItemIsUserCheckable)
        show.setCheckState(Qt.CheckState.Checked if rgba[3] > 0 else Qt.CheckState.Unchecked)
        show.setData(Qt.ItemDataRole.UserRole, lab)
        swatch = QTableWidgetItem()
        swatch.setBackground(QColor(*(int(round(v * 255)) for v in rgba[:3])))
        swatch.setData(Qt.ItemDataRole.UserRole, [float(v) for v in rgba])
        swatch.setFlags(fixed)
        label = _NumberItem(str(lab))
        label.setData(Qt.ItemDataRole.UserRole, lab)
        label.setFlags(fixed)
        name = QTableWidgetItem(str(row["name"]))
        name.setData(Qt.ItemDataRole.UserRole, lab)
        share = _NumberItem(f"{100 * float(row['fraction']):.1f}")
        share.setData(Qt.ItemDataRole.UserRole, float(row["fraction"]))
        share.setFlags(fixed)
        centre = QTableWidgetItem(", ".join(f"{float(row[c]):.4g}" for c in centre_cols))
        centre.setFlags(fixed)
        return [show, swatch, label, name, share, centre]

    def rows(self) -> list[dict]:
        """What the table shows, row by row (for tests and scripts): label, visible (the
        checkbox), drawn (not greyed out), name, share %, color (the swatch, RGBA 0..1)."""
        out = []
        for r in range(self.table.rowCount()):
            out.append({
                "label": int(self._cell(r, 2).text()),
                "visible": self._cell(r, 0).checkState() == Qt.CheckState.Checked,
                "drawn": bool(self._cell(r, 2).data(_DRAWN)),
                "name": self._cell(r, 3).text(),
                "share": float(self._cell(r, 4).text()),
                "color": np.asarray(self._cell(r, 1).data(Qt.ItemDataRole.UserRole)),
            })
        return out

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.table.item(row, column)
        assert item is not None, "every cell is filled by refresh()"
        return item

    def selected_labels(self) -> list[int]:
        rows = {i.row() for i in self.table.selectedItems()}
        return sorted(int(self._cell(r, 2).text()) for r in rows)

    # -- actions: one call into the session each -------------------------------------------------
    def _require(self) -> ClusterSession:
        if self.session is None:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        return self.session

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        lab = int(item.data(Qt.ItemDataRole.UserRole))
        if item.column() == 0:
            visible = item.checkState() == Qt.CheckState.Checked
            guarded(lambda: self._require().set_visible({lab: visible}))()
        elif item.column() == 3:
            guarded(lambda: self._require().rename(lab, item.text()))()

    def _set_all(self, rule: Callable[[bool], bool]) -> None:
        s = self._require()
        hidden = set(s.hidden())
        s.set_visible({lab: rule(lab in hidden) for lab in s.index()})

    def _extract_selected(self) -> None:
        sel = self.selected_labels()
        if len(sel) != 1:
            raise ValueError("Select exactly one cluster to extract.")
        self._require().extract(sel[0], objects=self.objects.isChecked(),
                                min_size=self.min_size.value())

    def _export(self) -> None:
        s = self._require()
        path, _ = QFileDialog.getSaveFileName(self, "Export cluster table", "clusters.csv",
                                              "CSV (*.csv)")
        if path:
            show_info(f"Cluster table written to {s.export_table(path)}.")

    def _save_model(self) -> None:
        s = self._require()
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "model.json", "JSON (*.json)")
        if path:
            show_info(f"Model saved to {s.save_model(path)}.")

    def _load_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "JSON (*.json)")
        if path:
            self.load_model_requested.emit(path)

    def _copy_python(self) -> None:
        from qtpy.QtWidgets import QApplication

        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self._require().code)
        show_info("The Python call for this run is on the clipboard.")
