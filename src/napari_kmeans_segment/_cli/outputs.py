"""Writing outputs as a transaction: temporary files beside their final place, moved into
place together once every one of them was written, removed otherwise."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from .._core.csv_safe import write_csv


class Transaction:
    """Temporary paths for a set of outputs; :meth:`commit` moves them all into place.

    Leaving the ``with`` block without committing (an error, Ctrl-C) removes every
    temporary file or folder, so a failed image leaves nothing behind.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path]] = []
        self._committed = False

    def temp(self, final: Path) -> Path:
        """A fresh temporary path in ``final``'s folder (same file system: the move is atomic)."""
        tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp"
        self._items.append((tmp, final))
        return tmp

    def commit(self) -> None:
        for tmp, final in self._items:
            if final.is_dir() and not final.is_symlink():
                # A folder cannot be replaced in one step: move the old one aside first.
                old = final.parent / f".{final.name}.{secrets.token_hex(4)}.old.tmp"
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        self._committed = True

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *exc) -> None:
        if not self._committed:
            for tmp, _ in self._items:
                remove(tmp)


def remove(path: Path) -> None:
    """Remove a file or folder if it is there; never raise."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            path.unlink()
    except OSError:
        pass


def write_tiff(path: Path, arr: np.ndarray, rgb: bool = False) -> None:
    import tifffile

    with open(path, "wb") as fh:  # a handle: tifffile must not judge the .tmp name
        tifffile.imwrite(fh, arr, photometric="rgb" if rgb else "minisblack")


def png_pixels(rec: np.ndarray, image_range: tuple[float, float]) -> np.ndarray:
    """Pixels PNG holds: uint8/uint16 unchanged; other types mapped linearly from the
    image's ``(min, max)`` onto 0..65535 (int8 onto 0..255), so clusters stay distinct
    instead of saturating."""
    if rec.dtype in (np.uint8, np.uint16):
        return rec
    if rec.dtype == bool:
        return rec.astype(np.uint8) * 255
    top = 255 if rec.dtype == np.int8 else 65535
    lo, hi = image_range
    span = hi - lo if hi > lo else 1.0
    scaled = (np.nan_to_num(rec.astype(np.float64), nan=lo, posinf=hi, neginf=lo) - lo) / span
    return np.rint(np.clip(scaled, 0, 1) * top).astype(np.uint8 if top == 255 else np.uint16)


def finite_range(img: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values (0, 1 if there are none)."""
    a = np.asarray(img)
    if a.dtype.kind == "f":
        a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.0, 1.0
    return float(a.min()), float(a.max())


def write_png(path: Path, rec: np.ndarray) -> None:
    import cv2

    if rec.ndim == 3 and rec.shape[2] in (3, 4):
        rec = cv2.cvtColor(rec, cv2.COLOR_RGBA2BGRA if rec.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", rec)
    if not ok:
        raise OSError(f"OpenCV could not encode a PNG of shape {rec.shape} and type {rec.dtype}")
    buf.tofile(path)


def write_table(path: Path, table: dict) -> None:
    """A dict of equal-length columns as CSV (formula-safe: see :mod:`.._core.csv_safe`)."""
    write_csv(path, table)


def write_rows(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Rows as CSV in ``columns`` order; a key a row lacks is an empty cell (formula-safe)."""
    write_csv(path, rows, columns)


def write_model(path: Path, model) -> None:
    path.write_text(json.dumps(model.to_dict(), indent=2))
