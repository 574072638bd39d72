"""What an image file is before it is decoded: its size from the header (for the pixel cap)
and whether a PNG or JPEG is whole (OpenCV decodes a truncated JPEG with grey in place of
the missing part, and says so only on stderr).

The checks read the file's structure, never its pixels: chunk lengths and checksums of a PNG,
the marker segments of a JPEG and its end-of-image marker.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): they hold the size
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _map(path: Path):
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return None
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from the file's header, without decoding; None when unknown."""
    with open(path, "rb") as fh:
        head = fh.read(32)
    if head.startswith(PNG_SIGNATURE) and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return height, width
    if head.startswith(JPEG_SOI):
        return _jpeg_size(path)
    return _pillow_size(path)


def _jpeg_size(path: Path) -> tuple[int, int] | None:
    mm = _map(path)
    if mm is None:
        return None
    with mm:
        pos = 2
        for marker, start, length in _jpeg_segments(mm, pos):
            if marker in _SOF and length >= 7:
                height, width = struct.unpack(">HH", mm[start + 1 : start + 5])
                return height, width
    return None


def _jpeg_segments(mm, pos: int):
    """(marker, data start, data length) of the header segments up to the first scan."""
    n = len(mm)
    while pos + 4 <= n:
        if mm[pos] != 0xFF:
            return
        marker = mm[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", mm[pos + 2 : pos + 4])
        yield marker, pos + 4, length - 2
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return
        pos += 2 + length


def _pillow_size(path: Path) -> tuple[int, int] | None:
    """Other formats: Pillow (a scikit-image dependency) reads headers lazily."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with scikit-image
        return None
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the size is wanted, whatever it is: the caller judges it
    try:
        with Image.open(path) as im:
            width, height = im.size
        return int(height), int(width)
    except Exception:  # noqa: BLE001 - a format Pillow does not know: the size stays unknown
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def damage(path: Path) -> str | None:
    """Why a PNG or JPEG is not whole (truncated, a failed checksum), or None.

    Other formats are not checked (None).
    """
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(PNG_SIGNATURE):
        return _png_damage(path)
    if head.startswith(JPEG_SOI):
        return _jpeg_damage(path)
    return None


def _png_damage(path: Path) -> str | None:
    mm = _map(path)
    assert mm is not None  # it starts with the signature
    with mm:
        view = memoryview(mm)
        try:
            pos, n = len(PNG_SIGNATURE), len(mm)
            while True:
                if pos + 8 > n:
                    return f"truncated: the PNG ends after {n} bytes, before its end marker (IEND)"
                length, kind = struct.unpack(">I4s", view[pos : pos + 8])
                end = pos + 8 + length + 4
                if end > n:
                    name = kind.decode("latin-1")
                    return f"truncated: the PNG ends after {n} bytes, inside its {name!r} chunk"
                (crc,) = struct.unpack(">I", view[end - 4 : end])
                if zlib.crc32(view[pos + 4 : end - 4]) != crc:
                    name = kind.decode("latin-1")
                    return f"damaged: the PNG's {name!r} chunk at byte {pos} fails its checksum"
                if kind == b"IEND":
                    return None
                pos = end
        finally:
            view.release()


def _jpeg_damage(path: Path) -> str | None:
    mm = _map(path)
    assert mm is not None
    with mm:
        scan = None
        for marker, start, length in _jpeg_segments(mm, 2):
            if start + length > len(mm):
                return f"truncated: the JPEG ends after {len(mm)} bytes, inside its header"
            if marker == 0xDA:
                scan = start + length
        if scan is None:
            return "truncated or damaged: the JPEG has no image data (no start-of-scan marker)"
        # In the entropy-coded data a 0xFF byte is always followed by 0x00 or a restart
        # marker, so FF D9 there is the end-of-image marker: without it the file was cut.
        if mm.find(b"\xff\xd9", scan) < 0:
            return f"truncated: the JPEG ends after {len(mm)} bytes, without its end-of-image marker"
    return None
