"""The cluster panel: a table of clusters read from the clusters layer, with actions.

Every action calls the widget's scripting API (set_cluster_visible, merge_clusters, ...);
the table is rebuilt from the layer whenever its colormap changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt
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

from ._layers import hidden_labels

if TYPE_CHECKING:
    from ._widget import KMeansWidget

COLUMNS = ["show", "colour", "label", "name", "share %", "centre"]


class _NumberItem(QTableWidgetItem):
    """Sorts by its number, not by its text."""

    def __lt__(self, other):
        return float(self.data(Qt.ItemDataRole.UserRole)) < float(
            other.data(Qt.ItemDataRole.UserRole))


def _guarded(fn):
    """Run a panel action; a bad request becomes a notification, never a traceback."""
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except (ValueError, TypeError, OSError) as e:
            show_error(str(e))
            return None
    return wrapper


class ClusterPanel(QWidget):
    def __init__(self, widget: KMeansWidget):
        super().__init__()
        self._w = widget
        self._updating = False
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(self._on_item_changed)

        def button(text, slot):
            b = QPushButton(text)
            action = _guarded(slot)
            b.clicked.connect(lambda *_: action())  # drop Qt's "checked" argument
            return b

        self.show_all_btn = button("show all", lambda: self._set_all(lambda h: True))
        self.hide_all_btn = button("hide all", lambda: self._set_all(lambda h: False))
        self.invert_btn = button("invert", lambda: self._set_all(lambda h: h))
        self.merge_btn = button("merge selected", self._merge_selected)
        self.undo_btn = button("undo merge", self._w.undo)
        self.extract_btn = button("extract selected", self._extract_selected)
        self.objects = QCheckBox("as objects, min size")
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 10**9)
        self.min_size.setValue(20)
        self.export_btn = button("export CSV…", self._export)
        self.save_model_btn = button("save model…", self._save_model)
        self.load_model_btn = button("load model…", self._load_model)
        self.apply_model_btn = button("apply model to image", self._w.apply_model)
        self.copy_btn = button("copy Python", self._copy_python)
        from ._k_plot import KPlot

        self.curve = KPlot()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("clusters"))
        lay.addWidget(self.table)
        for row in (
            [self.show_all_btn, self.hide_all_btn, self.invert_btn],
            [self.merge_btn, self.undo_btn],
            [self.extract_btn, self.objects, self.min_size],
            [self.export_btn, self.copy_btn],
            [self.save_model_btn, self.load_model_btn, self.apply_model_btn],
        ):
            h = QHBoxLayout()
            for wdg in row:
                h.addWidget(wdg)
            lay.addLayout(h)
        lay.addWidget(self.curve)

    # -- reading the layer -----------------------------------------------------------------
    def refresh(self):
        layer = self._w._clusters_layer
        self._updating = True
        self.table.setSortingEnabled(False)
        try:
            if layer is None or layer not in self._w._viewer.layers:
                self.table.setRowCount(0)
                return
            f = layer.features
            hidden = set(hidden_labels(layer))
            centre_cols = [c for c in f.columns if c.startswith("center_")]
            self.table.setRowCount(len(f))
            for r, (_, row) in enumerate(f.iterrows()):
                lab = int(row["index"])
                show = QTableWidgetItem()
                show.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                              | Qt.ItemFlag.ItemIsSelectable)
                show.setCheckState(Qt.CheckState.Unchecked if lab in hidden
                                   else Qt.CheckState.Checked)
                show.setData(Qt.ItemDataRole.UserRole, lab)
                swatch = QTableWidgetItem()
                rgba = np.asarray(layer.colormap.color_dict.get(lab, np.zeros(4)), float)
                swatch.setBackground(QColor(*(int(round(v * 255)) for v in rgba[:3])))
                swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                label = _NumberItem(str(lab))
                label.setData(Qt.ItemDataRole.UserRole, lab)
                label.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                name = QTableWidgetItem(str(row["name"]))
                name.setData(Qt.ItemDataRole.UserRole, lab)
                share = _NumberItem(f"{100 * float(row['fraction']):.1f}")
                share.setData(Qt.ItemDataRole.UserRole, float(row["fraction"]))
                share.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                centre = QTableWidgetItem(", ".join(f"{float(row[c]):.4g}" for c in centre_cols))
                centre.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                for c, item in enumerate([show, swatch, label, name, share, centre]):
                    self.table.setItem(r, c, item)
        finally:
            self.table.setSortingEnabled(True)
            self._updating = False

    def rows(self) -> list[dict]:
        """What the table shows, row by row (for tests and scripts)."""
        out = []
        for r in range(self.table.rowCount()):
            out.append({
                "label": int(self.table.item(r, 2).text()),
                "visible": self.table.item(r, 0).checkState() == Qt.CheckState.Checked,
                "name": self.table.item(r, 3).text(),
                "share": float(self.table.item(r, 4).text()),
            })
        return out

    def selected_labels(self) -> list[int]:
        rows = {i.row() for i in self.table.selectedItems()}
        return sorted(int(self.table.item(r, 2).text()) for r in rows)

    # -- actions -------------------------------------------------------------------------
    def _on_item_changed(self, item):
        if self._updating:
            return
        lab = int(item.data(Qt.ItemDataRole.UserRole))
        if item.column() == 0:
            _guarded(self._w.set_cluster_visible)(lab, item.checkState() == Qt.CheckState.Checked)
        elif item.column() == 3:
            _guarded(self._w.rename_cluster)(lab, item.text())

    def _set_all(self, rule):
        layer = self._w._require_clusters()
        hidden = set(hidden_labels(layer))
        labels = layer.features["index"].astype(int).tolist()
        self._w.set_clusters_visible({lab: rule(lab in hidden) for lab in labels})

    def _merge_selected(self):
        self._w.merge_clusters(self.selected_labels())

    def _extract_selected(self):
        sel = self.selected_labels()
        if len(sel) != 1:
            raise ValueError("Select exactly one cluster to extract.")
        self._w.extract_cluster(sel[0], objects=self.objects.isChecked(),
                                min_size=self.min_size.value())

    def _export(self):
        self._w._require_clusters()
        path, _ = QFileDialog.getSaveFileName(self, "Export cluster table", "clusters.csv",
                                              "CSV (*.csv)")
        if path:
            show_info(f"Cluster table written to {self._w.export_table(path)}.")

    def _save_model(self):
        self._w._require_clusters()
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "model.json", "JSON (*.json)")
        if path:
            show_info(f"Model saved to {self._w.save_model(path)}.")

    def _load_model(self):
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "JSON (*.json)")
        if path:
            m = self._w.load_model(path)
            show_info(f"Loaded a model with {m.n_clusters} clusters; press 'apply model'.")

    def _copy_python(self):
        from qtpy.QtWidgets import QApplication

        QApplication.clipboard().setText(self._w.python_code())
        show_info("The Python call for this run is on the clipboard.")

    def show_k_curve(self, res):
        """Plot silhouette and compactness per K (from the Suggest K button)."""
        self.curve.set_result(res)
