"""The command line on a folder of real photographs."""

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tifffile
from skimage import data

from napari_kmeans_segment._cli import main


def photos(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("coffee", "chelsea"):
        cv2.imwrite(str(d / f"{name}.png"), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    tifffile.imwrite(d / "camera.tif", data.camera())
    return sorted(d.iterdir())


def test_batch_writes_tiff_png_csv(tmp_path, capsys):
    files = photos(tmp_path)
    out = tmp_path / "out"
    assert main([*map(str, files), "-k", "3", "--seed", "1", "-o", str(out)]) == 0
    for f in files:
        lab = tifffile.imread(out / f"{f.stem}_labels.tif")
        assert lab.min() >= 1 and lab.max() == 3
        rec = cv2.imread(str(out / f"{f.stem}_recolored.png"), cv2.IMREAD_UNCHANGED)
        assert rec.shape[:2] == lab.shape
        rows = list(csv.DictReader(open(out / f"{f.stem}_clusters.csv")))
        assert [r["index"] for r in rows] == ["1", "2", "3"]
    # refuses to overwrite unless told
    assert main([str(files[0]), "-k", "3", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([str(files[0]), "-k", "3", "-o", str(out), "--overwrite"]) == 0


def test_model_reuse(tmp_path):
    files = [f for f in photos(tmp_path) if f.suffix == ".png"]
    out = tmp_path / "out"
    model = tmp_path / "m.json"
    assert main([*map(str, files), "-k", "4", "--seed", "0", "-o", str(out), "--save-model", str(model)]) == 0
    out2 = tmp_path / "out2"
    assert main([str(files[0]), "--model", str(model), "-o", str(out2)]) == 0
    a = tifffile.imread(out / f"{files[0].stem}_labels.tif")
    b = tifffile.imread(out2 / f"{files[0].stem}_labels.tif")
    assert np.array_equal(a, b)


def test_errors_are_one_line_without_traceback(tmp_path):
    cmd = [sys.executable, "-m", "napari_kmeans_segment"]
    r = subprocess.run(
        [*cmd, str(tmp_path / "nope.png"), "-k", "3", "-o", str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    r = subprocess.run([*cmd, str(bad), "-k", "3", "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "not an image" in r.stderr and "Traceback" not in r.stderr
    f = photos(tmp_path)[0]
    r = subprocess.run([*cmd, str(f), "-k", "1", "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "at least 2" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("flag", "example"), [("--summary", "summary.csv"), ("--save-model", "model.json")])
def test_a_folder_given_for_a_file_flag_asks_for_a_file_name(tmp_path, capsys, flag, example):
    """``--summary DIR`` (or ``--save-model DIR``) is refused saying a file name is wanted,
    with an example inside that folder, not "move the folder away"."""
    f = photos(tmp_path)[0]
    folder = tmp_path / "results"
    folder.mkdir()
    assert main([str(f), "-k", "3", "-o", str(tmp_path / "out"), flag, str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{flag}: {folder} is a folder; give a file name, e.g. {folder / example}." in err
    assert "move it away" not in err
    assert not (tmp_path / "out").exists() and list(folder.iterdir()) == []


def test_demo_opens_napari_with_the_widget_on_a_sample(monkeypatch, qtbot):
    """The README's first command: napari, a sample, the widget docked, Run gives 2 layers."""
    import napari

    seen = {}
    monkeypatch.setattr(napari, "run", lambda *a, **k: seen.setdefault("viewer", napari.current_viewer()))
    assert main(["demo", "--sample", "immunohistochemistry"]) == 0
    viewer = seen["viewer"]
    try:
        assert [ly.name for ly in viewer.layers] == ["immunohistochemistry"]
        # the whole sample is in view once the dock took its place
        qtbot.wait(50)
        camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera  # napari < 0.7
        zoom, center = camera.zoom, camera.center
        viewer.reset_view()
        assert camera.zoom == pytest.approx(zoom)
        assert camera.center == pytest.approx(center)
        # asking for the docked widget again returns the one already there
        _, widget = viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
        assert widget.run() is not None
        qtbot.waitUntil(lambda: widget._worker is None, timeout=30_000)
        assert {"immunohistochemistry clusters", "immunohistochemistry recolored"} <= {
            ly.name for ly in viewer.layers
        }
    finally:
        viewer.close()
