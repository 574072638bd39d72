"""A saved model keeps the cluster names and background marks (the next image gets the same
classes): core round trip, merges, older files, damaged fields, the session and the shell."""

import copy
import csv
import json

import cv2
import numpy as np
import pytest
from napari.components import ViewerModel
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._cli import main
from napari_kmeans_segment._core.model.model import KMeansModel
from napari_kmeans_segment._core.model.model_check import MAX_NAME_LENGTH
from napari_kmeans_segment._session.layers import Source
from napari_kmeans_segment._session.session import ClusterSession


@pytest.fixture(scope="module")
def ihc():
    return data.immunohistochemistry()


@pytest.fixture(scope="module")
def seg4(ihc):
    return nks.segment(ihc[:256, :256], 4, color_space="lab", seed=0)


def start(img, seg):
    viewer = ViewerModel()
    layer = viewer.add_image(img, name="slide")
    session = ClusterSession(viewer, layer)
    session.set_result(seg, Source.from_layers([layer]))
    return session


def names_of(session):
    return session.names(), session.measure.background()


# -- core ---------------------------------------------------------------------------------------
def test_names_and_background_survive_save_load_and_apply(ihc, seg4, tmp_path):
    model = seg4.model.named({1: "beans dark", 3: "nuclei"}, [4])
    path = model.save(tmp_path / "m.json")
    stored = json.loads(path.read_text())
    assert stored["names"] == {"1": "beans dark", "3": "nuclei"}
    assert stored["background"] == [4]
    loaded = nks.load_model(path)
    assert loaded.names == {1: "beans dark", 3: "nuclei"} and loaded.background == (4,)
    other = nks.load_model(path).apply(np.rot90(ihc[200:456, 100:356]).copy())
    assert other.default_names() == ["beans dark", "cluster 2", "nuclei", "cluster 4"]
    assert other.default_background() == [4]
    assert list(other.table()["name"]) == other.default_names()
    assert other.model.names == loaded.names  # applied results pass them on


def test_an_emptied_background_is_kept_not_taken_from_the_names(ihc, tmp_path):
    seg = nks.segment(ihc, 3, color_space="hed", seed=0, tissue=False)  # the glass is a cluster
    assert "background" in seg.default_names() and seg.default_background()
    path = seg.model.named(background=[]).save(tmp_path / "m.json")
    applied = nks.load_model(path).apply(ihc[::-1].copy())
    assert "background" in applied.default_names()
    assert applied.default_background() == []


def test_merged_model_maps_names_to_the_remaining_labels(ihc, seg4, tmp_path):
    merged = seg4.merge([1, 3])
    model = merged.model.named({1: "beans", 2: "rim", 4: "glass"}, [4])
    with pytest.raises(ValueError, match="label 3"):
        merged.model.named({3: "gone"})  # label 3 was merged into 1
    loaded = nks.load_model(model.save(tmp_path / "m.json"))
    other = loaded.apply(ihc[256:, 256:].copy())
    assert other.index.tolist() == [1, 2, 4]
    assert other.default_names() == ["beans", "rim", "glass"]
    assert loaded.label_names() == ["beans", "rim", "glass"]
    # merging a named model keeps the first label's name and mark
    again = loaded.merged([2, 4], loaded.centers[1])
    assert again.names == {1: "beans", 2: "rim"} and again.background == ()
    named = other.merge([1, 4])
    assert named.default_names() == ["beans", "rim"] and named.default_background() == []


def test_a_model_file_without_names_still_loads(ihc, tmp_path):
    seg = nks.segment(ihc, 3, color_space="hed", seed=0)
    d = seg.model.to_dict()
    del d["names"], d["background"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(d))
    old = nks.load_model(path)
    assert old.names is None and old.background is None
    applied = old.apply(ihc)
    assert applied.default_names() == seg.default_names()  # stain names, as before
    assert applied.default_background() == seg.default_background()


BAD = [
    ("names", ["a", "b"], "names is not a mapping"),
    ("names", {"x": "a"}, "key 'x'"),
    ("names", {"1.0": "a"}, "key '1.0'"),
    ("names", {"9": "a"}, "label 9"),
    ("names", {"1": 5}, r"names\[1\] is not text"),
    ("names", {"1": "  "}, r"names\[1\] has 2 characters"),
    ("names", {"1": "x" * (MAX_NAME_LENGTH + 1)}, r"names\[1\] has 201 characters"),
    ("names", {"1": "a\nb"}, "control characters"),
    ("background", 4, "background is not a list"),
    ("background", [True], "background is not a list"),
    ("background", [2, 2], "background lists a label twice"),
    ("background", [7], r"background holds \[7\]"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_damaged_names_or_background_are_refused(seg4, tmp_path, field, value, message):
    d = copy.deepcopy(seg4.model.named({1: "a"}, [2]).to_dict())
    d[field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="damaged") as e:
        nks.load_model(path)
    assert field in str(e.value)
    with pytest.raises(ValueError, match=message):
        KMeansModel.from_dict(d)


def test_named_refuses_bad_names_from_the_console(seg4):
    with pytest.raises(ValueError, match="Cluster names: .*label 5"):
        seg4.model.named({5: "x"})
    with pytest.raises(ValueError, match="Background: .*not among the labels"):
        seg4.model.named(background=[0])
    assert seg4.model.named({np.int64(2): "ok"}, [np.int64(1)]).names == {2: "ok"}


# -- the session (napari ViewerModel, no Qt) ------------------------------------------------------
def test_session_saves_renames_and_marks_and_applies_them(ihc, seg4, tmp_path):
    s = start(ihc[:256, :256], seg4)
    s.rename(1, "beans dark")
    s.rename(3, "nuclei")
    s.measure.set_background([2, 4])
    path = s.save_model(tmp_path / "m.json")
    other_img = np.rot90(ihc[200:456, 100:356]).copy()
    s2 = start(other_img, nks.load_model(path).apply(other_img))
    assert s2.names() == {1: "beans dark", 2: "cluster 2", 3: "nuclei", 4: "cluster 4"}
    assert s2.measure.background() == [2, 4]
    f = s2.clusters.features
    assert np.isnan(f.loc[f["index"] == 2, "tissue_share"].item())
    # the current result's model (dock 'apply model' without a file) carries them too
    assert s.model.names == s2.model.names and s.model.background == (2, 4)


def test_session_model_saved_after_a_merge(ihc, seg4, tmp_path):
    s = start(ihc[:256, :256], seg4)
    s.merge([1, 3])
    s.rename(1, "beans")
    s.rename(4, "background glass")  # a background name marks it
    path = s.save_model(tmp_path / "m.json")
    assert json.loads(path.read_text())["names"] == {"1": "beans", "2": "cluster 2", "4": "background glass"}
    s2 = start(ihc[256:, 256:], nks.load_model(path).apply(ihc[256:, 256:].copy()))
    assert s2.names() == {1: "beans", 2: "cluster 2", 4: "background glass"}
    assert s2.measure.background() == [4]


def test_session_stain_names_round_trip_with_a_renamed_stain(ihc, tmp_path):
    seg = nks.segment(ihc, 3, color_space="hed", seed=0)
    s = start(ihc, seg)
    h = next(i for i, n in s.names().items() if n == "haematoxylin")
    s.rename(h, "nuclei")
    s.measure.set_background([])  # the person counts the pale cluster as tissue
    path = s.save_model(tmp_path / "m.json")
    tile = ihc[:, 256:].copy()
    s2 = start(tile, nks.load_model(path).apply(tile))
    assert s2.names()[h] == "nuclei"
    assert "haematoxylin" not in s2.names().values()
    assert s2.measure.background() == []


# -- the shell ----------------------------------------------------------------------------------
def test_cli_writes_the_models_names_and_measures_its_background(ihc, seg4, tmp_path):
    img = tmp_path / "tile.png"
    cv2.imwrite(str(img), cv2.cvtColor(ihc[256:, 256:], cv2.COLOR_RGB2BGR))
    model = seg4.model.named({1: "beans dark", 3: "nuclei"}, [4]).save(tmp_path / "m.json")
    out = tmp_path / "out"
    assert main([str(img), "--model", str(model), "-o", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "tile_clusters.csv")))
    assert [r["name"] for r in rows] == ["beans dark", "cluster 2", "nuclei", "cluster 4"]
    (summary,) = csv.DictReader(open(out / "summary.csv"))
    counts = {int(r["index"]): int(r["count"]) for r in rows}
    tissue = sum(counts.values()) - counts[4]
    assert int(summary["tissue"]) == tissue
    # columns named by the clusters' names (a legend says which label), numbers for the rest
    assert float(summary["tissue_share_beans_dark"]) == pytest.approx(counts[1] / tissue)
    assert summary["legend"] == "beans_dark=1; nuclei=3"
    assert "tissue_share_4" not in summary and "tissue_share_1" not in summary
    # --background still decides
    out2 = tmp_path / "out2"
    assert main([str(img), "--model", str(model), "-o", str(out2), "--background", "2"]) == 0
    (summary2,) = csv.DictReader(open(out2 / "summary.csv"))
    assert int(summary2["tissue"]) == sum(counts.values()) - counts[2]
    assert "tissue_share_4" in summary2


def test_cli_save_model_keeps_the_background_option(ihc, tmp_path):
    img = tmp_path / "tile.png"
    cv2.imwrite(str(img), cv2.cvtColor(ihc[:256, :256], cv2.COLOR_RGB2BGR))
    path = tmp_path / "m.json"
    args = [str(img), "-k", "3", "--seed", "0", "-o", str(tmp_path / "o"), "--save-model", str(path)]
    assert main([*args, "--background", "3"]) == 0
    assert nks.load_model(path).background == (3,)


def test_cli_block_by_block_writes_the_names_of_a_merged_model(ihc, seg4, tmp_path):
    import zarr

    path = tmp_path / "slide.zarr"
    z = zarr.create_array(str(path), shape=ihc.shape, chunks=(256, 256, 3), dtype=np.uint8)
    z[:] = ihc
    model = seg4.merge([1, 3]).model.named({1: "beans", 4: "glass"}, [4]).save(tmp_path / "m.json")
    out = tmp_path / "out"
    assert main([str(path), "--model", str(model), "-o", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "slide_clusters.csv")))
    assert [(int(r["index"]), r["name"]) for r in rows] == [(1, "beans"), (2, "cluster 2"), (4, "glass")]
    (summary,) = csv.DictReader(open(out / "summary.csv"))
    assert "tissue_share_glass" not in summary and "tissue_share_beans" in summary
