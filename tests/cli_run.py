"""Running the command line as a user does: a child process, its exit status and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

PROG = "napari-kmeans-segment:"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def cli(*args, cwd=None, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m napari_kmeans_segment ARGS`` with this tree's ``src`` first on the path.

    ``timeout`` only guards against a hang (a test fails instead of waiting for ever).
    """
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = SRC + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "napari_kmeans_segment", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def clean_failure(r: subprocess.CompletedProcess) -> list[str]:
    """The messages of a run that ended without a traceback; every message on its own line."""
    err = r.stderr
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    messages = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith(PROG)]
    assert messages, err[-3000:]
    return messages


def png(path: Path, img: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
    return path


def ome_zarr(path: Path, arr: np.ndarray, axes=None, edit=None) -> Path:
    """An OME-Zarr image (NGFF 0.4, zarr format 2) holding ``arr``; ``edit(attrs)`` then changes
    its metadata as a damaged or hostile file would."""
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    names = axes or (["y", "x"] if arr.ndim == 2 else ["y", "x", "c"])
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": n, "type": "channel" if n == "c" else "space"} for n in names],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * arr.ndim}]}
            ],
        }
    ]
    level = group.create_array(
        "0",
        shape=arr.shape,
        chunks=tuple(min(s, 64) for s in arr.shape),
        dtype=arr.dtype,
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )
    level[...] = arr
    if edit is not None:
        meta = path / ".zattrs"
        attrs = json.loads(meta.read_text())
        edit(attrs)
        meta.write_text(json.dumps(attrs))
    return path
