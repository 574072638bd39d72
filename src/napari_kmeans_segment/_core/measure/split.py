"""Touching objects apart: a watershed on the distance transform, seeded at its peaks.

Two touching round objects form one connected piece with a waist. Inside it, the distance to
the background (the Euclidean distance transform) peaks once per object, at about its
radius, and dips at the waist; flooding the inverted distance from one seed per peak
draws the cut along the waist (the classic recipe of scikit-image's watershed example, as
used by CellProfiler and QuPath for nuclei).

The peaks are maxima of the lightly smoothed distance over a box of :data:`SEED_SPACING`
times the object radius, so two seeds are never closer than that and a rough outline
gives no extra seed. The radius is the ``radius`` given, or the median of the pieces'
inscribed radii (the largest distance in each piece) weighted by their areas, which
touching clumps hardly move and specks of noise do not shrink.

Everything image-wide is one vectorised pass (labelling, distance, maxima); the watershed
runs only inside the pieces that hold two seeds or more, one piece at a time, checking
``cancel`` and reporting progress between pieces. An image of a million specks therefore
costs a few passes over the image and no per-speck loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

#: Seeds are at least about this many radii apart (touching nuclei of one size are ~2 radii apart).
SEED_SPACING = 1.0
#: A seed stands at least this many radii from the background: the tips of a rough outline
#: are not objects.
SEED_DEPTH = 0.25
#: The distance transform is smoothed over this many pixels before its peaks are taken.
SMOOTH_PIXELS = 1.0


def check_radius(radius, scale=None) -> float | None:
    """``radius`` as a float (None: estimate it); ValueError unless positive and finite."""
    if radius is None:
        return None
    if isinstance(radius, bool) or not isinstance(radius, int | float | np.number):
        raise TypeError(f"radius must be a number (or None to estimate it), not {radius!r}.")
    r = float(radius)
    if not (math.isfinite(r) and r > 0):
        unit = "pixels" if scale is None else "units of the scale"
        raise ValueError(
            f"radius={radius!r}: give the typical radius of one object in {unit} (> 0), or "
            "None to estimate it from the objects."
        )
    return r


def _components(sel: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected pieces (full connectivity) numbered 1..n, int32."""
    if sel.ndim == 2:
        import cv2

        n, comp = cv2.connectedComponents(sel.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
        return comp, int(n) - 1
    from scipy import ndimage

    comp, n = ndimage.label(sel, structure=np.ones((3,) * sel.ndim))
    return comp.astype(np.int32, copy=False), int(n)


def _distance(sel: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Euclidean distance of every selected pixel to the background, in the units of ``spacing``."""
    if sel.ndim == 2 and spacing[0] == spacing[1]:
        import cv2

        d = cv2.distanceTransform(sel.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return d * np.float32(spacing[0])
    from scipy import ndimage

    return ndimage.distance_transform_edt(sel, sampling=spacing).astype(np.float32)


def _smooth(d: np.ndarray, sigmas: Sequence[float]) -> np.ndarray:
    from scipy import ndimage

    if d.ndim == 2:
        import cv2

        return cv2.GaussianBlur(d, (0, 0), sigmaX=sigmas[1], sigmaY=sigmas[0])
    return ndimage.gaussian_filter(d, sigmas, truncate=3.0)


def _box_max(e: np.ndarray, half: Sequence[int]) -> np.ndarray:
    """Maximum over a box of half-widths ``half`` (separable, so wide boxes stay cheap)."""
    if e.ndim == 2:
        import cv2

        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * half[1] + 1, 2 * half[0] + 1))
        return cv2.dilate(e, kernel, borderType=cv2.BORDER_REPLICATE)
    from scipy import ndimage

    return ndimage.maximum_filter(e, size=[2 * h + 1 for h in half], mode="nearest")


def split_touching(
    sel: np.ndarray,
    *,
    radius: float | None = None,
    scale: Sequence[float] | None = None,
    check: Callable[[], None] | None = None,
    report: Callable[[float, str], None] | None = None,
) -> tuple[np.ndarray, int, float]:
    """Objects of a foreground mask with touching ones apart.

    Parameters
    ----------
    sel : bool array
        The foreground (2D or 3D).
    radius : float, optional
        Typical radius of one object, in pixels or in the units of ``scale``; None estimates
        it as the median inscribed radius of the connected pieces.
    scale : sequence of float, optional
        Pixel size per axis (anisotropic voxels are measured in physical distance).
    check, report : callable, optional
        ``check()`` raises to cancel; ``report(fraction, message)`` tells the progress.

    Returns
    -------
    objects : int32 array
        Objects numbered 1..n in the order of the connected pieces (a piece split in parts
        gives consecutive numbers), 0 elsewhere.
    n : int
        Number of objects.
    radius : float
        The radius used (estimated when not given), in the units of ``scale``.
    """
    from scipy import ndimage

    def step(f: float, msg: str) -> None:
        if check is not None:
            check()
        if report is not None:
            report(f, msg)

    sel = np.ascontiguousarray(sel, dtype=bool)
    spacing = np.ones(sel.ndim) if scale is None else np.asarray(scale, np.float64).ravel()
    step(0.0, "finding connected pieces")
    comp, n = _components(sel)
    if n == 0:
        return comp, 0, float(radius or 0.0)
    step(0.1, "distance to the background")
    dist = _distance(sel, spacing)
    inscribed = np.asarray(ndimage.maximum(dist, comp, np.arange(1, n + 1)), np.float64)
    if radius is None:
        # the median over pixels, not over pieces: a thousand specks of noise do not make
        # the objects small
        area = np.bincount(comp.ravel(), minlength=n + 1)[1:]
        order = np.argsort(inscribed)
        cum = np.cumsum(area[order])
        radius = float(inscribed[order][np.searchsorted(cum, cum[-1] / 2)])
    r = float(radius)
    fine = float(np.min(spacing))
    step(0.25, "seeds: peaks of the distance")
    e = _smooth(dist, [SMOOTH_PIXELS * fine / s for s in spacing])
    half = [max(1, int(round(SEED_SPACING * r / s / 2))) for s in spacing]
    peak = (e >= _box_max(e, half)) & sel & (dist >= max(SEED_DEPTH * r, fine))
    del dist
    step(0.45, "seeds per piece")
    seeds, n_seeds = _components(peak)  # a plateau of equal maxima is one seed
    owner = np.zeros(n_seeds + 1, np.int64)  # the piece each seed lies in
    owner[seeds[peak]] = comp[peak]
    del peak
    per_piece = np.bincount(owner[1:], minlength=n + 1)
    to_split = np.flatnonzero(per_piece >= 2)
    # numbering: each piece gets as many numbers as it holds seeds (at least one)
    parts = np.maximum(per_piece[1:], 1)
    start = np.concatenate([[1], 1 + np.cumsum(parts)]).astype(np.int64)  # first number of piece i + 1
    lut = np.zeros(n + 1, np.int64)
    lut[1:] = start[:-1]
    objects = lut[comp].astype(np.int32)
    if len(to_split):
        from skimage.segmentation import watershed

        which = np.zeros(n + 1, np.int32)
        which[to_split] = np.arange(1, len(to_split) + 1)
        boxes = ndimage.find_objects(which[comp])
        for j, (piece, box) in enumerate(zip(to_split, boxes)):
            if j % 16 == 0:
                step(0.5 + 0.5 * j / len(to_split), f"splitting touching objects, {j}/{len(to_split)}")
            inside = comp[box] == piece
            markers = np.where(inside, seeds[box], 0)
            ids = np.unique(markers[markers > 0])
            markers = (np.searchsorted(ids, markers) + 1) * (markers > 0)  # 1..m in this piece
            # full connectivity, as the pieces were found: with the default (faces only) a
            # pixel joined to its piece by a corner was never reached and kept label 0, which
            # numbered it as the previous piece's last object (far away)
            cut = watershed(-e[box], markers, mask=inside, connectivity=sel.ndim)
            objects[box][inside] = (int(start[int(piece) - 1]) - 1 + cut[inside]).astype(np.int32)
    step(1.0, "objects apart")
    return objects, int(start[-1] - 1), r
