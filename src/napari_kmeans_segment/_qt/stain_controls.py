"""The form's stain-measurement controls (shown when the colour space is "hed"): tissue
detection, the white level, the tissue threshold and the DAB thresholds, folded under one
heading. Zero means "automatic" in each number, as the tooltips say."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, TupleEdit
from qtpy.QtWidgets import QAbstractSpinBox

from .._core.options import DEFAULTS
from .expander import Expander
from .flow import flowing
from .texts import tooltip

#: The option fields these controls set, in the order they are shown.
SLIDE_FIELDS = ("tissue", "white_level", "tissue_od", "dab_thresholds")


class SlideControls:
    """The four controls and the folded section holding them; :meth:`values` reads them as
    :class:`~.._core.options.Options` values (None where they show 0, "automatic")."""

    def __init__(self, color_space: ComboBox):
        d = DEFAULTS
        # short words: the dock may be narrow (the tooltip says how: by optical density)
        self.tissue = CheckBox(name="tissue", text="tell tissue from glass", value=d.tissue)
        # one grey level here; R, G, B from the console or --white-level R,G,B
        self.white_level = FloatSpinBox(
            name="white_level", label="white level", min=0.0, max=65535.0, step=1.0, value=0.0
        )
        self.white_level.native.setSpecialValueText("from the glass")
        # typed rather than stepped: without arrows its words fit a narrow dock
        self.white_level.native.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
        self.tissue_od = FloatSpinBox(
            name="tissue_od", label="tissue above OD", min=0.0, max=1.0, step=0.002, value=0.0
        )
        self.tissue_od.native.setDecimals(3)
        self.tissue_od.native.setSpecialValueText("auto")
        spin = dict(widget_type="FloatSpinBox", min=0.0, max=5.0, step=0.05)
        self.dab_thresholds = TupleEdit(
            name="dab_thresholds",
            label="DAB bins",  # weak, moderate, strong: each box's tooltip
            value=(0.0, 0.0, 0.0),
            options=spin,
        )
        for w, bin_name in zip(self.dab_thresholds, ("weak", "moderate", "strong")):
            w.native.setDecimals(2)
            w.native.setMinimumWidth(40)
            w.tooltip = f"DAB optical density from which tissue is {bin_name} (0: from the clusters)."
        for w in self.widgets:
            w.tooltip = tooltip(w.name)
        flowing(self.dab_thresholds)  # the three boxes wrap in a narrow dock
        self.box = Expander(
            "stains: tissue, white level, DAB bins",
            self.widgets,
            name="slide_box",
            tooltip=tooltip("slide_box"),
        )
        self.box.visible = color_space.value == "hed"
        color_space.changed.connect(lambda value: setattr(self.box, "visible", value == "hed"))
        self.tissue.changed.connect(self._follow_tissue)
        self._follow_tissue(self.tissue.value)

    @property
    def widgets(self) -> list[Any]:
        return [self.tissue, self.white_level, self.tissue_od, self.dab_thresholds]

    def _follow_tissue(self, on: bool) -> None:
        for w in self.widgets[1:]:
            w.enabled = bool(on)  # they belong to tissue detection

    def values(self, color_space: str) -> dict[str, Any]:
        """The four option values; the defaults without "hed" (the controls are hidden) and
        None for the numbers without tissue detection (they belong to it)."""
        if color_space != "hed":
            return {name: getattr(DEFAULTS, name) for name in SLIDE_FIELDS}
        tissue = bool(self.tissue.value)
        white = float(self.white_level.value)
        od = float(self.tissue_od.value)
        thresholds = tuple(float(v) for v in self.dab_thresholds.value)
        return {
            "tissue": tissue,
            "white_level": white if tissue and white > 0 else None,
            "tissue_od": od if tissue and od > 0 else None,
            "dab_thresholds": thresholds if tissue and any(thresholds) else None,
        }
