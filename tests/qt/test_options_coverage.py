"""Every field of ``Options`` reaches the person everywhere: a row of the parameter table
(docs/parameters.md, linked from the README), a flag of the command line and a control of the
dock, each read into the same ``Options`` the core runs with. Adding a tunable without one of
them fails here."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from napari_kmeans_segment._cli.args import OTHER_DEST, build_parser, fit_options
from napari_kmeans_segment._core.options import DEFAULTS, Options, names
from napari_kmeans_segment._qt.stain_controls import SLIDE_FIELDS

ROOT = Path(__file__).parents[2]
PARAMETERS = ROOT / "docs" / "parameters.md"

# Fields that truly have no control in one of the places, with the reason. Today every
# field has all three; a field added here must say why the person cannot set it there.
NO_TABLE_ROW: dict[str, str] = {}
NO_CLI_FLAG: dict[str, str] = {}
NO_DOCK_CONTROL: dict[str, str] = {}


def parameter_rows() -> list[set[str]]:
    """The names in backticks in the first cell of each row of the parameter table: the
    first table of docs/parameters.md, up to its next heading."""
    text = PARAMETERS.read_text(encoding="utf-8")
    section = text[text.index("\n| widget / `segment()` |") :]
    section = section[: section.index("\n#")]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # no heading
    return [set(re.findall(r"`(\w+)`", row.split("|")[1])) for row in rows]


def test_parameter_table_has_one_row_per_option():
    assert "(docs/parameters.md)" in (ROOT / "README.md").read_text(encoding="utf-8")  # linked
    rows = parameter_rows()
    for name in names():
        if name in NO_TABLE_ROW:
            continue
        holding = [r for r in rows if name in r]
        assert len(holding) == 1, f"{name}: {len(holding)} rows of the parameter table in docs/parameters.md"


def test_every_option_has_a_command_line_flag_with_the_core_default():
    actions = {a.dest: a for a in build_parser()._actions}
    for name in names():
        if name in NO_CLI_FLAG or name in OTHER_DEST:
            continue
        assert name in actions, f"{name}: no command-line flag stores it (dest={name!r})"
        if name != "n_clusters":  # -k has no default: it is required unless --model is given
            assert actions[name].default == getattr(DEFAULTS, name), name


def test_command_line_flags_set_every_option():
    argv = [
        "in.png", "-o", "out", "-k", "5", "--seed", "7", "--attempts", "3", "--max-iter", "40",
        "--epsilon", "0.5", "--init", "kmeans++", "--exact", "--color-space", "hed",
        "--stain-vectors", "macenko", "--normalize", "--spatial-weight", "0.5",
        "--texture-sigma", "2", "--per-plane", "--smoothing", "1.5", "--white-level", "236,238,240",
        "--tissue-od", "0.02", "--dab-thresholds", "0.1,0.3,0.6",
    ]  # fmt: skip
    opts = fit_options(build_parser().parse_args(argv))
    want = Options(
        n_clusters=5,
        attempts=3,
        max_iter=40,
        epsilon=0.5,
        init="k-means++",
        seed=7,
        sample_size=None,
        color_space="hed",
        stain_vectors="macenko",
        normalize=True,
        spatial_weight=0.5,
        texture_sigma=2.0,
        per_plane=True,
        smoothing=1.5,
        white_level=(236.0, 238.0, 240.0),
        tissue_od=0.02,
        dab_thresholds=(0.1, 0.3, 0.6),
    )
    assert opts.check() == want
    # tissue detection is on by default; --no-tissue turns it off (and refuses its settings)
    no_tissue = fit_options(build_parser().parse_args(["in.png", "-o", "out", "--no-tissue"]))
    assert no_tissue.tissue is False and DEFAULTS.tissue is True
    # every field was given a value other than its default: none is left unread
    assert set(want.changed()) == set(names()) - set(NO_CLI_FLAG) - {"tissue"}


def _other_value(widget):
    """A value of ``widget`` other than the one it shows."""
    from magicgui.widgets import CheckBox, ComboBox, TupleEdit

    if isinstance(widget, CheckBox):
        return not widget.value
    if isinstance(widget, ComboBox):
        return next(v for v in widget.choices if v != widget.value)
    if isinstance(widget, TupleEdit):
        return tuple(v + 0.1 for v in widget.value)
    return widget.value + 1 if widget.value + 1 <= widget.max else widget.value - 1


def test_every_option_has_a_dock_control_that_run_reads(make_napari_viewer, qtbot):
    """Each field's control (by name, in the dock) changes that field of ``run_options``;
    the copied Python then names exactly the options that differ from the defaults."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
    assert widget.run_options() == DEFAULTS
    for f in fields(Options):
        if f.name in NO_DOCK_CONTROL:
            continue
        if f.name in ("stain_vectors", *SLIDE_FIELDS):
            widget["color_space"].value = "hed"  # stain settings are read with hed only
        control = widget.option_control(f.name)
        assert widget[control.name] is control, f"{f.name}: its control is not in the dock"
        before = getattr(widget.run_options(), f.name)
        control.value = _other_value(control)
        assert getattr(widget.run_options(), f.name) != before, f"{f.name}: its control is not read"
        if f.name == "tissue":  # read; on again, as the settings below belong to it
            control.value = True
    changed = widget.run_options().changed()
    assert set(changed) == set(names()) - set(NO_DOCK_CONTROL) - {"tissue"}
    widget["tissue"].value = False  # without tissue detection its settings are not sent
    assert widget.run_options().changed().keys() & set(SLIDE_FIELDS) == {"tissue"}


def test_copied_python_names_only_the_options_that_differ(make_napari_viewer, qtbot):
    import numpy as np
    from skimage import data

    viewer = make_napari_viewer()
    viewer.add_image(data.coffee()[::4, ::4], name="coffee")
    _, widget = viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
    widget["n_clusters"].value = 4
    widget["seed"].value = 3
    widget["epsilon"].value = 0.5
    assert widget.run() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    code = widget.python_code()
    assert code.endswith("seg = nks.segment(image, 4, epsilon=0.5, seed=3, rgb=True)")
    ns = {"viewer": viewer}
    exec(code, ns)
    assert np.array_equal(ns["seg"].labels, viewer.layers["coffee clusters"].data)
