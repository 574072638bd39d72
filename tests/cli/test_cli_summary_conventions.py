"""summary.csv never reports an impossible number: a repeated background label counts once, a
label the model does not write is refused, a cluster without pixels reads 0.0 in every row,
and a ratio whose denominator is 0 is an empty cell with the reason beside it. Checked on
images whose every pixel's class is known."""

import csv

import numpy as np
import tifffile
from cli_run import clean_failure, cli, png

import napari_kmeans_segment as nks

BLUE, RED, GREEN = (20, 30, 200), (200, 40, 40), (30, 190, 60)


def bands(widths, colors, height=40, noise=4, seed=0):
    """Vertical bands of known colours; returns the image and each pixel's band index."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(widths)), widths)[None].repeat(height, axis=0)
    img = np.asarray(colors, float)[truth] + rng.normal(0, noise, (*truth.shape, 3))
    return np.clip(img, 0, 255).astype(np.uint8), truth


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def label_of(labels, truth, band):
    (lab,) = np.unique(labels[truth == band])
    return int(lab)


def test_a_repeated_background_label_counts_once(tmp_path):
    """--background 2,2,2 subtracted cluster 2 three times: negative tissue and shares."""
    img, truth = bands([50, 30, 20], [BLUE, RED, GREEN])
    path = png(tmp_path / "a.png", img)
    out = tmp_path / "out"
    first = cli(path, "-k", "3", "--seed", "0", "-o", tmp_path / "probe")
    assert first.returncode == 0, first.stderr
    labels = tifffile.imread(tmp_path / "probe" / "a_labels.tif")
    bg = label_of(labels, truth, 0)  # the widest band, 50 of 100 columns
    r = cli(path, "-k", "3", "--seed", "0", "-o", out, "--background", f"{bg},{bg},{bg}")
    assert r.returncode == 0, r.stderr
    assert (
        f"--background {bg},{bg},{bg}: a cluster was listed more than once; counted once ({bg})" in r.stderr
    )
    (row,) = read(out / "summary.csv")
    assert int(row["tissue"]) == 40 * 50  # the two other bands
    others = [label_of(labels, truth, b) for b in (1, 2)]
    assert float(row[f"tissue_share_{others[0]}"]) == 30 / 50
    assert float(row[f"tissue_share_{others[1]}"]) == 20 / 50


def test_a_background_label_the_model_does_not_write_is_refused(tmp_path):
    img, _ = bands([30, 30, 30], [BLUE, RED, GREEN])
    model = nks.segment(img, 3, seed=0).merge([1, 2]).model  # writes labels 1 and 3
    model.save(tmp_path / "m.json")
    path = png(tmp_path / "a.png", img)
    r = cli(path, "--model", tmp_path / "m.json", "-o", tmp_path / "out", "--background", "2")
    messages = clean_failure(r)
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    assert any("--background 2: the clusters are 1, 3" in m for m in messages)


def test_a_cluster_without_pixels_reads_zero_in_every_row_and_undefined_ratios_are_empty(tmp_path):
    """The model's brightest cluster is absent from the second image: its share was an empty
    cell there and 0.0 elsewhere; an image of background only printed 0.0 tissue shares."""
    img, truth = bands([30, 30, 30], [BLUE, RED, GREEN])
    seg = nks.segment(img, 3, seed=0)
    green = label_of(seg.labels, truth, 2)
    seg.model.save(tmp_path / "m.json")
    full = png(tmp_path / "full.png", img)
    two = png(tmp_path / "two.png", bands([45, 45], [BLUE, RED], seed=1)[0])
    glass = png(tmp_path / "glass.png", bands([90], [GREEN], seed=2)[0])
    out = tmp_path / "out"
    r = cli(full, two, glass, "--model", tmp_path / "m.json", "-o", out, "--background", green)
    assert r.returncode == 0, r.stderr
    rows = {row["file"]: row for row in read(out / "summary.csv")}
    others = [lab for lab in (1, 2, 3) if lab != green]
    row = rows[str(two)]
    assert float(row[f"share_{green}"]) == 0.0
    assert [float(row[f"share_{lab}"]) for lab in others] == [0.5, 0.5]
    assert [float(row[f"tissue_share_{lab}"]) for lab in others] == [0.5, 0.5] and row["reason"] == ""
    row = rows[str(glass)]
    assert float(row[f"share_{green}"]) == 1.0 and int(row["tissue"]) == 0
    assert [row[f"tissue_share_{lab}"] for lab in others] == ["", ""]
    assert row["reason"].startswith("no tissue")
    row = rows[str(full)]
    assert [float(row[f"share_{lab}"]) for lab in (1, 2, 3)] == [1 / 3, 1 / 3, 1 / 3]


def test_slide_script_leaves_shares_of_no_tissue_empty_with_the_reason(tmp_path):
    """A slide of bare glass printed 0.0% DAB of tissue (0/0), or ended the script with a
    traceback; its row now has empty cells and the reason, and the other slides are measured."""
    import subprocess
    import sys
    from pathlib import Path

    from skimage import data

    slides = tmp_path / "slides"
    slides.mkdir()
    png(slides / "tissue.png", data.immunohistochemistry()[:200, :200])
    rng = np.random.default_rng(0)
    glass = np.clip(rng.normal(242, 2, (120, 120, 3)), 0, 255).astype(np.uint8)
    png(slides / "glass.png", glass)
    out = tmp_path / "dab.csv"
    script = Path(__file__).resolve().parents[2] / "scripts" / "dab_share_of_tissue.py"
    r = subprocess.run(
        [sys.executable, str(script), str(slides), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    rows = {row["image"]: row for row in read(out)}
    glass_row, tissue_row = rows["glass.png"], rows["tissue.png"]
    measured = [k for k in tissue_row if k not in ("image", "warning", "reason", "area_unit")]
    assert "positive_pct_of_tissue" in measured and any(k.startswith("tissue_share_") for k in measured)
    assert all(glass_row[k] == "" for k in measured), {k: glass_row[k] for k in measured}
    assert "tissue" in glass_row["reason"].lower()
    assert float(tissue_row["tissue_area"]) > 0 and tissue_row["reason"] == ""
    assert 0 < float(tissue_row["positive_pct_of_tissue"]) < 100
