"""The stain-vectors choice of the form, shown when the colour space is "hed"."""

from __future__ import annotations

from magicgui.widgets import ComboBox

from .._core.options import DEFAULTS
from .texts import tooltip

# short words: the choice is shown whole in a narrow dock (the tooltip says more)
STAIN_CHOICES = [("fixed", "fixed"), ("from the image", "macenko")]


def stain_vectors_widget(color_space: ComboBox) -> ComboBox:
    """A stain-vectors ComboBox visible only while ``color_space`` is "hed"; gives the
    colour-space box its tooltip (which explains hed) too."""
    w = ComboBox(
        name="stain_vectors",
        label="stain vectors",
        choices=STAIN_CHOICES,
        value=DEFAULTS.stain_vectors,
        tooltip=tooltip("stain_vectors"),
    )
    color_space.tooltip = tooltip("color_space")
    w.visible = color_space.value == "hed"
    color_space.changed.connect(lambda value: setattr(w, "visible", value == "hed"))
    return w
