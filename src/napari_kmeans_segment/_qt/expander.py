"""A titled section of the form whose controls fold away (closed by default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from magicgui.widgets import Container
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSizePolicy, QToolButton


class Expander(Container):
    """A magicgui container: a disclosure button, then ``widgets`` laid out with labels.

    The body is a magicgui container, so napari's ``reset_choices`` reaches the layer choices
    inside it, and the widgets stay reachable by name from the dock (``widget["seed"]``).

    Parameters
    ----------
    title : str
        What the section holds, in the person's words (shown on the button).
    widgets : sequence of magicgui widgets
    name : str
    tooltip : str
        Shown on the button (rich text, so Qt wraps it).
    expanded : bool
        Open at first.
    """

    def __init__(
        self, title: str, widgets: Sequence[Any], *, name: str, tooltip: str, expanded: bool = False
    ):
        self.body = Container(widgets=list(widgets), labels=True, name=f"{name}_body")
        self.body.margins = (12, 0, 0, 0)  # indent the folded controls under the title
        super().__init__(widgets=[self.body], labels=False, name=name)
        self.margins = (0, 0, 0, 0)
        self.toggle = QToolButton()
        self.toggle.setObjectName(f"{name}_toggle")
        self.toggle.setText(title)
        self.toggle.setToolTip(tooltip)
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        # the title may be cut, never widen the dock
        self.toggle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.native.layout().insertWidget(0, self.toggle)
        self.toggle.toggled.connect(self._show_body)
        self.toggle.setChecked(expanded)
        self._show_body(expanded)

    @property
    def expanded(self) -> bool:
        """Whether the body is shown."""
        return self.toggle.isChecked()

    @expanded.setter
    def expanded(self, value: bool) -> None:
        self.toggle.setChecked(bool(value))

    def _show_body(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.visible = bool(on)
