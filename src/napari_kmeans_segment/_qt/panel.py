"""The cluster panel: a view of one :class:`~.._session.session.ClusterSession`.

The table is read from the clusters layer (names from ``features``, colours and visibility
through the colormap's own mapping) whenever the session or the layer changes; every button
is one call into the session. Model loading and applying need the dock's background jobs, so
the panel only asks for them (Qt signals the dock connects).

Extending it: columns are declared in :mod:`.table` (``ClusterTable.add_column``); buttons
sit in named rows (:data:`ROWS`) and :meth:`ClusterPanel.add_button` puts another one in a
row (a new row name makes a new row, above the model row). A row wraps onto a second line
rather than cut a button's words (:class:`~.flow.FlowLayout`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_info
from qtpy.QtCore import QSize, Qt, Signal
from qtpy.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QFileDialog,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidgetItem,
    QWidget,
)

from .._core.options import MIN_OBJECT_PIXELS
from .._session.colors import drawn_labels, label_colors
from .elided import ElidedLabel
from .flow import FlowLayout
from .guard import guarded
from .measure_panel import MeasurePanel
from .scroll import LeastLayout
from .table import DRAWN, FEW_ROWS, LABEL, VALUE, VISIBLE_ROWS, ClusterTable, RowData
from .texts import file_name, status, tooltip

if TYPE_CHECKING:
    from napari.layers import Labels

    from .._session.session import ClusterSession

_DISPLAY_EVENTS = ("show_selected_label", "selected_label")  # change what is drawn, not the state
ROWS = ("clusters", "extract", "files")  # button rows, top to bottom
PANEL_WIDTH = 380  # px: the dock's default width follows this hint (a 1280-px screen)


def wrapped_label(text: str = "", name: str = "") -> QLabel:
    """A label that wraps instead of widening the dock."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName(name)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


class ClusterPanel(QWidget):
    apply_model_requested = Signal()
    load_model_requested = Signal(str)
    forget_model_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.session: ClusterSession | None = None
        self._layer: Labels | None = None  # the clusters layer whose display events we follow
        self._updating = False
        self._shown: tuple[Any, Any] = (None, None)  # the session and result the table shows
        # Expanding: the table takes the dock's spare height (napari then adds no stretch)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.heading = wrapped_label("clusters: press Run", "clusters_heading")
        self.table = ClusterTable()
        self.table.itemChanged.connect(self._on_item_changed)
        self.note = wrapped_label("", "note")
        self.note.setVisible(False)

        self._lay = LeastLayout(self)  # the dock's page shares the spare height out
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(4)
        self._lay.addWidget(self.heading)
        self._lay.addWidget(self.table, 1)
        self._lay.addWidget(self.note)
        self.button_rows: dict[str, FlowLayout] = {}
        for row in ROWS:
            self._row(row)

        add = self.add_button
        self.show_all_btn = add(
            "clusters", "show_all", "show all", lambda: self._set_all(lambda hidden: True)
        )
        self.hide_all_btn = add(
            "clusters", "hide_all", "hide all", lambda: self._set_all(lambda hidden: False)
        )
        self.invert_btn = add("clusters", "invert", "invert", lambda: self._require().invert())
        self.merge_btn = add(
            "clusters", "merge", "merge", lambda: self._require().merge(self.selected_labels())
        )
        self.undo_btn = add("clusters", "undo", "undo", lambda: self._require().undo())
        self.extract_btn = add("extract", "extract", "extract", self._extract_selected)
        self.objects = QCheckBox("as objects ≥")
        self.objects.setObjectName("objects")
        self.objects.setToolTip(tooltip("objects"))
        self.min_size = QSpinBox()
        self.min_size.setObjectName("min_size")
        self.min_size.setRange(0, 10**9)
        self.min_size.setValue(MIN_OBJECT_PIXELS)
        self.min_size.setSuffix(" px")
        self.min_size.setToolTip(tooltip("min_size"))
        self.button_rows["extract"].add_widget(self.objects, 0)
        self.button_rows["extract"].add_widget(self.min_size, 1)
        self.export_btn = add("files", "export", "export CSV…", self._export)
        self.copy_btn = add("files", "copy_python", "copy Python", self._copy_python)
        # the model's actions share one menu button: saving and applying are rarer than the rest
        self.model_btn = QPushButton("model…")
        self.model_btn.setObjectName("model_menu")
        self.model_btn.setToolTip(tooltip("model_menu"))
        menu = QMenu(self.model_btn)
        menu.setToolTipsVisible(True)
        self.model_actions = {}
        for key, text, slot in (
            ("save_model", "save model…", self._save_model),
            ("load_model", "load model…", self._load_model),
            ("apply_model", "apply this result's model to the image", self.apply_model_requested.emit),
        ):
            action = menu.addAction(text)
            assert action is not None
            action.setToolTip(tooltip(key))
            run = guarded(slot, text)
            action.triggered.connect(lambda *_, f=run: f())
            self.model_actions[key] = action
        self.model_btn.setMenu(menu)
        self.button_rows["files"].add_widget(self.model_btn, 1)
        # shown while a loaded model waits to be applied: its name, apply, and clear; the
        # buttons go to a line of their own when the name needs the width
        self.loaded_row = QWidget()
        loaded = FlowLayout(self.loaded_row)
        self.model_label = ElidedLabel("", "loaded_model")  # cut only if wider than the dock
        loaded.add_widget(self.model_label, 2)
        self.apply_model_btn = QPushButton("apply model")
        self.forget_model_btn = QPushButton("clear")
        for b, key, signal in (
            (self.apply_model_btn, "apply_model", self.apply_model_requested),
            (self.forget_model_btn, "clear_model", self.forget_model_requested),
        ):
            b.setObjectName(key)
            b.setToolTip(tooltip(key))
            b.clicked.connect(lambda *_, sig=signal: sig.emit())
            loaded.add_widget(b, 1)
        self._lay.addWidget(self.loaded_row)
        self.measure = MeasurePanel()  # background, areas, objects, uncertainty
        self._lay.addWidget(self.measure, 1)  # its table shares the spare height
        self.measure.toggle.toggled.connect(self._on_measure_toggled)
        count = guarded(self._count_objects, "count objects")
        self.measure.count_btn.clicked.connect(lambda *_: count())
        self.set_loaded_model(None, 0)
        self.refresh()

    # -- building ----------------------------------------------------------------------------
    def _row(self, name: str) -> FlowLayout:
        """The button row ``name``; a new name makes a new row below the others (above the
        loaded model and the measure section)."""
        if name not in self.button_rows:
            row = FlowLayout()
            last = self.button_rows[list(self.button_rows)[-1]] if self.button_rows else None
            at = self._lay.indexOf(self.note) + 1 if last is None else self._lay.indexOf(last) + 1
            self._lay.insertLayout(at, row)
            self.button_rows[name] = row
        return self.button_rows[name]

    def add_button(self, row: str, name: str, text: str, slot: Callable[[], Any]) -> QPushButton:
        """A button in ``row`` that runs ``slot`` (errors become notifications); its tooltip
        is ``texts.TOOLTIPS[name]``."""
        b = QPushButton(text)
        b.setObjectName(name)
        b.setToolTip(tooltip(name))
        action = guarded(slot, text)
        b.clicked.connect(lambda *_: action())  # drop Qt's "checked" argument
        self._row(row).add_widget(b, 1)  # the row shares its width and wraps, never cuts
        return b

    def buttons(self) -> list[QAbstractButton]:
        return self.findChildren(QAbstractButton)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(PANEL_WIDTH, super().sizeHint().height())

    # -- what the panel observes --------------------------------------------------------------
    def set_session(self, session: ClusterSession | None) -> None:
        if self.session is not None:
            self.session.changed.disconnect(self._on_changed)
        self.session = session
        if session is not None:
            session.changed.connect(self._on_changed)
        self.measure.set_session(session)
        self.refresh()

    def _on_measure_toggled(self, on: bool) -> None:
        """The measure section lists the clusters too: while it is open, the clusters table
        may shrink to a few rows (it scrolls) so that the dock still fits the screen."""
        self.table.set_min_rows(FEW_ROWS if on else VISIBLE_ROWS)

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
        apply = self.model_actions["apply_model"]
        if name:
            self.model_label.setText(status("loaded_model_line", model=name, k=n_clusters))
            full = status("loaded_model_full", model=name, k=n_clusters)
            self.model_label.setToolTip(f"{full} {tooltip('loaded_model', wrap=False)}")
            self.apply_model_btn.setToolTip(status("apply_loaded", model=name))
            apply.setText(f"apply the loaded model '{name}' to the image")
        else:
            self.model_label.setText("")
            self.apply_model_btn.setToolTip(tooltip("apply_model"))
            apply.setText("apply this result's model to the image")
        self.loaded_row.setVisible(bool(name))

    def set_busy(self, busy: bool) -> None:
        self.apply_model_btn.setEnabled(not busy)
        self.model_actions["apply_model"].setEnabled(not busy)

    # -- reading the layer ---------------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session
        layer = None if s is None or s.seg is None else s.clusters
        self._follow_layer(layer)
        self.undo_btn.setEnabled(s is not None and s.can_undo)
        self._updating = True
        try:
            shown = (s, None if s is None else s.seg)
            if shown[0] is not self._shown[0] or shown[1] is not self._shown[1]:
                self.table.clearSelection()  # rows chosen in another result mean nothing here
                self._shown = shown
            if layer is None:
                self.table.fill([])
                self.heading.setText("clusters: press Run")
                self._set_note("")
                return
            self.heading.setText(f"clusters of '{s.source.name}'" if s is not None else "clusters")
            f = layer.features
            index = [int(v) for v in f["index"]]
            colors = label_colors(layer, index)
            drawn = set(drawn_labels(layer, index))
            center_cols = [c for c in f.columns if c.startswith("center_")]
            rows = []
            for lab, rgba, (_, row) in zip(index, colors, f.iterrows()):
                center = ", ".join(f"{c.removeprefix('center_')} {float(row[c]):.4g}" for c in center_cols)
                rows.append(RowData(lab, rgba, lab in drawn, row, center))
            self.table.fill(rows)
            self._set_note(
                f"napari draws only label {layer.selected_label} ('show selected label')."
                if layer.show_selected_label
                else ""
            )
        finally:
            self._updating = False

    def _set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def rows(self) -> list[dict]:
        """What the table shows, row by row (for tests and scripts): label, visible (the
        checkbox), drawn (not greyed out), name, share %, color (the swatch, RGBA 0..1)."""
        import numpy as np

        t = self.table
        return [
            {
                "label": int(t.cell(r, "label").data(LABEL)),
                "visible": t.cell(r, "show").checkState() == Qt.CheckState.Checked,
                "drawn": bool(t.cell(r, "label").data(DRAWN)),
                "name": t.cell(r, "name").text(),
                "share": float(t.cell(r, "share").text()),
                "color": np.asarray(t.cell(r, "color").data(VALUE)),
            }
            for r in range(t.rowCount())
        ]

    def selected_labels(self) -> list[int]:
        return self.table.labels_in({i.row() for i in self.table.selectedItems()})

    # -- actions: one call into the session each -------------------------------------------------
    def _require(self) -> ClusterSession:
        if self.session is None:
            raise ValueError("Run k-means first: there is no clusters layer yet.")
        return self.session

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        lab = int(item.data(LABEL))
        key = self.table.columns[item.column()].key
        if key == "show":
            visible = item.checkState() == Qt.CheckState.Checked
            guarded(lambda: self._require().set_visible({lab: visible}), "show or hide")()
        elif key == "name":
            guarded(lambda: self._require().rename(lab, item.text()), "rename")()

    def _set_all(self, rule: Callable[[bool], bool]) -> None:
        s = self._require()
        hidden = set(s.hidden())
        s.set_visible({lab: rule(lab in hidden) for lab in s.index()})

    def _extract_selected(self) -> None:
        self._require()  # before any Run: "Run k-means first", as the other buttons say
        sel = self.selected_labels()
        if len(sel) != 1:
            raise ValueError("Select exactly one cluster to extract.")
        if self.objects.isChecked():  # labelling and measuring objects can take seconds
            self.measure.start_objects(sel, self.min_size.value())
        else:
            self._require().extract(sel[0])

    def _count_objects(self) -> None:
        """The measure section's 'count objects': its source (selected clusters, or all but
        the darkest / brightest), its 'split touching', and this panel's 'min size'."""
        source = self.measure.source.currentData()
        if source is None:
            source = self.selected_labels()
            if not source:
                raise ValueError("Select the clusters to count objects of, or choose 'all but darkest'.")
        self.measure.start_objects(source, self.min_size.value())

    def _export(self) -> None:
        s = self._require()
        name = file_name(f"{s.source.name} clusters.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export cluster table", name, "CSV (*.csv)")
        if path:
            show_info(status("exported", path=s.export_table(path)))

    def _save_model(self) -> None:
        s = self._require()
        name = file_name(f"{s.source.name} model.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", name, "JSON (*.json)")
        if path:
            show_info(status("model_saved", path=s.save_model(path)))

    def _load_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "JSON (*.json)")
        if path:
            self.load_model_requested.emit(path)

    def _copy_python(self) -> None:
        from qtpy.QtWidgets import QApplication

        code = self._require().code
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(code)
        show_info(status("copied"))
