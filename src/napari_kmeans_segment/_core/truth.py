"""Known answers for counting objects: synthetic fluorescence nuclei with their true masks,
and the measures that compare a result with a truth (foreground Dice, object F1 at IoU 0.5).

The tests and ``benchmarks/bench_objects.py`` share this module, so a number the benchmark
prints is the number the tests pin. The nuclei are ellipses of known outline, some touching
their neighbours, some dim, under a blurred microscope's point-spread function, a slow
illumination gradient, shot noise and camera noise; the truth gives every pixel to the
nucleus whose outline holds it (to the nearest centre where two overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Nuclei:
    """A synthetic image and its truth.

    Attributes
    ----------
    image : ndarray
        uint16 intensities (2D or 3D).
    truth : ndarray
        int32 labels: 0 background, 1..n the nuclei.
    scale : tuple of float
        Physical size of a pixel (voxel) along each axis.
    """

    image: np.ndarray
    truth: np.ndarray
    scale: tuple[float, ...]

    @property
    def n(self) -> int:
        return int(self.truth.max())


def synthetic_nuclei(
    shape: tuple[int, int] = (512, 512),
    n: int = 120,
    *,
    radius: tuple[float, float] = (7.0, 12.0),
    touching: float = 0.4,
    dim: float = 0.25,
    bright: float = 160.0,
    dim_level: float = 55.0,
    background: float = 20.0,
    noise: float = 10.0,
    blur: float = 1.2,
    seed: int = 0,
) -> Nuclei:
    """Fluorescence nuclei in 2D with their true masks.

    Parameters
    ----------
    shape : (int, int)
        Image size.
    n : int
        Nuclei to place (fewer when the image is full).
    radius : (float, float)
        Range of the ellipses' semi-axes (pixels).
    touching : float
        Share of nuclei placed against a nucleus already there (their outlines overlap by
        about a tenth of a radius), as in a dense culture.
    dim : float
        Share of dim nuclei (intensity ``dim_level`` instead of ``bright``).
    bright, dim_level, background : float
        Mean intensities above the camera offset.
    noise : float
        Standard deviation of the camera's Gaussian noise (shot noise comes on top).
    blur : float
        Sigma of the point-spread function (pixels).
    seed : int
        The random generator's seed: the same seed gives the same image.

    Returns
    -------
    Nuclei
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    centers: list[tuple[float, float]] = []
    axes: list[tuple[float, float, float]] = []
    tries = 0
    while len(centers) < n and tries < 200 * n:
        tries += 1
        a, b = rng.uniform(*radius, size=2)
        theta = rng.uniform(0, np.pi)
        if centers and rng.random() < touching:
            j = int(rng.integers(len(centers)))
            angle = rng.uniform(0, 2 * np.pi)
            # centre distance a little below the sum of the mean radii: the outlines overlap
            d = 0.9 * (np.mean(axes[j][:2]) + (a + b) / 2)
            cy, cx = centers[j][0] + d * np.sin(angle), centers[j][1] + d * np.cos(angle)
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = max(a, b)
        if not (r <= cy < h - r and r <= cx < w - r):
            continue
        far_enough = all(
            np.hypot(cy - y, cx - x) >= 0.85 * ((a + b) / 2 + np.mean(ax[:2]))
            for (y, x), ax in zip(centers, axes)
        )
        if far_enough:
            centers.append((cy, cx))
            axes.append((a, b, theta))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    truth = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf)  # where outlines overlap, the nearest centre (in radii) wins
    for i, ((cy, cx), (a, b, t)) in enumerate(zip(centers, axes), start=1):
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(t) + dy * np.sin(t)) / a
        v = (-dx * np.sin(t) + dy * np.cos(t)) / b
        rho = u * u + v * v
        inside = (rho <= 1.0) & (rho < best)
        truth[inside] = i
        best[inside] = rho[inside]
    levels = np.where(rng.random(len(centers)) < dim, dim_level, bright)
    levels = levels * rng.uniform(0.85, 1.15, len(centers))
    signal = np.concatenate([[0.0], levels])[truth]
    signal *= 1 + 0.15 * _smooth_noise(rng, shape, 3.0)  # chromatin texture
    gradient = 1 + 0.3 * (xx / w - 0.5)  # uneven illumination across the field
    return _camera(signal, background * gradient, noise, blur, rng, truth, (1.0, 1.0))


def synthetic_nuclei_3d(
    shape: tuple[int, int, int] = (24, 128, 128),
    n: int = 25,
    *,
    scale: tuple[float, float, float] = (2.0, 1.0, 1.0),
    radius: tuple[float, float] = (6.0, 9.0),
    touching: float = 0.4,
    dim: float = 0.25,
    noise: float = 10.0,
    seed: int = 0,
) -> Nuclei:
    """Fluorescence nuclei in 3D (ellipsoids, anisotropic voxels) with their true masks.

    ``radius`` is in physical units (the ``scale``'s); a voxel spans ``scale`` along each
    axis, so a nucleus covers fewer planes than rows. Other parameters as
    :func:`synthetic_nuclei`.
    """
    rng = np.random.default_rng(seed)
    s = np.asarray(scale, np.float64)
    extent = np.asarray(shape) * s
    centers: list[np.ndarray] = []
    radii: list[np.ndarray] = []
    tries = 0
    while len(centers) < n and tries < 500 * n:
        tries += 1
        r = rng.uniform(*radius, size=3)
        if centers and rng.random() < touching:
            j = int(rng.integers(len(centers)))
            direction = rng.normal(size=3)
            direction[0] *= 0.3  # mostly side by side, as nuclei in a monolayer
            direction /= np.linalg.norm(direction)
            c = centers[j] + 0.9 * (radii[j].mean() + r.mean()) * direction
        else:
            c = rng.uniform(0, 1, 3) * extent
        if not ((c >= r).all() and (c < extent - r).all()):
            continue
        if all(np.linalg.norm(c - c2) >= 0.85 * (r.mean() + r2.mean()) for c2, r2 in zip(centers, radii)):
            centers.append(c)
            radii.append(r)
    grid = np.meshgrid(*[(np.arange(m) + 0.5) * sc for m, sc in zip(shape, s)], indexing="ij")
    truth = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf)
    for i, (c, r) in enumerate(zip(centers, radii), start=1):
        rho = sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grid, c, r))
        inside = (rho <= 1.0) & (rho < best)
        truth[inside] = i
        best[inside] = rho[inside]
    levels = np.where(rng.random(len(centers)) < dim, 55.0, 160.0) * rng.uniform(0.85, 1.15, len(centers))
    signal = np.concatenate([[0.0], levels])[truth]
    blur = tuple(1.0 / sc for sc in s)  # a point-spread function of 1 unit along every axis
    return _camera(signal, 20.0, noise, blur, rng, truth, tuple(float(v) for v in s))


def _smooth_noise(rng, shape, sigma: float) -> np.ndarray:
    """Gaussian noise smoothed to correlation length ``sigma``, scaled to unit spread."""
    from scipy import ndimage

    f = ndimage.gaussian_filter(rng.normal(size=shape), sigma)
    return f / (f.std() or 1.0)


def _camera(signal, background, noise: float, blur, rng, truth, scale) -> Nuclei:
    """Blur by the point-spread function, add shot and camera noise, digitise to uint16."""
    from scipy import ndimage

    light = ndimage.gaussian_filter(signal + background, blur)
    photons = rng.poisson(np.maximum(light, 0) * 4) / 4  # shot noise: ~4 photons per grey level
    camera = photons + rng.normal(0, noise, light.shape) + 100  # camera offset of 100
    image = np.clip(np.rint(camera), 0, 65535).astype(np.uint16)
    return Nuclei(image, truth, scale)


# -- comparing with the truth ----------------------------------------------------------------
def dice(found, truth) -> float:
    """Dice coefficient of two foreground masks (nonzero = foreground); 1.0 when both are empty."""
    a = np.asarray(found) != 0
    b = np.asarray(truth) != 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


@dataclass(frozen=True)
class Match:
    """How found objects match true ones at an IoU threshold."""

    found: int
    truth: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        total = self.found + self.truth
        return 1.0 if total == 0 else 2.0 * self.matched / total


def match_objects(found, truth, iou: float = 0.5) -> Match:
    """Pairs of (found, true) objects whose intersection over union exceeds ``iou``.

    At ``iou >= 0.5`` each object has at most one partner, so the pairs are a matching
    without any assignment step (the usual object F1 of nucleus benchmarks).
    """
    if iou < 0.5:
        raise ValueError(f"iou={iou}: use 0.5 or more, where a match is one to one.")
    a = np.asarray(found).ravel().astype(np.int64)
    b = np.asarray(truth).ravel().astype(np.int64)
    if a.shape != b.shape:
        raise ValueError(f"found has {a.size} pixels and truth {b.size}; compare labels of one image.")
    ids_a, size_a = np.unique(a[a > 0], return_counts=True)
    ids_b, size_b = np.unique(b[b > 0], return_counts=True)
    both = (a > 0) & (b > 0)
    pairs, inter = np.unique(np.stack([a[both], b[both]]), axis=1, return_counts=True)
    if pairs.size == 0:
        return Match(len(ids_a), len(ids_b), 0)
    sa = size_a[np.searchsorted(ids_a, pairs[0])]
    sb = size_b[np.searchsorted(ids_b, pairs[1])]
    overlap = inter / (sa + sb - inter)
    return Match(len(ids_a), len(ids_b), int((overlap > iou).sum()))
