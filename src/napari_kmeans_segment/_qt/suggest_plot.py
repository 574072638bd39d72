"""The Suggest-K plot: silhouette and compactness against K, drawn with matplotlib in Qt.

A small figure (about 390 x 180 px, the width of a napari dock) with real axes: K on the
x axis (one integer tick per K tried), the silhouette on the left axis and the compactness on
a right-hand twin axis, each in its own colour, the suggested K marked by a dotted line and a
bold tick, the bend of the compactness curve by a hollow diamond, and the legend above the
axes so it never covers a line. Colours follow the napari theme (background, text, grid), as
napari-matplotlib does. Importing this module imports matplotlib (about half a second): the
dock should import it when the plot is first needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from qtpy.QtCore import QSize
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from .._core.suggest import SuggestKResult

PLOT_HEIGHT = 180  # px: fits under the form in a 390-px dock on a 1280x800 screen
FONT_SIZE = 7.5  # pt; napari's own widgets use 9pt, the plot needs to be denser
MAX_LABELLED_TICKS = 12  # beyond this many K, label every n-th K only

# Line colours readable on napari's dark and light backgrounds (blue/orange: distinguishable
# with the common colour-vision deficiencies, and the lines also differ in style and marker).
_LINE_COLORS = {
    "dark": {"silhouette": "#6cb4ff", "compactness": "#f2a541"},
    "light": {"silhouette": "#1d5fb4", "compactness": "#b4530a"},
}


def theme_colors(theme: str | None) -> dict[str, str]:
    """Background, text, grid and line colours for a napari theme name ("dark", "light", ...).

    Parameters
    ----------
    theme : str or None
        A name known to ``napari.utils.theme.get_theme`` (``viewer.theme``); None means "dark".

    Returns
    -------
    dict
        Hex colours under the keys background, text, grid, silhouette, compactness, mark.
    """
    from napari.utils.theme import get_theme

    t = get_theme(theme or "dark")
    kind = getattr(t, "type", None)  # napari 0.5's themes have no type: judge the background
    if kind not in ("light", "dark"):
        r, g, b = (int(t.background.as_hex()[i : i + 2], 16) for i in (1, 3, 5))
        kind = "light" if 0.299 * r + 0.587 * g + 0.114 * b > 128 else "dark"
    return {
        "background": t.background.as_hex(),
        "text": t.text.as_hex(),
        "grid": t.highlight.as_hex(),
        "mark": t.text.as_hex(),
        **_LINE_COLORS[kind],
    }


def short_number(value: float, _pos: Any = None) -> str:
    """A tick label of at most about five characters: 950, 1.2k, 34M, 5.1G."""
    v = float(value)
    if v == 0:
        return "0"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


class SuggestKPlot(QWidget):
    """Silhouette and compactness per K, as scored by Suggest K.

    Parameters
    ----------
    theme : str, optional
        napari theme name (``viewer.theme``); change it later with :meth:`set_theme`.
    parent : QWidget, optional

    Notes
    -----
    :meth:`set_result` draws a :class:`SuggestKResult`; :meth:`show_message` replaces the plot
    by a line of text (e.g. while scoring); :meth:`drawn` reports what is on the figure.
    """

    def __init__(self, theme: str | None = "dark", parent: QWidget | None = None):
        super().__init__(parent)
        self.result: SuggestKResult | None = None
        self.message = ""
        self.colors = theme_colors(theme)
        self.figure = Figure(figsize=(3.9, PLOT_HEIGHT / 100), dpi=100, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        # the canvas asks for its figure size; let the dock decide the width instead
        self.canvas.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.canvas.setFixedHeight(PLOT_HEIGHT)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.ax_silhouette = self.figure.add_subplot()
        self.ax_compactness = self.ax_silhouette.twinx()
        self._handles: list[Line2D] = []
        self._legend_width = 0.0
        self._clear()

    # -- Qt sizing -----------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(360, PLOT_HEIGHT)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(220, PLOT_HEIGHT)

    # -- public API ----------------------------------------------------------------------
    def set_theme(self, theme: str | None) -> None:
        """Recolour for a napari theme (connect ``viewer.events.theme`` here)."""
        self.colors = theme_colors(theme)
        if self.result is not None:
            self.set_result(self.result)
        else:
            self.show_message(self.message)

    def show_message(self, text: str) -> None:
        """Show ``text`` in place of the plot (e.g. "Scoring K = 2 to 10…"); keeps no result."""
        self.result = None
        self.message = text
        self._clear()
        self.ax_silhouette.set_axis_off()
        self.ax_compactness.set_axis_off()
        self.figure.text(
            0.5,
            0.5,
            text,
            ha="center",
            va="center",
            wrap=True,
            color=self.colors["text"],
            fontsize=FONT_SIZE + 1,
        )
        self.canvas.draw_idle()

    def set_result(self, res: SuggestKResult) -> None:
        """Draw the scores of ``res`` (from ``suggest_k``).

        Raises
        ------
        ValueError
            If the lists in ``res`` differ in length, are empty, or ``res.k`` was not scored.
        """
        ks = [int(k) for k in res.ks]
        sil = np.asarray(res.silhouette, float)
        comp = np.asarray(res.compactness, float)
        if not ks or not len(ks) == sil.size == comp.size:
            raise ValueError(
                "A Suggest-K result needs one silhouette and one compactness "
                f"value per K; got {len(ks)} K, {sil.size} and {comp.size} values."
            )
        if res.k not in ks:
            raise ValueError(f"The suggested K = {res.k} is not among the K scored ({ks}).")
        self.result = res
        self.message = ""
        self._clear()
        c = self.colors
        ax, ax2 = self.ax_silhouette, self.ax_compactness
        (sil_line,) = ax.plot(
            ks, sil, "-o", color=c["silhouette"], lw=1.6, ms=3.5, label="silhouette", zorder=3
        )
        (comp_line,) = ax2.plot(
            ks, comp, "--s", color=c["compactness"], lw=1.3, ms=3, label="compactness", zorder=2
        )
        mark = ax.axvline(res.k, color=c["mark"], ls=":", lw=1.3, zorder=1, label="suggested K")
        mark.set_gid("suggested")
        self._handles = [sil_line, comp_line, mark]
        if res.elbow_k in ks:
            (bend,) = ax2.plot(
                [res.elbow_k],
                [comp[ks.index(res.elbow_k)]],
                "D",
                ms=7,
                mfc="none",
                mec=c["compactness"],
                mew=1.4,
                zorder=4,
                label="bend",
            )
            bend.set_gid("elbow")
            self._handles.append(bend)
        ax.set_xlim(ks[0] - 0.5, ks[-1] + 0.5)  # half a step of room: no tick is clipped
        step = max(1, int(np.ceil(len(ks) / MAX_LABELLED_TICKS)))
        # every step-th K, plus the suggested one; no label crowding the suggested K's
        ticks = sorted({k for k in ks[::step] if abs(k - res.k) > step / 2} | {res.k})
        ax.set_xticks(ticks, [str(k) for k in ticks])
        for label in ax.get_xticklabels():
            if label.get_text() == str(res.k):
                label.set_fontweight("bold")
        ax.set_xlabel("K (number of clusters)")
        ax.set_ylabel("silhouette", color=c["silhouette"])
        ax2.set_ylabel("compactness", color=c["compactness"])
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax2.yaxis.set_major_locator(MaxNLocator(4))
        ax2.yaxis.set_major_formatter(FuncFormatter(short_number))
        ax.tick_params(axis="y", colors=c["silhouette"])
        ax2.tick_params(axis="y", colors=c["compactness"])
        ax.grid(True, axis="x", color=c["grid"], lw=0.5, alpha=0.6)
        self._draw_legend()
        self.canvas.draw_idle()

    def drawn(self) -> dict[str, Any]:
        """What the figure shows, read back from the drawn artists (for tests and scripts).

        Returns
        -------
        dict
            ks, silhouette, compactness (the plotted points), marked_k, elbow_k (None when
            not drawn), xticks, xticklabels, bold_ticks, xlim, xlabel, left_label,
            right_label, legend (entry texts) and message.
        """
        ax, ax2 = self.ax_silhouette, self.ax_compactness
        out: dict[str, Any] = {"message": self.message, "legend": []}
        for leg in self.figure.legends:
            out["legend"] += [t.get_text() for t in leg.get_texts()]
        lines = {ln.get_label(): ln for ln in (*ax.get_lines(), *ax2.get_lines())}
        if "silhouette" not in lines:
            return out
        mark = next(ln for ln in ax.get_lines() if ln.get_gid() == "suggested")
        bend = [ln for ln in ax2.get_lines() if ln.get_gid() == "elbow"]
        labels = ax.get_xticklabels()

        def xy(line: Line2D, which: int) -> np.ndarray:
            return np.asarray(line.get_data()[which], float)

        out.update(
            ks=[int(round(x)) for x in xy(lines["silhouette"], 0)],
            silhouette=xy(lines["silhouette"], 1).tolist(),
            compactness=xy(lines["compactness"], 1).tolist(),
            marked_k=int(round(xy(mark, 0)[0])),
            elbow_k=int(round(xy(bend[0], 0)[0])) if bend else None,
            xticks=[float(t) for t in ax.get_xticks()],
            xticklabels=[t.get_text() for t in labels],
            bold_ticks=[t.get_text() for t in labels if t.get_fontweight() == "bold"],
            xlim=tuple(float(v) for v in ax.get_xlim()),
            xlabel=ax.get_xlabel(),
            left_label=ax.get_ylabel(),
            right_label=ax2.get_ylabel(),
        )
        return out

    # -- drawing helpers -----------------------------------------------------------------
    def _draw_legend(self) -> None:
        """The legend above the axes, outside them, so it cannot cover a line: one row when
        the figure is wide enough, else two rows."""
        for ncols in (len(self._handles), 2):
            for leg in list(self.figure.legends):
                leg.remove()
            leg = self.figure.legend(
                handles=self._handles,
                loc="outside upper center",
                ncols=ncols,
                frameon=False,
                fontsize=FONT_SIZE - 0.5,
                handlelength=1.5,
                columnspacing=0.8,
                handletextpad=0.4,
                labelcolor=self.colors["text"],
            )
            width = leg.get_window_extent(self.canvas.get_renderer()).width
            if width <= 0.97 * self.figure.bbox.width:
                break
        self._legend_width = self.figure.bbox.width

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.result is not None and self.figure.bbox.width != self._legend_width:
            self._draw_legend()  # the number of legend rows depends on the width
            self.canvas.draw_idle()

    def _clear(self) -> None:
        """Empty both axes and restyle the figure for the current theme."""
        c = self.colors
        for leg in list(self.figure.legends):
            leg.remove()
        for txt in list(self.figure.texts):
            txt.remove()
        self.ax_silhouette.cla()
        self.ax_compactness.cla()
        self.figure.patch.set_facecolor(c["background"])
        self.ax_silhouette.set_facecolor(c["background"])
        self.ax_compactness.patch.set_visible(False)  # the twin must not hide the first axes
        for ax in (self.ax_silhouette, self.ax_compactness):
            ax.set_axis_on()
            for spine in ax.spines.values():
                spine.set_color(c["text"])
            ax.tick_params(colors=c["text"], labelsize=FONT_SIZE, length=3, pad=2)
            ax.xaxis.label.set_color(c["text"])
            ax.xaxis.label.set_fontsize(FONT_SIZE)
            ax.yaxis.label.set_fontsize(FONT_SIZE)
        self.ax_compactness.yaxis.set_label_position("right")
        self.ax_compactness.yaxis.tick_right()


def verdict(res: SuggestKResult) -> str:
    """A few plain sentences on what the Suggest-K scores say, for the dock to show.

    Parameters
    ----------
    res : SuggestKResult

    Returns
    -------
    str
        e.g. "Silhouette is highest at K = 4 (0.61): clusters are best separated there.
        The compactness curve bends at K = 5."
    """
    ks = [int(k) for k in res.ks]
    sil = [float(s) for s in res.silhouette]
    best = sil[ks.index(res.k)]
    if best >= 0.5:
        how = "clusters are best separated there"
    elif best >= 0.25:
        how = "clusters are best separated there, though they overlap somewhat"
    else:
        how = "even there the clusters overlap a lot: the image may have no clearly distinct colour groups"
    parts = [f"Silhouette is highest at K = {res.k} ({best:.2f}): {how}."]
    close = [(k, s) for k, s in zip(ks, sil) if k != res.k and s >= best - 0.02]
    if close:
        k2, s2 = max(close, key=lambda ks_: ks_[1])
        parts.append(f"K = {k2} scores almost as well ({s2:.2f}).")
    if res.elbow_k == res.k:
        parts.append("The compactness curve bends at the same K, so both measures agree.")
    else:
        parts.append(f"The compactness curve bends at K = {res.elbow_k}.")
    if res.k == ks[-1] and len(ks) > 1:
        parts.append(f"The best score is at the largest K tried; a K above {ks[-1]} may score higher.")
    return " ".join(parts)
