"""Names and file names that are spreadsheet formulas reach every CSV the plugin writes as
text (a leading quote), never as a live formula: the command line's clusters CSV and
summary.csv, the dock's cluster and objects exports, and the slide script's table."""

import csv
import subprocess
import sys
from pathlib import Path

import cv2
from skimage import data

import napari_kmeans_segment as nks

ROOT = Path(__file__).resolve().parents[2]
FORMULAS = {1: '=HYPERLINK("http://evil.example","x")', 2: "+cmd|' /C calc'!A0", 3: "@SUM(1+1)"}
LIVE = ("=", "+", "-", "@", "\t", "\r")


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def no_live_formula(path):
    """Every cell of the CSV is inert: text never starts a formula (plain numbers may be negative)."""
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                if cell.startswith(LIVE):
                    float(cell)  # only a number may start with + or -


def write_png(path, img):
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def test_cli_clusters_csv_and_summary_quote_formula_names_and_file_names(tmp_path):
    img = data.coffee()[::8, ::8]
    model = nks.segment(img, 3, seed=0).model.named(FORMULAS)
    model.save(tmp_path / "m.json")
    name = '=HYPERLINK("evil.example","x")'
    write_png(tmp_path / f"{name}.png", img)
    r = subprocess.run(
        [sys.executable, "-m", "napari_kmeans_segment", f"{name}.png", "--model", "m.json", "-o", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    clusters = rows(tmp_path / "out" / f"{name}_clusters.csv")
    assert [c["name"] for c in clusters] == ["'" + FORMULAS[i] for i in (1, 2, 3)]
    summary = rows(tmp_path / "out" / "summary.csv")
    assert summary[0]["file"] == "'" + f"{name}.png"
    for f in ("summary.csv", f"{name}_clusters.csv"):
        no_live_formula(tmp_path / "out" / f)


def test_dock_exports_quote_a_name_typed_as_a_formula(tmp_path):
    from napari.components import ViewerModel

    from napari_kmeans_segment._session.layers import Source
    from napari_kmeans_segment._session.session import ClusterSession

    img = data.immunohistochemistry()[:128, :128]
    seg = nks.segment(img, 3, color_space="hed", seed=0)
    viewer = ViewerModel()
    layer = viewer.add_image(img, name="slide")
    session = ClusterSession(viewer, layer)
    session.set_result(seg, Source.from_layers([layer]))
    for label, name in FORMULAS.items():
        session.rename(label, name)
    table = rows(session.export_table(tmp_path / "clusters.csv"))
    assert sorted(r["name"] for r in table) == sorted("'" + n for n in FORMULAS.values())
    no_live_formula(tmp_path / "clusters.csv")
    session.measure.extract_objects([1], min_size=5)
    objects = rows(session.measure.export_objects(tmp_path / "objects.csv"))
    assert objects and {r["cluster_name"] for r in objects} == {"'" + FORMULAS[1]}
    no_live_formula(tmp_path / "objects.csv")


def test_slide_script_table_quotes_formula_file_names_and_units(tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    ihc = data.immunohistochemistry()
    write_png(slides / "=1+1.png", ihc[:160, :160])
    write_png(slides / "@cmd.png", ihc[160:320, :160])
    out = tmp_path / "dab.csv"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "dab_share_of_tissue.py"),
            str(slides),
            "-o",
            str(out),
            "--pixel-size",
            "0.5",
            "--unit=-2+3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    table = rows(out)
    assert [t["image"] for t in table] == ["'=1+1.png", "'@cmd.png"]
    assert {t["area_unit"] for t in table} == {"'-2+3^2"}
    assert all(float(t["tissue_area"]) > 0 for t in table)
    no_live_formula(out)
