"""Damaged and hostile inputs on the command line: every one is refused in one line that names
the file, with no traceback; the plan lists all of them at once, or, with --skip-unreadable,
leaves them out and processes the others; truncated images are never measured as "ok"."""

import csv
import os

import numpy as np
import pytest
from cli_run import PROG, clean_failure, cli, ome_zarr, png
from skimage import data


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ms(attrs):
    return attrs["multiscales"][0]


DAMAGED_STORES = {
    "no_levels": lambda a: ms(a).update(datasets=[]),
    "level_missing": lambda a: ms(a)["datasets"][0].update(path="7"),
    "scale_not_numbers": lambda a: ms(a)["datasets"][0]["coordinateTransformations"][0].update(
        scale=["a", 1]
    ),
    "scale_negative": lambda a: ms(a)["datasets"][0]["coordinateTransformations"][0].update(scale=[-1, 1]),
    "scale_wrong_length": lambda a: ms(a)["datasets"][0]["coordinateTransformations"][0].update(
        scale=[1, 1, 1]
    ),
    "path_leaves_store": lambda a: ms(a)["datasets"][0].update(path="../good.zarr/0"),
    "absolute_path": lambda a: ms(a)["datasets"][0].update(path="/etc"),
    "multiscales_not_a_list": lambda a: a.update(multiscales={"datasets": []}),
    "datasets_not_dicts": lambda a: ms(a).update(datasets=["0"]),
    "axes_more_than_dimensions": lambda a: ms(a).update(
        axes=[
            {"name": "c", "type": "channel"},
            {"name": "y", "type": "space"},
            {"name": "x", "type": "space"},
        ]
    ),
    "axes_repeated": lambda a: ms(a).update(
        axes=[{"name": "x", "type": "space"}, {"name": "x", "type": "space"}]
    ),
    "axes_two_channels": lambda a: ms(a).update(
        axes=[{"name": "c", "type": "channel"}, {"name": "d", "type": "channel"}]
    ),
}


@pytest.fixture
def inputs(tmp_path):
    good = png(tmp_path / "good.png", data.coffee()[::8, ::8])
    ome_zarr(tmp_path / "good.zarr", data.camera()[::8, ::8])
    return tmp_path, good


@pytest.mark.parametrize("kind", sorted(DAMAGED_STORES))
def test_damaged_ome_zarr_metadata_is_one_line_naming_the_store(inputs, kind):
    tmp_path, good = inputs
    bad = ome_zarr(tmp_path / f"{kind}.zarr", data.camera()[::8, ::8], edit=DAMAGED_STORES[kind])
    out = tmp_path / "out"
    r = cli(good, bad, "-k", "3", "-o", out)
    messages = clean_failure(r)
    assert r.returncode == 2 and not out.exists()
    (line,) = [m for m in messages if f"{kind}.zarr" in m]
    assert "damaged" in line or "does not hold" in line


def test_every_damaged_input_is_reported_at_once(inputs):
    tmp_path, good = inputs
    names = ["no_levels", "level_missing", "scale_not_numbers", "path_leaves_store"]
    bad = [ome_zarr(tmp_path / f"{n}.zarr", data.camera()[::8, ::8], edit=DAMAGED_STORES[n]) for n in names]
    r = cli(*bad, good, "-k", "3", "-o", tmp_path / "out")
    messages = clean_failure(r)
    assert r.returncode == 2
    for n in names:
        assert sum(f"{n}.zarr" in m for m in messages) == 1, messages
    assert "4 problem(s)" in messages[-1]


def test_skip_unreadable_processes_the_other_inputs_and_lists_the_damaged_one(inputs):
    tmp_path, good = inputs
    bad = ome_zarr(tmp_path / "bad.zarr", data.camera()[::8, ::8], edit=DAMAGED_STORES["no_levels"])
    store = ome_zarr(tmp_path / "store.zarr", data.camera()[::8, ::8])
    out = tmp_path / "out"
    r = cli(bad, good, store, "-k", "3", "-o", out, "--skip-unreadable")
    clean_failure(r)
    assert r.returncode == 1
    assert (out / "good_labels.tif").exists() and (out / "store_labels.ome.zarr").exists()
    table = {row["file"]: row for row in rows(out / "summary.csv")}
    assert table[str(good)]["status"] == "ok" and table[str(store)]["status"] == "ok"
    assert table[str(bad)]["status"].startswith("failed:") and "damaged" in table[str(bad)]["status"]


def test_a_loop_of_symbolic_links_is_one_line(tmp_path):
    good = png(tmp_path / "good.png", data.coffee()[::8, ::8])
    os.symlink(tmp_path / "b.png", tmp_path / "a.png")
    os.symlink(tmp_path / "a.png", tmp_path / "b.png")
    r = cli(tmp_path / "a.png", good, "-k", "3", "-o", tmp_path / "out")
    messages = clean_failure(r)
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    assert any("a.png" in m and "loop of symbolic links" in m for m in messages)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifos_and_devices_are_refused_without_reading_them(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.png"
        os.mkfifo(path)  # opening it for reading would wait for a writer for ever
    else:
        path = "/dev/zero"
    r = cli(path, "-k", "3", "-o", tmp_path / "out", timeout=120)
    messages = clean_failure(r)
    assert r.returncode == 2 and any(str(path) in m and ("FIFO" in m or "device" in m) for m in messages)


@pytest.mark.parametrize(
    ("flag", "where"), [("--summary", "/proc/summary.csv"), ("--save-model", "/sys/m.json")]
)
def test_unwritable_summary_or_model_folder_refuses_before_any_image(inputs, flag, where):
    """The summary's folder was never checked: the images were written, then an OSError
    traceback. /proc and /sys refuse new files even to root."""
    tmp_path, good = inputs
    out = tmp_path / "out"
    r = cli(good, "-k", "3", "-o", out, flag, where)
    messages = clean_failure(r)
    assert r.returncode == 2 and not out.exists()
    assert any(where in m and "not writable" in m for m in messages)


def test_summary_failing_on_a_full_disk_is_one_line_after_the_images(inputs):
    from fuzz_cases import run_python

    tmp_path, good = inputs
    out = tmp_path / "out"
    code = f"""
import errno, sys
from napari_kmeans_segment._cli import outputs
def full(path, *a, **k):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))
outputs.write_rows = full
from napari_kmeans_segment._cli import main
sys.exit(main([{str(good)!r}, "-k", "3", "-o", {str(out)!r}]))
"""
    rc, _, err = run_python(code)
    assert rc == 1 and "Traceback" not in err, err[-3000:]
    assert "summary could not be written" in err and "No space left on device" in err
    assert (out / "good_labels.tif").exists() and not (out / "summary.csv").exists()


def _truncated(tmp_path, ext):
    import cv2

    ok, buf = cv2.imencode(f".{ext}", cv2.cvtColor(data.coffee()[::2, ::2], cv2.COLOR_RGB2BGR))
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(buf.tobytes()[: len(buf) * 2 // 3])
    return path


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_truncated_images_are_failed_with_the_reason_in_the_summary(inputs, ext):
    """OpenCV fills the missing part of a truncated JPEG with grey: it was measured as "ok"."""
    tmp_path, good = inputs
    cut = _truncated(tmp_path, ext)
    out = tmp_path / "out"
    r = cli(cut, good, "-k", "3", "-o", out)
    messages = clean_failure(r)
    assert r.returncode == 1
    assert any(str(cut) in m and "truncated" in m for m in messages)
    table = {row["file"]: row for row in rows(out / "summary.csv")}
    assert table[str(cut)]["status"].startswith("failed: truncated")
    assert table[str(good)]["status"] == "ok"
    assert not list(out.glob("cut_*"))


def test_a_png_with_a_damaged_chunk_is_failed(inputs):
    tmp_path, good = inputs
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(data.coffee()[::4, ::4], cv2.COLOR_RGB2BGR))
    raw = bytearray(buf.tobytes())
    at = raw.index(b"IDAT") + 200
    raw[at] ^= 0xFF  # one flipped byte inside the compressed pixels
    bad = tmp_path / "flip.png"
    bad.write_bytes(bytes(raw))
    r = cli(bad, good, "-k", "3", "-o", tmp_path / "out")
    messages = clean_failure(r)
    assert r.returncode == 1 and any("flip.png" in m and "checksum" in m for m in messages)


def test_whole_images_pass_the_integrity_check(tmp_path):
    """No false alarm: JPEGs with trailing bytes after the end marker, progressive JPEGs, PNGs."""
    import cv2

    from napari_kmeans_segment._cli.image_header import damage, image_size

    img = cv2.cvtColor(data.astronaut()[::2, ::2], cv2.COLOR_RGB2BGR)
    for ext, params in ((".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".png", [])):
        ok, buf = cv2.imencode(ext, img, params)
        path = tmp_path / f"x{ext}"
        path.write_bytes(buf.tobytes() + (b"\x00" * 100 if ext == ".jpg" else b""))
        assert damage(path) is None
        assert image_size(path) == img.shape[:2]
    tif = tmp_path / "x.bmp"
    cv2.imwrite(str(tif), img)
    assert damage(tif) is None and image_size(tif) == img.shape[:2]
    assert np.prod(img.shape[:2]) > 0


def test_a_store_claiming_an_absurd_shape_is_refused_by_the_plan(inputs):
    """A damaged .zarray of 10^12 x 10^12 pixels would schedule billions of blocks."""
    import json

    tmp_path, good = inputs
    store = ome_zarr(tmp_path / "huge.zarr", data.camera()[::8, ::8])
    meta = store / "0" / ".zarray"
    d = json.loads(meta.read_text())
    meta.write_text(json.dumps(dict(d, shape=[10**12, 10**12])))
    r = cli(store, good, "-k", "3", "-o", tmp_path / "out", timeout=120)
    messages = clean_failure(r)
    assert r.returncode == 2 and any("huge.zarr" in m and "is its metadata damaged" in m for m in messages)


def test_a_file_name_with_a_line_break_stays_one_message_line(inputs):
    tmp_path, good = inputs
    cut = _truncated(tmp_path, "jpg").rename(tmp_path / "two\nlines.jpg")
    r = cli(cut, good, "-k", "3", "-o", tmp_path / "out")
    messages = clean_failure(r)
    assert r.returncode == 1
    assert any("two\\nlines.jpg: truncated" in m for m in messages)
    for line in r.stderr.splitlines():  # text mode: the progress line's \r ends a line too
        assert line.strip() == "" or line.startswith((PROG, "[")), line


def test_an_input_whose_outputs_would_have_too_long_a_name_is_refused_first(inputs):
    tmp_path, _ = inputs
    long = png(tmp_path / ("x" * 245 + ".png"), data.coffee()[::8, ::8])
    r = cli(long, "-k", "3", "-o", tmp_path / "out")
    messages = clean_failure(r)
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    assert any("name would be too long" in m for m in messages)
