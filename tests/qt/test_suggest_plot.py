"""The Suggest-K plot (matplotlib in Qt) and its plain-language verdict, in a real Qt app."""

import numpy as np
import pytest
from matplotlib.colors import to_hex
from napari.utils.theme import get_theme

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.suggest import SuggestKResult
from napari_kmeans_segment._qt.suggest_plot import (
    MAX_LABELLED_TICKS,
    PLOT_HEIGHT,
    SuggestKPlot,
    short_number,
    verdict,
)


def make_result(k=4, ks=range(2, 11), elbow_k=5, seed=0):
    ks = list(ks)
    rng = np.random.default_rng(seed)
    sil = rng.uniform(0.2, 0.5, len(ks))
    sil[ks.index(k)] = 0.61
    comp = 1e9 / np.asarray(ks, float) ** 1.5  # large, real-looking values
    return SuggestKResult(
        k=k, ks=ks, compactness=[float(c) for c in comp], silhouette=[float(s) for s in sil], elbow_k=elbow_k
    )


@pytest.fixture
def plot(qtbot):
    w = SuggestKPlot("dark")
    qtbot.addWidget(w)
    w.resize(390, PLOT_HEIGHT)
    w.show()
    qtbot.waitExposed(w)
    return w


def render(w):
    w.canvas.draw()
    return w.canvas.get_renderer()


def test_real_axes_labels_and_one_integer_tick_per_k(plot):
    res = make_result()
    plot.set_result(res)
    d = plot.drawn()
    assert "K" in d["xlabel"]
    assert d["left_label"] == "silhouette"
    assert d["right_label"] == "compactness"
    assert d["xticklabels"] == [str(k) for k in res.ks]
    assert d["xticks"] == [float(k) for k in res.ks]
    # the values themselves, not curves stretched to 0..1 (the old hand-drawn plot)
    assert d["silhouette"] == pytest.approx(res.silhouette)
    assert d["compactness"] == pytest.approx(res.compactness)
    lo, hi = plot.ax_compactness.get_ylim()
    assert lo <= min(res.compactness) and hi >= max(res.compactness)
    # the right axis reads 100M, 200M, ... rather than a bare 1e8 offset above the axis
    render(plot)
    right = [t.get_text() for t in plot.ax_compactness.get_yticklabels() if t.get_text()]
    assert right and all(len(t) <= 5 for t in right)
    assert plot.ax_compactness.yaxis.get_offset_text().get_text() == ""


def test_suggested_k_and_bend_are_marked(plot):
    res = make_result(k=4, elbow_k=6)
    plot.set_result(res)
    d = plot.drawn()
    assert d["marked_k"] == 4
    assert d["bold_ticks"] == ["4"]
    assert d["elbow_k"] == 6
    assert d["legend"] == ["silhouette", "compactness", "suggested K", "bend"]


@pytest.mark.parametrize("width", [390, 300])
def test_nothing_clipped_and_legend_clear_of_the_lines(plot, qtbot, width):
    plot.resize(width, PLOT_HEIGHT)
    qtbot.waitUntil(lambda: plot.canvas.width() == width)
    plot.set_result(make_result(k=10, elbow_k=2))  # marks at both ends of the axis
    r = render(plot)
    fig = plot.figure.bbox
    texts = [plot.ax_silhouette.xaxis.label, plot.ax_silhouette.yaxis.label, plot.ax_compactness.yaxis.label]
    for axis in (plot.ax_silhouette.xaxis, plot.ax_silhouette.yaxis, plot.ax_compactness.yaxis):
        lo, hi = sorted(axis.get_view_interval())
        # matplotlib draws only the tick labels inside the axis range
        texts += [lab for v, lab in zip(axis.get_ticklocs(), axis.get_ticklabels()) if lo <= v <= hi]
    assert len(texts) > 3 + 10
    for t in texts:
        if t.get_text() and t.get_visible():
            box = t.get_window_extent(r)
            assert fig.x0 - 0.5 <= box.x0 and box.x1 <= fig.x1 + 0.5, t.get_text()
            assert fig.y0 - 0.5 <= box.y0 and box.y1 <= fig.y1 + 0.5, t.get_text()
    (legend,) = plot.figure.legends
    lbox = legend.get_window_extent(r)
    assert fig.x0 <= lbox.x0 and lbox.x1 <= fig.x1 and lbox.y1 <= fig.y1 + 0.5
    assert lbox.y0 >= plot.ax_silhouette.bbox.y1  # wholly above the axes, off the lines


def test_sized_for_a_390_px_dock(plot):
    assert plot.sizeHint().width() <= 390 and plot.minimumSizeHint().width() <= 300
    assert plot.height() == PLOT_HEIGHT
    plot.set_result(make_result())
    assert plot.sizeHint().width() <= 390  # drawing a result does not widen the dock


def test_many_k_values_keep_ticks_readable_and_the_suggested_one(plot):
    res = make_result(k=39, ks=range(2, 41), elbow_k=8)
    plot.set_result(res)
    d = plot.drawn()
    assert len(d["xticklabels"]) <= MAX_LABELLED_TICKS + 1
    assert "39" in d["xticklabels"] and d["bold_ticks"] == ["39"]
    assert all(float(t).is_integer() for t in d["xticks"])
    assert d["ks"] == res.ks  # every K is still plotted


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_colors_follow_the_napari_theme(plot, theme):
    plot.set_result(make_result())
    plot.set_theme(theme)
    t = get_theme(theme)
    assert to_hex(plot.figure.get_facecolor()) == t.background.as_hex()
    assert to_hex(plot.ax_silhouette.get_facecolor()) == t.background.as_hex()
    label = plot.ax_silhouette.get_xticklabels()[0]
    assert to_hex(label.get_color()) == t.text.as_hex()
    assert plot.drawn()["marked_k"] == 4  # the result is redrawn, not lost


def test_message_replaces_the_plot(plot):
    plot.set_result(make_result())
    plot.show_message("Scoring K = 2 to 10…")
    d = plot.drawn()
    assert d["message"] == "Scoring K = 2 to 10…" and "ks" not in d
    assert [t.get_text() for t in plot.figure.texts] == ["Scoring K = 2 to 10…"]
    plot.set_result(make_result())
    assert plot.figure.texts == [] and plot.drawn()["marked_k"] == 4


def test_inconsistent_result_is_refused(plot):
    bad = SuggestKResult(k=4, ks=[2, 3, 4], compactness=[3.0, 2.0], silhouette=[0.1, 0.2, 0.3], elbow_k=3)
    with pytest.raises(ValueError, match="one silhouette and one compactness"):
        plot.set_result(bad)
    with pytest.raises(ValueError, match="not among the K scored"):
        plot.set_result(
            SuggestKResult(k=9, ks=[2, 3], compactness=[2.0, 1.0], silhouette=[0.1, 0.2], elbow_k=2)
        )


def test_plot_of_a_real_suggest_k_run(plot, blocks):
    img, _ = blocks
    res = nks.suggest_k(img, range(2, 7), seed=0)
    plot.set_result(res)
    d = plot.drawn()
    assert d["ks"] == res.ks and d["marked_k"] == res.k == 3
    assert d["bold_ticks"] == ["3"]


def test_short_numbers():
    assert [short_number(v) for v in (0, 950, 1234, 3.4e7, 5.1e9, 0.25)] == [
        "0",
        "950",
        "1.23k",
        "34M",
        "5.1G",
        "0.25",
    ]


def test_verdict_names_the_best_k_its_score_and_the_bend():
    res = make_result(k=4, elbow_k=5)
    text = verdict(res)
    assert text.startswith("Silhouette is highest at K = 4 (0.61): clusters are best separated")
    assert "The compactness curve bends at K = 5." in text


def test_verdict_when_both_agree_or_the_best_is_the_last_k():
    assert "both measures agree" in verdict(make_result(k=4, elbow_k=4))
    last = verdict(make_result(k=10, elbow_k=4))
    assert "largest K tried" in last and "above 10" in last


def test_verdict_warns_about_weak_separation_and_near_ties():
    res = SuggestKResult(
        k=3, ks=[2, 3, 4], compactness=[3.0, 2.0, 1.5], silhouette=[0.10, 0.15, 0.14], elbow_k=3
    )
    text = verdict(res)
    assert "overlap a lot" in text
    assert "K = 4 scores almost as well (0.14)" in text
