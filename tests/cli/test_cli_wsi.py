"""Large images from the shell: zarr/OME-Zarr and pyramidal TIFF read block
by block, labels written block by block as OME-Zarr, on any dask scheduler."""

import csv
import os
import pickle
import time

import numpy as np
import pytest
import tifffile
import zarr
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._cli import main


def slide_like(shape=(1024, 1024)):
    """Real photographs tiled with flips and a brightness change (not noise)."""
    tiles = [
        data.astronaut(),
        data.coffee()[:512, :512],
        data.chelsea()[:300, :451],
        data.immunohistochemistry(),
    ]
    out = np.zeros((*shape, 3), np.uint8)
    rng = np.random.default_rng(0)
    for i, y in enumerate(range(0, shape[0], 256)):
        for j, x in enumerate(range(0, shape[1], 256)):
            t = tiles[(i + 2 * j) % len(tiles)]
            ty, tx = rng.integers(0, t.shape[0] - 256 + 1), rng.integers(0, t.shape[1] - 256 + 1)
            block = t[ty : ty + 256, tx : tx + 256]
            block = block[::-1] if (i + j) % 2 else block
            out[y : y + 256, x : x + 256] = np.clip(block * (0.8 + 0.1 * (i % 3)), 0, 255)
    return out


@pytest.fixture(scope="module")
def image():
    return slide_like()


@pytest.fixture
def store(tmp_path, image):
    path = tmp_path / "slide.zarr"
    z = zarr.create_array(str(path), shape=image.shape, chunks=(256, 256, 3), dtype=np.uint8)
    z[:] = image
    return path


def ome_level0(path):
    group = zarr.open_group(str(path), mode="r")
    ms = group.attrs["multiscales"][0]
    return group[ms["datasets"][0]["path"]], ms


def run_cli(*args):
    return main([str(a) for a in args])


def test_zarr_labels_on_disk_equal_the_in_memory_result_of_the_same_model(tmp_path, store, image):
    out = tmp_path / "out"
    model = tmp_path / "m.json"
    assert (
        run_cli(
            store, "-k", "4", "--seed", "0", "-o", out, "--save-model", model, "--recolored", "--chunk", "512"
        )
        == 0
    )
    labels, ms = ome_level0(out / "slide_labels.ome.zarr")
    assert labels.chunks == (512, 512) and [a["name"] for a in ms["axes"]] == ["y", "x"]
    expect = nks.load_model(model).apply(image, rgb=True)
    assert np.array_equal(labels[:], expect.labels)
    rec, ms = ome_level0(out / "slide_recolored.ome.zarr")
    assert [a["type"] for a in ms["axes"]] == ["channel", "space", "space"]
    assert np.array_equal(np.moveaxis(rec[:], 0, -1), expect.recolored)
    rows = list(csv.DictReader(open(out / "slide_clusters.csv")))
    assert [int(r["count"]) for r in rows] == np.bincount(expect.labels.ravel())[1:].tolist()
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert int(summary[0]["pixels"]) == image.shape[0] * image.shape[1]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_ome_zarr_channels_first_and_a_saved_model(tmp_path, image):
    """OME-Zarr (c, y, x) input: channel axis from the metadata, labelled by --model."""
    path = tmp_path / "img.ome.zarr"
    g = zarr.open_group(str(path), mode="w")
    g.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [
                    {"name": "c", "type": "channel"},
                    {"name": "y", "type": "space"},
                    {"name": "x", "type": "space"},
                ],
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 0.5, 0.5]}]}
                ],
            }
        ],
    }
    arr = g.create_array("0", shape=(3, *image.shape[:2]), chunks=(1, 256, 256), dtype=np.uint8)
    arr[:] = np.moveaxis(image, -1, 0)
    fit = nks.segment(image[::4, ::4], 3, seed=1)
    fit.save(tmp_path / "m.json")
    out = tmp_path / "out"
    assert run_cli(path, "--model", tmp_path / "m.json", "-o", out) == 0
    labels, ms = ome_level0(out / "img_labels.ome.zarr")
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.5, 0.5]
    assert np.array_equal(labels[:], fit.model.apply(image, rgb=True).labels)
    assert not (out / "img_recolored.ome.zarr").exists()  # large inputs: only on request


@pytest.fixture
def pyramid(tmp_path, image):
    path = tmp_path / "slide.ome.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(image, tile=(256, 256), subifds=1, photometric="rgb")
        tw.write(image[::2, ::2], tile=(256, 256), subfiletype=1, photometric="rgb")
    return path


def test_pyramidal_tiff_is_read_block_by_block(tmp_path, image, pyramid):
    out = tmp_path / "out"
    model = tmp_path / "m.json"
    assert run_cli(pyramid, "-k", "3", "--seed", "2", "-o", out, "--save-model", model, "--chunk", "512") == 0
    labels, _ = ome_level0(out / "slide_labels.ome.zarr")
    assert labels.shape == image.shape[:2]
    assert np.array_equal(labels[:], nks.load_model(model).apply(image, rgb=True).labels)


def test_tiff_blocks_can_be_read_in_other_processes(image, pyramid):
    """tifffile's zarr store holds a lock and cannot be pickled; the reader sent to worker
    processes reopens the file there."""
    from napari_kmeans_segment._cli.wsi import TiffLevel

    level = TiffLevel(pyramid)
    level[:1, :1]  # opened here
    copy = pickle.loads(pickle.dumps(level))
    assert copy.shape == image.shape
    assert np.array_equal(copy[256:512, 0:300], image[256:512, 0:300])


def test_a_block_failing_leaves_no_output_and_no_temporary_folder(tmp_path, store, monkeypatch):
    from napari_kmeans_segment._cli import wsi

    real = wsi._write_block

    def flaky(block, path, loc, nbins):
        if loc[0].start > 0:
            raise OSError(28, "No space left on device")
        time.sleep(0.5)  # still writing when the failure ends the run: no late write may remain
        return real(block, path, loc, nbins)

    monkeypatch.setattr(wsi, "_write_block", flaky)
    out = tmp_path / "out"
    assert run_cli(store, "-k", "3", "-o", out, "--chunk", "512") == 1
    assert not out.exists() or os.listdir(out) == []


def test_exact_with_a_large_input_is_refused_first(tmp_path, store):
    out = tmp_path / "out"
    assert run_cli(store, "-k", "3", "-o", out, "--exact") == 2
    assert not out.exists()


def test_unreachable_scheduler_refuses_the_run(tmp_path, store, capsys):
    out = tmp_path / "out"
    assert run_cli(store, "-k", "3", "-o", out, "--scheduler", "tcp://127.0.0.1:9") == 2
    assert not out.exists() and "--scheduler" in capsys.readouterr().err


def test_a_distributed_cluster_gives_identical_labels(tmp_path, store):
    from distributed import LocalCluster

    common = ["-k", "4", "--seed", "3", "--chunk", "512", "--recolored"]
    assert run_cli(store, *common, "-o", tmp_path / "threads") == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        assert run_cli(store, *common, "-o", tmp_path / "dist", "--scheduler", cluster.scheduler_address) == 0
    for name in ("labels", "recolored"):
        ref, _ = ome_level0(tmp_path / "threads" / f"slide_{name}.ome.zarr")
        got, _ = ome_level0(tmp_path / "dist" / f"slide_{name}.ome.zarr")
        assert np.array_equal(got[:], ref[:])


def test_a_large_hed_slide_is_measured_block_by_block_as_in_memory(tmp_path):
    """A synthetic H-DAB slide as zarr: glass left out block by block (the same labels as in
    memory), the slide's report summed over the blocks (truth within 3 / 4 points), and a
    saved model applied to another exposure of it against that scan's own white level."""
    from napari_kmeans_segment._core.synthetic_slides import make_slide, rescan

    s = make_slide(2, "fragments", shape=(768, 768))
    paths = {}
    for name, img in (("slide", s.image), ("dark", rescan(s.image, 0.85))):
        paths[name] = tmp_path / f"{name}.zarr"
        z = zarr.create_array(str(paths[name]), shape=img.shape, chunks=(256, 256, 3), dtype=np.uint8)
        z[:] = img
    out, model = tmp_path / "out", tmp_path / "m.json"
    fit = ["-k", "3", "--seed", "0", "--color-space", "hed", "--chunk", "256"]
    assert run_cli(paths["slide"], *fit, "-o", out, "--save-model", model) == 0
    m = nks.load_model(model)
    assert m.measures_stains
    labels, _ = ome_level0(out / "slide_labels.ome.zarr")
    expect = m.apply(s.image)
    assert np.array_equal(labels[:], expect.labels)
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert int(row["glass_px"]) == int((expect.labels == 0).sum())
    assert float(row["tissue_pct"]) == pytest.approx(100 * s.tissue_share, abs=3)
    assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * s.positive_share, abs=4)
    assert float(row["positive_pct_of_tissue"]) == pytest.approx(100 * expect.stains.positive_share)
    out2 = tmp_path / "out2"
    assert run_cli(paths["dark"], "--model", model, "--chunk", "256", "-o", out2) == 0
    (dark,) = list(csv.DictReader(open(out2 / "summary.csv")))
    assert abs(float(dark["positive_pct_of_tissue"]) - float(row["positive_pct_of_tissue"])) <= 2
    assert [float(v) for v in dark["white"].split()] == pytest.approx([v * 0.85 for v in s.white], abs=1.5)


def test_a_saved_model_labels_a_large_input_through_the_label_table(tmp_path, store, image, monkeypatch):
    """--model on an input read block by block: every block is looked up in one table of
    the label of every colour, never run through model.apply (which took two full
    assignments per block, one for the labels and one for the recoloured image)."""
    from napari_kmeans_segment._core import lazy
    from napari_kmeans_segment._core.model.model import KMeansModel

    fit = nks.segment(image[::4, ::4], 3, seed=1)
    fit.save(tmp_path / "m.json")
    expect = fit.model.apply(image, rgb=True)
    applied, tables = [], []
    apply, table = KMeansModel.apply, lazy.label_table
    monkeypatch.setattr(KMeansModel, "apply", lambda *a, **k: applied.append(1) or apply(*a, **k))
    monkeypatch.setattr(lazy, "label_table", lambda *a: tables.append(1) or table(*a))
    lazy._TABLES.clear()
    out = tmp_path / "out"
    assert run_cli(store, "--model", tmp_path / "m.json", "-o", out, "--recolored", "--chunk", "256") == 0
    assert applied == [] and tables == [1]
    labels, _ = ome_level0(out / "slide_labels.ome.zarr")
    assert np.array_equal(labels[:], expect.labels)
    rec, _ = ome_level0(out / "slide_recolored.ome.zarr")
    assert np.array_equal(np.moveaxis(rec[:], 0, -1), expect.recolored)
