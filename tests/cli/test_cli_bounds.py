"""Bounded waits and reads on the command line: a peer that is not a dask scheduler, model
files that cannot be models, pipes, decompression bombs and inputs of very many blocks all
end in one clear line (or run), never in a wait without end or an allocation without bound."""

import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from cli_run import clean_failure, cli, ome_zarr, png
from fuzz_cases import run_python
from skimage import data


class Peer:
    """A TCP server on 127.0.0.1 that is not a dask scheduler: it answers every connection
    with garbage bytes, or accepts it and says nothing."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.mode == "garbage":
                threading.Thread(target=self._garbage, args=(conn,), daemon=True).start()

    def _garbage(self, conn):
        try:
            while not self.stop.is_set():
                conn.sendall(b"\xff\x13\x00\x7fHTTP/1.1 400\r\n" * 64)
                time.sleep(0.05)
        except OSError:
            pass

    def close(self):
        self.stop.set()
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def store(tmp_path):
    return ome_zarr(tmp_path / "s.zarr", data.coffee()[::8, ::8])


@pytest.mark.parametrize("mode", ["garbage", "silent"])
def test_a_peer_that_is_not_a_dask_scheduler_is_refused_in_one_line(tmp_path, store, mode):
    """Garbage: a 3 EiB allocation, then "Exception ignored in Client.__del__" with a traceback;
    silence: minutes without a word. The subprocess's timeout only guards against a hang."""
    peer = Peer(mode)
    try:
        r = cli(store, "-k", "3", "-o", tmp_path / "out", "--scheduler", peer.address, timeout=100)
    finally:
        peer.close()
    messages = clean_failure(r)
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    (line,) = [m for m in messages if "--scheduler" in m]
    assert peer.address in line and ("not a dask scheduler" in line or "no dask scheduler answered" in line)


def test_model_from_a_device_is_refused_before_reading(tmp_path):
    """--model /dev/zero read until memory ran out; the child's address space is capped so the
    old behaviour fails as a MemoryError instead of exhausting the machine."""
    good = png(tmp_path / "g.png", data.coffee()[::8, ::8])
    code = f"""
import sys
from napari_kmeans_segment._cli import main
sys.exit(main([{str(good)!r}, "--model", "/dev/zero", "-o", {str(tmp_path / "out")!r}]))
"""
    rc, _, err = run_python(code, timeout=120, memory_limit=3_000_000_000)
    assert rc == 2 and "Traceback" not in err, err[-2000:]
    assert "/dev/zero is not a regular file" in err


def test_model_file_larger_than_any_model_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: nothing is written, the size says 2 GiB
        fh.truncate(2 * 2**30)
    code = f"""
import napari_kmeans_segment as nks
try:
    nks.load_model({str(big)!r})
except ValueError as e:
    print("REFUSED", e)
"""
    rc, out, err = run_python(code, timeout=120, memory_limit=1_000_000_000)
    assert rc == 0 and "REFUSED" in out and "larger than any model" in out, err[-2000:]


def test_model_from_a_fifo_is_refused_without_waiting(tmp_path):
    """Opening a FIFO waits for a writer for ever (in a child: a hang fails the test)."""
    import os

    fifo = tmp_path / "m.json"
    os.mkfifo(fifo)
    code = f"""
import napari_kmeans_segment as nks
try:
    nks.load_model({str(fifo)!r})
except ValueError as e:
    print("REFUSED", e)
"""
    rc, out, err = run_python(code, timeout=60)
    assert rc == 0 and "REFUSED" in out and "not a regular file" in out, (rc, err[-2000:])


def bomb_png(path, width: int, height: int):
    """A valid 1-bit grayscale PNG of width x height black pixels: a few hundred kB on disk."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    z = zlib.compressobj(9)
    parts = [z.compress(row) for _ in range(height)] + [z.flush()]
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_png_is_refused_before_decoding(tmp_path):
    """A 20000 x 20000 PNG of about 1 MB was decoded (gigabytes) and segmented."""
    bomb = bomb_png(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 2_000_000
    code = f"""
import sys
from napari_kmeans_segment._cli import main
sys.exit(main([{str(bomb)!r}, "-k", "2", "-o", {str(tmp_path / "out")!r}]))
"""
    rc, _, err = run_python(code, timeout=300, memory_limit=3_000_000_000)
    assert rc == 2 and "Traceback" not in err, err[-2000:]
    assert "bomb.png: 20000 x 20000 = 400,000,000 pixels" in err and "--max-pixels" in err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_pixel_cap_is_configurable(tmp_path, how):
    img = png(tmp_path / "a.png", data.coffee()[::8, ::8])  # 75 x 50 = 3750 pixels
    out = tmp_path / "out"
    if how == "flag":
        refused = cli(img, "-k", "3", "-o", out, "--max-pixels", "3000")
        allowed = cli(img, "-k", "3", "-o", out, "--max-pixels", "3750")
    else:
        refused = cli(img, "-k", "3", "-o", out, env={"NAPARI_KMEANS_SEGMENT_MAX_PIXELS": "3000"})
        allowed = cli(img, "-k", "3", "-o", out, env={"NAPARI_KMEANS_SEGMENT_MAX_PIXELS": "3750"})
    messages = clean_failure(refused)
    assert refused.returncode == 2 and any("3,750 pixels" in m and "3,000" in m for m in messages)
    assert allowed.returncode == 0, allowed.stderr
    bad = cli(img, "-k", "3", "-o", out, env={"NAPARI_KMEANS_SEGMENT_MAX_PIXELS": "lots"})
    assert bad.returncode == 2 and "NAPARI_KMEANS_SEGMENT_MAX_PIXELS" in bad.stderr


def test_block_writes_are_one_graph_layer_whatever_the_number_of_blocks(tmp_path):
    """A delayed call per block made a graph layer per block: dask's culling then took minutes
    for 100k blocks (quadratic in the layers), without progress or Ctrl-C."""
    import dask.array as da
    import zarr

    from napari_kmeans_segment._cli.wsi import block_writes

    values = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64) % 3 + 1
    layers = []
    for side in (16, 4):  # 16 and 256 blocks: the graph has as many layers either way
        labels = da.from_array(values, chunks=side)
        z = zarr.open_array(str(tmp_path / f"{side}.zarr"), mode="w", shape=(64, 64), chunks=side, dtype="u1")
        z[:] = 0
        writes = block_writes(labels, str(tmp_path / f"{side}.zarr"), 4)
        layers.append(len(writes.dask.layers))
        counts = writes.compute(scheduler="synchronous").reshape(-1, 4).sum(axis=0)
        assert counts.tolist() == np.bincount(values.ravel(), minlength=4).tolist()
        np.testing.assert_array_equal(z[:], values)
    assert layers[0] == layers[1] <= 3


def test_inputs_of_very_many_blocks_are_processed_in_fewer(tmp_path):
    from napari_kmeans_segment._cli.blocks import MAX_BLOCKS, fewer_blocks
    from napari_kmeans_segment._cli.inputs import Source

    said = []

    class Console:
        def say(self, text):
            said.append(text)

    shape = (25600, 25600, 3)
    src = Source(tmp_path / "big.zarr", "zarr", lazy=True, shape=shape, dtype=np.dtype("u1"), rgb=True)
    chunks = fewer_blocks(src, shape, (64, 64, 3), 64, Console())
    n = np.prod([-(-s // c) for s, c in zip(shape, chunks)])
    assert n <= MAX_BLOCKS and chunks[2] == 3 and all(c % 64 == 0 for c in chunks[:2])
    (note,) = said
    assert "160,000 blocks" in note and f"{n:,} blocks" in note
    # blocks the person chose stay as they are when they are few enough
    assert fewer_blocks(src, shape, (64, 64, 3), 2048, Console()) == (2048, 2048, 3)
