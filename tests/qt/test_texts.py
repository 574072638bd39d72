"""Tooltips and status messages: one for every control, in plain words."""

import re

import pytest

from napari_kmeans_segment._qt.texts import STATUS, TOOLTIPS, placeholders, status, tooltip

# Every control and button the dock has today (magicgui names in _widget.py, attribute names
# in _cluster_panel.py), including the layout and measuring ones.
TODAY_FORM = [
    "image_layer",
    "n_clusters",
    "mode",
    "attempts",
    "max_iter",
    "epsilon",
    "init",
    "seed",
    "advanced",
    "color_space",
    "normalize",
    "spatial_weight",
    "texture_sigma",
    "per_plane",
    "mask_layer",
    "channel_layers",
    "live_preview",
    "run_button",
    "cancel_button",
    "suggest_button",
    "suggest_result",
    "status",
]
TODAY_PANEL = [
    "table",
    "show_all_btn",
    "hide_all_btn",
    "invert_btn",
    "merge_btn",
    "undo_btn",
    "extract_btn",
    "objects",
    "min_size",
    "export_btn",
    "copy_btn",
    "save_model_btn",
    "load_model_btn",
    "apply_model_btn",
    "curve",
    "column_show",
    "column_colour",
    "column_label",
    "column_name",
    "column_share",
    "column_centre",
]
NEW = [
    "hed",
    "background",
    "use_k",
    "channel_axis",
    "suggest_plot",
    "suggest_verdict",
    "search_settings",
    "loaded_model",
    "clear_model",
    "run",
    "cancel",
    "suggest",
]

# Words no person should meet in the dock.
BANNED = [
    r"cv2",
    r"TERM_CRITERIA",
    r"KMEANS_",
    r"recipe",
    r"sampled",
    r"Lloyd",
    r"centroid",
    r"\bRNG\b",
    r"-1(?! to 1)",
    r"dtype",
    r"ndarray",
    r"inertia",
    r"elbow",
    r"feature space",
    r"\bparams\b",
    r"\bmethod\b",
]
# OpenCV and k-means terms allowed only with a plain explanation in the same text.
EXPLAINED = {
    r"epsilon": ("move", "stop"),
    r"attempt": ("start",),
    r"iteration": ("step",),
    r"k-?means\+\+": ("spread", "apart"),
    r"silhouette": ("separated",),
    r"compactness": ("distance", "tight"),
    r"\bseed\b": ("random", "same result", "repeat"),
    r"feature": ("channel", "colour", "position"),
    r"\blab\b": ("eye",),
    r"\bhsv\b": ("hue",),
    r"\bhed\b": ("stain",),
    r"\bcent(re|er)": ("average",),
}

ALL_TEXTS = [(f"TOOLTIPS[{k!r}]", v) for k, v in TOOLTIPS.items()] + [
    (f"STATUS[{k!r}]", v) for k, v in STATUS.items()
]


@pytest.mark.parametrize("name", TODAY_FORM + TODAY_PANEL + NEW)
def test_every_control_has_a_tooltip(name):
    text = tooltip(name, wrap=False)
    assert isinstance(text, str) and len(text.split()) >= 3


def test_tooltips_are_rich_text_so_qt_wraps_them(qapp):
    from qtpy.QtCore import Qt
    from qtpy.QtGui import QTextDocument

    for name, plain in TOOLTIPS.items():
        wrapped = tooltip(name)
        assert Qt.mightBeRichText(wrapped), name  # Qt word-wraps rich-text tooltips only
        doc = QTextDocument()
        doc.setHtml(wrapped)
        assert doc.toPlainText() == plain, name  # '<image>' and '&' shown as written


@pytest.mark.parametrize("where, text", ALL_TEXTS)
def test_every_entry_is_a_non_empty_sentence(where, text):
    assert isinstance(text, str) and text.strip() == text and text, where
    assert text[-1] in ".…" or text.endswith("{reason}"), where
    assert "  " not in text, where


@pytest.mark.parametrize("where, text", ALL_TEXTS)
def test_no_jargon_without_an_explanation(where, text):
    for pattern in BANNED:
        assert not re.search(pattern, text, re.IGNORECASE), f"{where} says {pattern!r}: {text}"
    for pattern, plain in EXPLAINED.items():
        if re.search(pattern, text, re.IGNORECASE):
            assert any(w in text.lower() for w in plain), (
                f"{where} uses {pattern!r} without saying what it means ({plain}): {text}"
            )


def test_modes_and_seed_in_the_users_words():
    assert "fast:" in TOOLTIPS["mode"] and "exact:" in TOOLTIPS["mode"]
    assert TOOLTIPS["seed"].startswith("random:")  # the box shows "random", not -1
    assert "hed" in TOOLTIPS["color_space"] and "H-DAB" in TOOLTIPS["hed"]
    assert "use K = n" in TOOLTIPS["suggest"]  # Suggest K no longer changes K silently


def test_status_messages_fill_their_placeholders():
    values = dict(
        name="coffee",
        layer="coffee clusters",
        k=4,
        k_min=2,
        k_max=10,
        mode="fast",
        seconds=0.42,
        reason="K is larger than the number of colours.",
        model="classes.json",
        group=[3, 4],
        target=3,
        label=2,
        n=5,
        axis=2,
        path="clusters.csv",
    )
    for key, template in STATUS.items():
        assert placeholders(template) <= set(values), key
        text = status(key, **{f: values[f] for f in placeholders(template)})
        assert "{" not in text and "}" not in text, key
    assert status("done", k=4, layer="coffee clusters", mode="exact", seconds=2.25) == (
        "4 clusters in 'coffee clusters' (exact, 2.2 s)."
    )


def test_unknown_names_say_what_exists():
    with pytest.raises(KeyError, match="known: .*n_clusters"):
        tooltip("n_klusters")
    with pytest.raises(KeyError, match="known: .*ready"):
        status("redy")
    with pytest.raises(KeyError, match="needs k, layer, mode, seconds"):
        status("done")
