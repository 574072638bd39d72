"""A one-line label that elides its text to the width it gets (the whole text in its tooltip)."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QPainter
from qtpy.QtWidgets import QLabel, QSizePolicy


class ElidedLabel(QLabel):
    """One line, cut in the middle with '…' when the column is narrow, never widening the
    dock or wrapping to more lines; ``text()`` stays the whole text."""

    def __init__(self, text: str = "", name: str = ""):
        super().__init__(text)
        self.setObjectName(name)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def shown_text(self) -> str:
        """What fits in the label's width now."""
        return self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideMiddle, self.contentsRect().width()
        )

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())
        painter.end()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(20, super().minimumSizeHint().height())
