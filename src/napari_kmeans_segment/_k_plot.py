"""A small line plot of the Suggest-K scores, drawn with QPainter (no plotting dependency)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QWidget


class KPlot(QWidget):
    """Silhouette (solid) and compactness (dashed) against K, each scaled to the plot's
    height; the suggested K marked."""

    def __init__(self):
        super().__init__()
        self.setMinimumHeight(120)
        self.result = None
        self.setVisible(False)

    def set_result(self, res) -> None:
        self.result = res
        self.setVisible(True)
        self.update()

    def curves(self) -> dict[str, np.ndarray]:
        """What is drawn, in 0..1 plot units (for tests and scripts)."""
        r = self.result
        ks = np.asarray(r.ks, float)
        x = (ks - ks[0]) / max(ks[-1] - ks[0], 1)
        sil = np.asarray(r.silhouette, float)
        comp = np.asarray(r.compactness, float)
        return {
            "x": x,
            "silhouette": (sil - sil.min()) / max(sil.max() - sil.min(), 1e-12),
            "compactness": (comp - comp.min()) / max(comp.max() - comp.min(), 1e-12),
        }

    def paintEvent(self, event):  # noqa: N802 - Qt's name
        if self.result is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        m = 28.0
        box = QRectF(m, 8.0, self.width() - m - 8.0, self.height() - m - 8.0)
        pal = self.palette()
        fg = pal.color(pal.ColorRole.WindowText)
        p.setPen(QPen(fg, 1))
        p.drawRect(box)
        c = self.curves()

        def pt(x, y):
            return QPointF(box.left() + x * box.width(), box.bottom() - y * box.height())

        for name, colour, style in (("compactness", QColor(150, 150, 150), Qt.PenStyle.DashLine),
                                    ("silhouette", QColor(80, 170, 255), Qt.PenStyle.SolidLine)):
            p.setPen(QPen(colour, 2, style))
            pts = [pt(x, y) for x, y in zip(c["x"], c[name])]
            for a, b in zip(pts, pts[1:]):
                p.drawLine(a, b)
        best = self.result.ks.index(self.result.k)
        p.setPen(QPen(QColor(255, 170, 0), 2))
        p.drawLine(pt(c["x"][best], 0), pt(c["x"][best], 1))
        p.setPen(QPen(fg, 1))
        for x, k in zip(c["x"], self.result.ks):
            p.drawText(pt(x, 0) + QPointF(-4, 16), str(k))
        p.setPen(QPen(QColor(80, 170, 255), 1))
        p.drawText(box.topLeft() + QPointF(6, 14), "silhouette")
        p.setPen(QPen(QColor(150, 150, 150), 1))
        p.drawText(box.topLeft() + QPointF(6, 28), "compactness")
        p.end()
