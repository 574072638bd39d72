"""The batch summary: one CSV across all images, measured with one model."""

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from scipy import ndimage
from skimage import data, transform

import napari_kmeans_segment as nks
from napari_kmeans_segment._cli import main


def three_slides(tmp_path):
    """Three brightfield-like images: the IHC slide and two crops/rescales of it."""
    d = tmp_path / "slides"
    d.mkdir()
    ihc = data.immunohistochemistry()
    images = {
        "s1": ihc[:256, :256],
        "s2": ihc[256:, 256:][::-1],
        "s3": (transform.rescale(ihc[100:400, 50:350], 0.8, channel_axis=-1) * 255).astype(np.uint8),
    }
    paths = []
    for name, img in images.items():
        p = d / f"{name}.png"
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def read_summary(path):
    return list(csv.DictReader(open(path)))


def objects_of(labels, lab, min_size):
    """Independent count: 8-connected pieces of ``lab`` with at least ``min_size`` pixels."""
    comp, n = ndimage.label(labels == lab, structure=np.ones((3, 3)))
    sizes = np.bincount(comp.ravel())[1:]
    return int((sizes >= min_size).sum())


@pytest.fixture
def fitted(tmp_path):
    files = three_slides(tmp_path)
    out = tmp_path / "out"
    model = tmp_path / "model.json"
    args = [
        *map(str, files),
        "-k",
        "4",
        "--seed",
        "0",
        "--color-space",
        "lab",
        "-o",
        str(out),
        "--save-model",
        str(model),
        "--objects",
        "1,2",
        "--min-size",
        "20",
        "--background",
        "4",
    ]
    assert main(args) == 0
    return files, out, model


def test_summary_has_a_row_per_image_with_shares_and_objects(fitted):
    files, out, _ = fitted
    rows = read_summary(out / "summary.csv")
    assert [r["file"] for r in rows] == [str(f) for f in files]
    for f, row in zip(files, rows):
        labels = tifffile.imread(out / f"{f.stem}_labels.tif")
        counts = np.bincount(labels.ravel(), minlength=5)
        assert row["status"] == "ok"
        assert int(row["pixels"]) == labels.size == int(row["clustered"])
        for lab in (1, 2, 3, 4):
            assert float(row[f"share_{lab}"]) == pytest.approx(counts[lab] / labels.size)
        tissue = labels.size - counts[4]
        assert int(row["tissue"]) == tissue
        for lab in (1, 2, 3):
            assert float(row[f"tissue_share_{lab}"]) == pytest.approx(counts[lab] / tissue)
        assert "tissue_share_4" not in row
        for lab in (1, 2):
            assert int(row[f"objects_{lab}"]) == objects_of(labels, lab, 20)


def test_model_measures_every_image_with_the_same_classes(fitted, tmp_path):
    files, out, model = fitted
    out2 = tmp_path / "out2"
    assert main([*map(str, files), "--model", str(model), "-o", str(out2)]) == 0
    m = nks.load_model(model)
    rows = read_summary(out2 / "summary.csv")
    assert len(rows) == 3
    for f, row in zip(files, rows):
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        expect = np.asarray(m.apply(img).labels)
        assert np.array_equal(tifffile.imread(out2 / f"{f.stem}_labels.tif"), expect)
        counts = np.bincount(expect.ravel(), minlength=5)
        assert [float(row[f"share_{lab}"]) for lab in (1, 2, 3, 4)] == pytest.approx(
            list(counts[1:] / expect.size)
        )
    # --save-model labels the images after the first with the first image's model, too
    for f in files:
        assert np.array_equal(
            tifffile.imread(out / f"{f.stem}_labels.tif"), tifffile.imread(out2 / f"{f.stem}_labels.tif")
        )


def test_a_failed_image_is_a_row_and_the_others_are_measured(tmp_path):
    files = three_slides(tmp_path)
    flat = tmp_path / "slides" / "flat.png"
    cv2.imwrite(str(flat), np.full((16, 16, 3), 200, np.uint8))
    out = tmp_path / "out"
    assert main([str(files[0]), str(flat), str(files[1]), "-k", "3", "-o", str(out)]) == 1
    rows = read_summary(out / "summary.csv")
    assert [r["status"] == "ok" for r in rows] == [True, False, True]
    assert rows[1]["status"].startswith("failed:") and rows[1]["share_1"] == ""


def test_summary_flags_are_checked_before_any_work(tmp_path):
    files = three_slides(tmp_path)
    out = tmp_path / "out"
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--objects", "5"]) == 2
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--min-size", "9"]) == 2
    assert not out.exists()
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--no-summary"]) == 0
    assert not (out / "summary.csv").exists()


def test_summary_elsewhere_needs_an_existing_folder(tmp_path):
    files = three_slides(tmp_path)
    out = tmp_path / "out"
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--summary", str(tmp_path / "no" / "s.csv")]) == 2
    assert not out.exists()
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--summary", str(tmp_path / "s.csv")]) == 0
    assert read_summary(tmp_path / "s.csv")[0]["file"] == str(files[0])


def test_stain_color_space_from_the_shell(tmp_path):
    files = three_slides(tmp_path)
    whole = tmp_path / "whole.png"  # the whole slide: tissue and glass
    cv2.imwrite(str(whole), cv2.cvtColor(data.immunohistochemistry(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--stain-vectors", "macenko"]) == 2
    assert not out.exists()
    hed = ["-k", "3", "--seed", "0", "-o", str(out), "--color-space", "hed", "--stain-vectors", "macenko"]
    assert main([str(whole), *hed]) == 0
    names = [r["name"] for r in csv.DictReader(open(out / "whole_clusters.csv"))]
    assert "DAB" in names


def test_objects_default_to_the_docks_smallest_size(tmp_path):
    """Without --min-size the CLI counted every speck (0 px) while the dock and the slide
    script dropped objects under 20 px, so the same slide gave 69 objects here and 15 there."""
    files = three_slides(tmp_path)[:1]
    out = tmp_path / "out"
    assert main([str(files[0]), "-k", "3", "--seed", "0", "-o", str(out), "--objects", "1"]) == 0
    (row,) = read_summary(out / "summary.csv")
    labels = tifffile.imread(out / f"{files[0].stem}_labels.tif")
    assert nks._core.MIN_OBJECT_PIXELS == 20
    assert int(row["objects_1"]) == objects_of(labels, 1, 20)
    assert objects_of(labels, 1, 0) > int(row["objects_1"])  # specks exist and are left out


def write_rgb(path, img):
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def test_hed_summary_measures_tissue_glass_and_positivity_in_named_columns(tmp_path):
    """The README's recipe from the shell on synthetic slides with known truth: the glass is
    left out by optical density (label 0), columns are named by the clusters (a legend says
    which label), and the slide's tissue, DAB bins, H-score and warnings are in the row."""
    from napari_kmeans_segment._core.synthetic_slides import make_slide

    slides = [make_slide(seed, layout, shape=(320, 320)) for seed, layout in ((0, "islands"), (1, "edge"))]
    files = [write_rgb(tmp_path / f"slide{i}.png", s.image) for i, s in enumerate(slides)]
    out, model = tmp_path / "out", tmp_path / "ihc.json"
    args = ["-k", "3", "--seed", "0", "--color-space", "hed", "-o", str(out), "--save-model", str(model)]
    assert main([*map(str, files), *args]) == 0
    rows = read_summary(out / "summary.csv")
    header = next(csv.reader(open(out / "summary.csv")))
    assert {"tissue_share_DAB", "share_DAB", "h_score", "saturated_px", "legend", "warning"} <= set(header)
    m = nks.load_model(model)
    dab = [lab for lab, n in zip(m.labels, m.label_names()) if n == "DAB"][0]
    for s, f, row in zip(slides, files, rows):
        labels = tifffile.imread(out / f"{f.stem}_labels.tif")
        counts = np.bincount(labels.ravel(), minlength=4)
        assert int(row["tissue"]) == int((labels > 0).sum()) == int(row["clustered"])
        assert int(row["glass_px"]) == int((labels == 0).sum())
        assert float(row["tissue_pct"]) == pytest.approx(100 * s.tissue_share, abs=3)
        assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * s.positive_share, abs=4)
        assert float(row["tissue_share_DAB"]) == pytest.approx(counts[dab] / counts[1:].sum())
        assert f"DAB={dab}" in row["legend"].split("; ")
        bins = [float(row[f"{b}_pct_of_tissue"]) for b in ("weak", "moderate", "strong")]
        assert sum(bins) == pytest.approx(float(row["positive_pct_of_tissue"]))
        assert float(row["h_score"]) == pytest.approx(bins[0] + 2 * bins[1] + 3 * bins[2])
        assert row["warning"] == ""
    assert m.measures_stains and m.background is None or m.background == ()


def test_hed_model_from_the_shell_measures_each_slide_against_its_own_white(tmp_path, capsys):
    from napari_kmeans_segment._core.synthetic_slides import make_slide, rescan

    s = make_slide(3, "edge", shape=(320, 320))
    corners = [(y, x) for y in range(0, 220, 10) for x in range(0, 220, 10)]
    y, x = next((y, x) for y, x in corners if s.tissue[y : y + 100, x : x + 100].all())
    fit_file = write_rgb(tmp_path / "fit.png", s.image)
    out, model = tmp_path / "out", tmp_path / "m.json"
    fit = ["-k", "3", "--seed", "0", "--color-space", "hed", "-o", str(out), "--save-model", str(model)]
    assert main([str(fit_file), *fit]) == 0
    (ref,) = read_summary(out / "summary.csv")
    scans = {
        "dark": rescan(s.image, 0.85),
        "bright": rescan(s.image, 1.08),
        "over": rescan(s.image, 1.15),
        "inside": s.image[y : y + 100, x : x + 100],  # no glass: the model's white level
    }
    files = [write_rgb(tmp_path / f"{name}.png", img) for name, img in scans.items()]
    out2 = tmp_path / "out2"
    assert main([*map(str, files), "--model", str(model), "-o", str(out2)]) == 0
    rows = {r["file"]: r for r in read_summary(out2 / "summary.csv")}
    for name in ("dark", "bright"):
        row = rows[str(tmp_path / f"{name}.png")]
        assert abs(float(row["positive_pct_of_tissue"]) - float(ref["positive_pct_of_tissue"])) <= 2
        assert row["warning"] == ""
    assert "full scale" in rows[str(tmp_path / "over.png")]["warning"]
    assert "No glass on this image" in rows[str(tmp_path / "inside.png")]["warning"]
    # and on the terminal, one line per warning naming the slide (not only in the CSV)
    err = capsys.readouterr().err
    assert f"{tmp_path / 'over.png'}: The glass is at full scale" in err
    assert f"{tmp_path / 'inside.png'}: No glass on this image" in err
    assert f"{tmp_path / 'dark.png'}:" not in err
    # marking a tissue cluster as background is questioned in the row
    out3 = tmp_path / "out3"
    assert main([str(fit_file), "--model", str(model), "-o", str(out3), "--background", "1"]) == 0
    (r3,) = read_summary(out3 / "summary.csv")
    assert "stained tissue" in r3["warning"] and "tissue_share_1" not in r3


def test_an_interrupted_batch_leaves_a_summary_of_the_images_done(tmp_path, monkeypatch, capsys):
    """Ctrl+C in the third image of three: the first two images' outputs stay, summary.csv
    lists them as done and the third as not processed, and nothing of the third is written."""
    from napari_kmeans_segment._cli import batch

    paths = three_slides(tmp_path)
    real, calls = batch._process, []

    def interrupted_in_the_third(item, *args, **kwargs):
        calls.append(item.source.path.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(item, *args, **kwargs)

    monkeypatch.setattr(batch, "_process", interrupted_in_the_third)
    out = tmp_path / "out"
    assert main([*map(str, paths), "-k", "3", "--seed", "0", "-o", str(out)]) == 130
    rows = read_summary(out / "summary.csv")
    assert [(r["file"].endswith(n), r["status"]) for r, n in zip(rows, ["s1.png", "s2.png", "s3.png"])] == [
        (True, "ok"),
        (True, "ok"),
        (True, "not processed: interrupted"),
    ]
    assert int(rows[0]["pixels"]) == 256 * 256
    written = sorted(p.name for p in out.iterdir())
    assert [n for n in written if n.startswith("s3")] == []
    assert {"s1_labels.tif", "s2_labels.tif"} <= set(written)
    err = capsys.readouterr().err
    assert "interrupted" in err and "2 image(s) done" in err


def test_a_model_applied_to_an_unlike_image_is_warned_in_the_summary(tmp_path, capsys):
    """``--model`` on an image the model describes poorly (a photograph measured with a model
    of a stained slide) says so on the terminal and in summary.csv's warning column, as the
    dock does on "apply model"; the slide it was fitted on gets no such warning."""
    slide = tmp_path / "slide.png"
    cv2.imwrite(str(slide), cv2.cvtColor(data.immunohistochemistry()[:256, :256], cv2.COLOR_RGB2BGR))
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut()[::2, ::2], cv2.COLOR_RGB2BGR))
    model = tmp_path / "m.json"
    assert (
        main([str(slide), "-k", "3", "--seed", "0", "-o", str(tmp_path / "fit"), "--save-model", str(model)])
        == 0
    )
    capsys.readouterr()
    out = tmp_path / "out"
    assert main([str(slide), str(photo), "--model", str(model), "-o", str(out)]) == 0
    rows = {Path(r["file"]).name: r for r in read_summary(out / "summary.csv")}
    assert "far from every cluster" not in rows["slide.png"].get("warning", "")
    assert "of the pixels of 'photo.png' are far from every cluster" in rows["photo.png"]["warning"]
    err = capsys.readouterr().err
    assert "photo.png" in err and "far from every cluster" in err and "'slide.png' are far" not in err
