"""Counting nuclei from the command line: --smoothing, --objects-of, --split, and the
count with median and mean area in summary.csv, checked against the true nuclei."""

import csv

import numpy as np
import pytest
import tifffile

import napari_kmeans_segment as nks
from napari_kmeans_segment._cli import main
from napari_kmeans_segment._core.truth import synthetic_nuclei


def read_summary(path):
    return list(csv.DictReader(open(path)))


@pytest.fixture
def nuclei_files(tmp_path):
    truths = {}
    for seed in (0, 1):
        nu = synthetic_nuclei((256, 256), n=30, seed=seed)
        path = tmp_path / f"n{seed}.tif"
        tifffile.imwrite(path, nu.image)
        truths[path.name] = nu
    return tmp_path, truths


def test_count_nuclei_from_the_command_line(nuclei_files):
    folder, truths = nuclei_files
    out = folder / "out"
    files = [str(folder / name) for name in truths]
    argv = [*files, "-k", "3", "--seed", "0", "--smoothing", "1", "--objects-of", "all-but-darkest"]
    assert main([*argv, "--split", "-o", str(out)]) == 0
    split_rows = {r["file"].split("/")[-1]: r for r in read_summary(out / "summary.csv")}
    assert main([*argv, "-o", str(folder / "plain")]) == 0
    plain_rows = {r["file"].split("/")[-1]: r for r in read_summary(folder / "plain" / "summary.csv")}
    for name, nu in truths.items():
        row = split_rows[name]
        assert row["foreground_clusters"] == "2+3"
        assert abs(int(row["objects_foreground"]) - nu.n) <= max(2, 0.1 * nu.n)
        assert int(plain_rows[name]["objects_foreground"]) < int(row["objects_foreground"])
        # the same numbers as the Python call docs/console.md shows
        seg = nks.segment(nu.image, 3, seed=0, smoothing=1)
        _, table = nks.extract_objects(seg.labels, [2, 3], split=True, min_size=20)
        assert int(row["objects_foreground"]) == len(table["index"])
        assert float(row["median_area_foreground"]) == pytest.approx(np.median(table["area_px"]))
        assert float(row["mean_area_foreground"]) == pytest.approx(np.mean(table["area_px"]))


def test_per_cluster_counts_carry_their_areas(nuclei_files):
    folder, truths = nuclei_files
    out = folder / "out"
    files = [str(folder / name) for name in truths]
    assert main([*files, "-k", "2", "--seed", "0", "--objects", "2", "--split", "-o", str(out)]) == 0
    rows = read_summary(out / "summary.csv")
    header = list(rows[0])
    assert header.index("objects_2") < header.index("median_area_2") < header.index("mean_area_2")
    assert all(float(r["median_area_2"]) > 100 for r in rows)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--smoothing", "-1"], "smoothing"),
        (["--smoothing", "nan"], "smoothing"),
        (["--split"], "--split applies to --objects"),
    ],
)
def test_bad_counting_options_refused_before_any_write(nuclei_files, capsys, extra, words):
    folder, truths = nuclei_files
    out = folder / "out"
    files = [str(folder / name) for name in truths]
    assert main([*files, "-k", "2", *extra, "-o", str(out)]) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_smoothing_wider_than_the_image_fails_that_image(nuclei_files, capsys):
    folder, truths = nuclei_files
    out = folder / "out"
    files = [str(folder / name) for name in truths]
    assert main([*files, "-k", "2", "--smoothing", "5000", "-o", str(out)]) == 1
    assert "wider than the image" in capsys.readouterr().err


def test_the_readme_nuclei_command_gives_the_count_it_quotes(tmp_path):
    """The README's command, as written there, on the expert-annotated image in tests/data
    (saved as cells/dsb.tif) gives the 117 objects and the median area the README quotes."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    line = re.search(r"^napari-kmeans-segment cells/\*\.tif .*$", readme, re.M).group(0)
    quoted = re.search(r"125 nuclei this finds (\d+)", " ".join(readme.split()))
    median = re.search(r"117 objects, median area (\d+) px", " ".join(readme.split()))
    cells = tmp_path / "cells"
    cells.mkdir()
    tifffile.imwrite(cells / "dsb.tif", np.load(root / "tests" / "data" / "dsb2018_nuclei_2d.npz")["image"])
    argv = shlex.split(line)[1:]
    argv[argv.index("cells/*.tif")] = str(cells / "dsb.tif")
    argv[argv.index("-o") + 1] = str(tmp_path / "out")
    assert main(argv) == 0
    (row,) = read_summary(tmp_path / "out" / "summary.csv")
    assert int(row["objects_foreground"]) == int(quoted.group(1)) == 117
    assert float(row["median_area_foreground"]) == pytest.approx(float(median.group(1)), abs=0.5)
