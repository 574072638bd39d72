"""The command line as a transaction per image: plan first, refuse with nothing
written, never touch an input, write through temporary files, clear messages."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tifffile
from skimage import data

from napari_kmeans_segment._cli import main
from napari_kmeans_segment._cli import outputs as cli_outputs

PROG = "napari-kmeans-segment:"


def png(path, img):
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
    return path


def snapshot(folder):
    """Every file under ``folder`` with its bytes (to prove nothing changed)."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = open(p, "rb").read()
    return out


def no_temp_files(folder):
    return not [f for _, _, files in os.walk(folder) for f in files if f.endswith(".tmp")]


@pytest.fixture
def coffee(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    return png(d / "a.png", data.coffee()[::4, ::4])


def test_overwrite_never_replaces_an_input(tmp_path, coffee, capsys):
    """`d/a_labels.tif d/a.png -k 3 -o d --overwrite` used to overwrite the input a_labels.tif
    with a.png's labels and only then refuse."""
    d = coffee.parent
    victim = d / "a_labels.tif"
    tifffile.imwrite(victim, data.camera()[::4, ::4])
    before = snapshot(d)
    assert main([str(victim), str(coffee), "-k", "3", "-o", str(d), "--overwrite"]) == 2
    assert snapshot(d) == before
    err = capsys.readouterr().err
    assert "would overwrite the input" in err and "nothing was written" in err


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_that_is_a_link_to_an_input_is_refused(tmp_path, coffee, link):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "a_clusters.csv"
    (os.symlink if link == "symlink" else os.link)(coffee, target)
    before = snapshot(tmp_path)
    assert main([str(coffee), "-k", "3", "-o", str(out), "--overwrite"]) == 2
    assert snapshot(tmp_path) == before


def test_save_model_onto_an_input_is_refused(tmp_path, coffee):
    victim = png(coffee.parent / "victim.png", data.chelsea()[::4, ::4])
    before = snapshot(tmp_path)
    code = main(
        [
            str(coffee),
            str(victim),
            "-k",
            "3",
            "-o",
            str(tmp_path / "out"),
            "--save-model",
            str(victim),
            "--overwrite",
        ]
    )
    assert code == 2
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_existing_model_file_needs_overwrite(tmp_path, coffee, capsys):
    model = tmp_path / "m.json"
    model.write_text("my notes")
    code = main([str(coffee), "-k", "3", "-o", str(tmp_path / "out"), "--save-model", str(model)])
    assert code == 2 and model.read_text() == "my notes" and not (tmp_path / "out").exists()
    assert "--overwrite" in capsys.readouterr().err
    code = main(
        [str(coffee), "-k", "3", "-o", str(tmp_path / "out"), "--save-model", str(model), "--overwrite"]
    )
    assert code == 0 and model.read_text().startswith("{")


def test_save_model_into_a_missing_folder_is_one_line(tmp_path, coffee):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_kmeans_segment",
            str(coffee),
            "-k",
            "3",
            "-o",
            str(tmp_path / "out"),
            "--save-model",
            str(tmp_path / "no" / "m.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "does not exist" in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "no").exists()
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_unwritable_outdir_is_one_line_and_leaves_nothing(tmp_path, coffee, where):
    if where == "under_a_file":
        outdir = coffee.parent / "a.png" / "out"  # refused by the plan
    else:
        outdir = "/proc/napari-kmeans-segment-test"  # the plan cannot know: mkdir fails
    before = snapshot(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "napari_kmeans_segment", str(coffee), "-k", "3", "-o", str(outdir)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and str(outdir) in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2
    assert snapshot(tmp_path) == before


def test_inputs_are_checked_first_and_every_problem_reported(tmp_path, coffee, capsys):
    out = tmp_path / "out"
    code = main(
        [str(coffee), str(tmp_path / "gone.png"), str(tmp_path / "lost.tif"), "-k", "3", "-o", str(out)]
    )
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "gone.png: no such file" in err and "lost.tif: no such file" in err


def test_run_time_failure_is_on_its_own_line_and_leaves_that_image_out(tmp_path, coffee):
    flat = png(coffee.parent / "flat.png", np.full((32, 32), 7, np.uint8))  # < K colours
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "napari_kmeans_segment", str(coffee), str(flat), "-k", "3", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (out / "a_labels.tif").exists() and not list(out.glob("flat*"))
    lines = r.stderr.split("\n")
    messages = [ln for ln in lines if PROG in ln]
    assert any("flat.png" in ln for ln in messages)
    assert all(ln.startswith(PROG) and "\r" not in ln for ln in messages)
    assert no_temp_files(tmp_path)


def test_an_output_failing_mid_image_leaves_none_of_its_outputs(tmp_path, coffee, monkeypatch):
    def broken_png(path, rec):
        open(path, "wb").write(b"half a png")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("napari_kmeans_segment._cli.batch.write_png", broken_png)
    out = tmp_path / "out"
    assert main([str(coffee), "-k", "3", "-o", str(out)]) == 1
    assert not out.exists() or not os.listdir(out)


def test_transaction_removes_temporaries_when_not_committed(tmp_path):
    with pytest.raises(RuntimeError), cli_outputs.Transaction() as tx:
        tx.temp(tmp_path / "x.csv").write_text("partial")
        raise RuntimeError
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["pages", "samples", "planar"])
def test_tiff_stacks_are_segmented_as_the_stack_they_are(tmp_path, kind):
    cam = data.camera()[::4, ::4]
    path = tmp_path / f"{kind}.tif"
    if kind == "pages":  # (pages, Y, X): a 3D image
        stack = np.stack([cam, cam[::-1], cam[:, ::-1], cam.T])
        tifffile.imwrite(path, stack, photometric="minisblack")
        spatial = stack.shape
    elif kind == "samples":  # (Y, X, 2) contiguous samples: 2 channels
        stack = np.dstack([cam, 255 - cam])
        tifffile.imwrite(path, stack, photometric="minisblack", planarconfig="contig")
        spatial = cam.shape
    else:  # ImageJ hyperstack with a C axis: (C, Y, X)
        stack = np.stack([cam, 255 - cam])
        tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "CYX"})
        spatial = cam.shape
    out = tmp_path / "out"
    assert main([str(path), "-k", "3", "--seed", "0", "-o", str(out)]) == 0
    labels = tifffile.imread(out / f"{kind}_labels.tif")
    assert labels.shape == spatial and set(np.unique(labels)) == {1, 2, 3}
    rec = tifffile.imread(out / f"{kind}_recolored.tif")
    assert rec.shape == stack.shape and rec.dtype == stack.dtype


def test_channel_axis_flag_and_its_range_is_checked_first(tmp_path):
    cam = data.camera()[::4, ::4]
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.stack([cam, cam.T]), photometric="minisblack")  # pages
    out = tmp_path / "out"
    assert main([str(path), "-k", "2", "-o", str(out), "--channel-axis", "5"]) == 2
    assert not out.exists()
    assert main([str(path), "-k", "2", "-o", str(out), "--channel-axis", "0"]) == 0
    assert tifffile.imread(out / "s_labels.tif").shape == cam.shape


def test_core_advice_reaches_the_shell_as_flags(tmp_path, coffee, capsys):
    """A model fitted on RGB applied to a grayscale image: no "Pass rgb=False"."""
    model = tmp_path / "m.json"
    assert main([str(coffee), "-k", "3", "-o", str(tmp_path / "o1"), "--save-model", str(model)]) == 0
    gray = png(tmp_path / "g.png", data.camera()[::4, ::4])
    capsys.readouterr()
    assert main([str(gray), "--model", str(model), "-o", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "channel" in err and "rgb=" not in err


def test_cli_words_translates_the_cores_layout_advice():
    from napari_kmeans_segment._cli.console import cli_words
    from napari_kmeans_segment._core.features.image import PixelImage

    with pytest.raises(ValueError) as e:
        PixelImage(np.zeros((8, 8), np.uint8), rgb=True)
    assert "rgb=False" in str(e.value)
    said = cli_words(str(e.value))
    assert "rgb=" not in said and "--channel-axis" in said


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float64])
def test_recolored_png_of_wide_types_keeps_clusters_apart(tmp_path, dtype):
    """int16/int32 recoloured PNGs used to saturate to 0/1/255."""
    rng = np.random.default_rng(0)
    levels = np.array([-2000, 1000, 20000] if dtype is not np.float64 else [-5.0, 0.1, 7.0])
    img = levels[np.repeat(np.arange(3), 64 * 64 // 3 + 1)[: 64 * 64]].reshape(64, 64)
    img = (img + rng.normal(0, 3 if dtype is not np.float64 else 0.01, img.shape)).astype(dtype)
    path = tmp_path / "w.tif"
    tifffile.imwrite(path, img)
    out = tmp_path / "out"
    assert main([str(path), "-k", "3", "--seed", "0", "-o", str(out)]) == 0
    rec = cv2.imread(str(out / "w_recolored.png"), cv2.IMREAD_UNCHANGED)
    labels = tifffile.imread(out / "w_labels.tif")
    means = [rec[labels == lab].mean() for lab in (1, 2, 3)]
    assert len(np.unique(rec)) == 3
    assert means[0] < means[1] < means[2]
    assert means[2] - means[0] > 0.9 * np.iinfo(rec.dtype).max


def test_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status" in out
    for code in ("0 ", "1 ", "2 "):
        assert f"\n  {code}" in out


@pytest.mark.parametrize(
    ("shape", "dtype", "flags"),
    [
        ((3, 50, 60), "f4", []),
        ((4, 50, 60), "u1", []),
        ((3, 50, 60), "f4", ["--channel-axis", "0"]),
    ],
)
def test_three_or_four_page_stacks_get_a_recolored_tif(tmp_path, shape, dtype, flags):
    """tifffile reads (3|4, Y, X) as samples first: the PNG writer failed after all the work."""
    rng = np.random.default_rng(0)
    stack = (rng.random(shape) * (255 if dtype == "u1" else 1)).astype(dtype)
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, stack)
    out = tmp_path / "out"
    assert main([str(path), "-k", "3", "--seed", "0", "-o", str(out), *flags]) == 0
    assert sorted(os.listdir(out)) == ["s_clusters.csv", "s_labels.tif", "s_recolored.tif", "summary.csv"]
    rec = tifffile.imread(out / "s_recolored.tif")
    assert rec.shape == stack.shape and rec.dtype == stack.dtype


@pytest.mark.parametrize("lazy", [False, True])
def test_sigterm_cleans_up_like_ctrl_c(tmp_path, coffee, lazy):
    """SIGTERM's default action killed the batch mid-write: .NAME_labels.tif.<hex>.tmp files and
    .ome.zarr.<hex>.tmp folders stayed. The child terminates itself while a temporary exists."""
    from fuzz_cases import run_python

    out = tmp_path / "out"
    if lazy:  # --lazy reads TIFF block by block (a PNG is always read whole)
        tifffile.imwrite(tmp_path / "a.tif", data.coffee()[::4, ::4], photometric="rgb")
        coffee = tmp_path / "a.tif"
    writer = "create_ome_array" if lazy else "write_tiff"
    module = "napari_kmeans_segment._cli." + ("wsi" if lazy else "batch")
    code = f"""
import os, signal, sys, importlib
m = importlib.import_module({module!r})
real = getattr(m, {writer!r})
def killed(*a, **k):
    made = real(*a, **k)
    os.kill(os.getpid(), signal.SIGTERM)
    import time; time.sleep(5)  # the handler runs here
    return made
setattr(m, {writer!r}, killed)
from napari_kmeans_segment._cli import main
sys.exit(main([{str(coffee)!r}, "-k", "3", "-o", {str(out)!r}] + {["--lazy"] if lazy else []!r}))
"""
    rc, _, err = run_python(code, timeout=120)
    assert rc == 143, err[-2000:]
    assert "terminated" in err
    left = [p for p in out.rglob("*")] if out.exists() else []
    assert left == [], left


def test_deeply_nested_model_is_one_line_and_exit_2(tmp_path, coffee, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert main([str(coffee), "--model", str(deep), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not a model file" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_empty_zarr_is_refused_before_any_work(tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    zarr.open(str(tmp_path / "e.zarr"), mode="w", shape=(0, 400), dtype="u1", chunks=(10, 10))
    assert main([str(tmp_path / "e.zarr"), "-k", "3", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "empty image" in err and "ZeroDivisionError" not in err


@pytest.mark.parametrize("address", ["banana", "foo://x", "tcp://localhost"])
def test_malformed_scheduler_address_refused_before_a_client_exists(
    tmp_path, coffee, address, monkeypatch, capsys
):
    import distributed

    def no_client(*a, **k):
        raise AssertionError("a Client was created for a malformed address")

    monkeypatch.setattr(distributed, "Client", no_client)
    assert main([str(coffee), "-k", "3", "-o", str(tmp_path / "out"), f"--scheduler={address}"]) == 2
    assert "tcp://10.0.0.5:8786" in capsys.readouterr().err


def test_outdir_that_is_a_broken_link_says_so(tmp_path, coffee, capsys):
    link = tmp_path / "dang"
    link.symlink_to(tmp_path / "nowhere")
    assert main([str(coffee), "-k", "3", "-o", str(link)]) == 2
    err = capsys.readouterr().err
    assert "broken link" in err and "File exists" not in err


def test_channel_axis_out_of_range_is_refused_before_work_and_said_once(tmp_path, capsys):
    """--channel-axis 5 on a PNG failed at run time (status 1) with the file named twice:
    "a.png: CliError: a.png: ... out of range"."""
    from skimage import data

    rgb = png(tmp_path / "a.png", data.coffee()[::8, ::8])
    out = tmp_path / "out"
    assert main([str(rgb), "-k", "3", "-o", str(out), "--channel-axis", "5"]) == 2
    assert not out.exists()
    assert "--channel-axis 5 is out of range" in capsys.readouterr().err
    gray = png(tmp_path / "g.png", data.camera()[::8, ::8])  # 2 axes: known only when read
    assert main([str(gray), "-k", "3", "-o", str(out), "--channel-axis", "2"]) == 1
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "out of range" in ln]
    assert line.count("g.png") == 1 and "CliError" not in line
