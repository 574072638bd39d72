"""One run per output folder: a second run into a folder another run is writing is refused with
a message naming that run; a lock left by a run that ended never blocks."""

import json
import os
import subprocess
import sys
import textwrap
import time

from cli_run import SRC, clean_failure, cli, png
from skimage import data

LOCK = ".napari-kmeans-segment.lock"


def start_paused_run(image, out, flag):
    """A run that stops while writing its first output, until the file ``flag`` exists."""
    code = textwrap.dedent(f"""
        import os, sys, time
        from napari_kmeans_segment._cli import batch
        real = batch.write_tiff
        def paused(*a, **k):
            open({str(flag) + ".waiting"!r}, "w").close()
            end = time.monotonic() + 240
            while not os.path.exists({str(flag)!r}) and time.monotonic() < end:
                time.sleep(0.05)
            return real(*a, **k)
        batch.write_tiff = paused
        from napari_kmeans_segment._cli import main
        sys.exit(main([{str(image)!r}, "-k", "3", "--seed", "0", "-o", {str(out)!r}]))
    """)
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_for(path, proc):
    end = time.monotonic() + 240  # a guard against a hang, not a measurement
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the first run never reached its first write"
        time.sleep(0.05)


def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(tmp_path):
    """Both runs used to exit 0: the images ended with mixed K and summary.csv disagreed with
    the label files."""
    a = png(tmp_path / "a.png", data.coffee()[::8, ::8])
    out = tmp_path / "out"
    flag = tmp_path / "go"
    first = start_paused_run(a, out, flag)
    try:
        wait_for(tmp_path / "go.waiting", first)
        second = cli(a, "-k", "5", "-o", out)
        messages = clean_failure(second)
        assert second.returncode == 2
        (line,) = [m for m in messages if "another run" in m]
        assert f"pid {first.pid}" in line and str(out) in line
    finally:
        flag.touch()
        _, err = first.communicate(timeout=240)
    assert first.returncode == 0, err[-2000:]
    assert sorted(os.listdir(out)) == ["a_clusters.csv", "a_labels.tif", "a_recolored.png", "summary.csv"]


def test_a_lock_left_by_a_run_that_ended_is_taken_over(tmp_path):
    a = png(tmp_path / "a.png", data.coffee()[::8, ::8])
    out = tmp_path / "out"
    out.mkdir()
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(ended.stdout)
    (out / LOCK).write_text(json.dumps({"pid": dead, "host": "elsewhere", "started": "then"}))
    r = cli(a, "-k", "3", "-o", out)
    assert r.returncode == 0, r.stderr
    assert f"took over the lock left by a run that ended (pid {dead}" in r.stderr
    assert not (out / LOCK).exists() and (out / "a_labels.tif").exists()


def test_outputs_written_while_a_run_waited_for_the_lock_are_not_overwritten(tmp_path, monkeypatch):
    """The plan saw no outputs; another run wrote them before this one took the lock: the
    outputs are checked again under the lock, so --overwrite is still needed."""
    from napari_kmeans_segment._cli import batch, main

    a = png(tmp_path / "a.png", data.coffee()[::8, ::8])
    out = tmp_path / "out"
    real = batch._make_folder

    def meanwhile(folder):
        made = real(folder)
        (out / "a_labels.tif").write_bytes(b"written by the other run")
        return made

    monkeypatch.setattr(batch, "_make_folder", meanwhile)
    assert main([str(a), "-k", "3", "-o", str(out)]) == 2
    assert (out / "a_labels.tif").read_bytes() == b"written by the other run"
    assert not (out / LOCK).exists()
