"""Synthetic H-DAB slides with a known answer, for tests and benchmarks of stain measurements.

A slide is made the way a brightfield scanner sees one (Beer–Lambert): known maps of the
haematoxylin and DAB amounts (optical densities along the unit stain vectors of Ruifrok &
Johnston, scikit-image's ``rgb_from_hed``) are blurred a little (the optics), mixed into an
optical density per channel, turned into transmitted light under a slightly grey white level,
then noise is added and the values are rounded to 8 bits. Glass covers a chosen share of the
slide; the tissue holds pale haematoxylin stroma, darker nuclei, and DAB-positive cells of
weak, moderate and strong intensity. Everything a measurement should find is known exactly:

- ``tissue``: where the section is (stroma, nuclei and cells; not the glass);
- ``dab``: the DAB amount per pixel as imaged (after the blur);
- ``grade``: 0 negative, 1 weak, 2 moderate, 3 strong, from ``dab`` and :data:`TRUTH_EDGES`;
  ``positive`` is ``grade > 0``.

:func:`rescan` changes a slide's exposure (gain) or adds an offset, as another scanner, lamp
or camera setting would, with 8-bit clipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Layouts of tissue and glass: round pieces of tissue on glass, a section edge running
#: across the slide, many small fragments with holes (glands, tears), no glass at all.
LAYOUTS = ("islands", "edge", "fragments", "none")
#: DAB amounts (OD) from which a pixel is weak, moderate, strong: the truth's bin edges.
TRUTH_EDGES = (0.10, 0.35, 0.70)
#: DAB amount of each intensity class of positive cells (uniform within the range).
DAB_CLASSES = {"weak": (0.16, 0.30), "moderate": (0.42, 0.60), "strong": (0.80, 1.10)}


def stain_vectors() -> dict[str, np.ndarray]:
    """Unit optical-density vectors (R, G, B) of haematoxylin, eosin and DAB (scikit-image's)."""
    from skimage.color import rgb_from_hed

    rows = np.asarray(rgb_from_hed, np.float64)
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return {"haematoxylin": rows[0], "eosin": rows[1], "DAB": rows[2]}


@dataclass(frozen=True)
class SyntheticSlide:
    """A synthetic slide and its truth (see the module's description)."""

    image: np.ndarray  # (H, W, 3) uint8
    tissue: np.ndarray  # (H, W) bool
    dab: np.ndarray  # (H, W) float32, DAB OD as imaged
    haematoxylin: np.ndarray  # (H, W) float32, haematoxylin OD as imaged
    white: tuple[float, float, float]
    params: dict = field(default_factory=dict)

    @property
    def grade(self) -> np.ndarray:
        """0 negative (or glass), 1 weak, 2 moderate, 3 strong."""
        g = np.searchsorted(np.asarray(TRUTH_EDGES), self.dab, side="right").astype(np.uint8)
        g[~self.tissue] = 0
        return g

    @property
    def positive(self) -> np.ndarray:
        return self.grade > 0

    @property
    def tissue_share(self) -> float:
        """Share of the slide covered by tissue (0..1)."""
        return float(self.tissue.mean())

    @property
    def positive_share(self) -> float:
        """DAB-positive share of the tissue (0..1)."""
        return float(self.positive.sum() / max(int(self.tissue.sum()), 1))

    def grade_shares(self) -> np.ndarray:
        """Shares of the tissue that are negative, weak, moderate, strong (sum 1)."""
        n = np.bincount(self.grade[self.tissue], minlength=4)[:4]
        return n / max(int(n.sum()), 1)

    @property
    def h_score(self) -> float:
        """1 x %weak + 2 x %moderate + 3 x %strong of the tissue (0..300)."""
        return float(100 * (self.grade_shares()[1:] * np.arange(1, 4)).sum())


def _smooth_field(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (f - f.mean()) / (f.std() or 1.0)


def _tissue_mask(layout: str, shape, glass: float, rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    if layout == "none" or glass <= 0:
        return np.ones(shape, bool)
    if layout == "islands":
        f = _smooth_field(shape, min(shape) / 10, rng)
    elif layout == "fragments":
        f = _smooth_field(shape, min(shape) / 28, rng)
    elif layout == "edge":
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        angle = rng.uniform(0, 2 * np.pi)
        along = np.cos(angle) * x + np.sin(angle) * y
        across = -np.sin(angle) * x + np.cos(angle) * y
        wave = sum(
            rng.uniform(4, 14) * np.sin(2 * np.pi * across / rng.uniform(60, 240) + rng.uniform(0, 6.3))
            for _ in range(3)
        )
        f = along + wave
    else:
        raise ValueError(f"layout={layout!r}: choose one of {LAYOUTS}.")
    return f > np.quantile(f, glass)  # exactly ``glass`` of the pixels are glass


def _ellipses(shape, centers, radii, angles, values, out: np.ndarray, mode: str = "max") -> np.ndarray:
    """Draw filled ellipses (semi-axes ``radii`` (n, 2), ``angles``) with ``values`` into
    ``out``; returns the union of their pixels."""
    h, w = shape
    drawn = np.zeros(shape, bool)
    for (cy, cx), (ra, rb), ang, v in zip(centers, radii, angles, values):
        r = int(np.ceil(max(ra, rb))) + 1
        y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
        x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        u = (np.cos(ang) * dx + np.sin(ang) * dy) / ra
        t = (-np.sin(ang) * dx + np.cos(ang) * dy) / rb
        inside = u * u + t * t <= 1.0
        region = out[y0:y1, x0:x1]
        if mode == "max":
            region[inside] = np.maximum(region[inside], v)
        else:
            region[inside] = v
        drawn[y0:y1, x0:x1] |= inside
    return drawn


def _points_in(mask: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    if not len(ys) or n <= 0:
        return np.zeros((0, 2))
    pick = rng.integers(0, len(ys), n)
    return np.stack([ys[pick], xs[pick]], axis=1) + rng.uniform(-0.5, 0.5, (n, 2))


def make_slide(
    seed: int = 0,
    layout: str = "islands",
    *,
    shape: tuple[int, int] = (512, 512),
    glass: float = 0.25,
    white: tuple[float, float, float] = (233.0, 236.0, 239.0),
    positive_cells: float = 0.0012,
    nuclei: float = 0.004,
    class_mix: tuple[float, float, float] = (0.4, 0.35, 0.25),
    blur: float = 0.7,
    noise: float = 2.0,
    stain: str = "DAB",
) -> SyntheticSlide:
    """A synthetic H-DAB slide with known tissue, DAB amounts and grades.

    Parameters
    ----------
    seed : int
        Everything random (layout, cells, intensities, noise) follows from it.
    layout : {"islands", "edge", "fragments", "none"}
        How tissue and glass are laid out (:data:`LAYOUTS`); "none" has no glass.
    shape : (int, int)
        Rows and columns.
    glass : float
        Share of the slide that is bare glass (exactly; 0 with layout "none").
    white : (float, float, float)
        The scanner's white level (the glass's R, G, B): slightly grey and tinted.
    positive_cells, nuclei : float
        DAB-positive cells and haematoxylin nuclei per tissue pixel.
    class_mix : (float, float, float)
        Chance that a positive cell is weak, moderate or strong (:data:`DAB_CLASSES`).
    blur : float
        Gaussian sigma (pixels) of the optics, applied to the stain amounts.
    noise : float
        Standard deviation of the camera noise, in 8-bit units.
    stain : {"DAB", "eosin"}
        The stain of the positive cells: "eosin" makes a slide of another stain pair (its
        ``dab`` map then holds the eosin amounts).

    Returns
    -------
    SyntheticSlide
    """
    from scipy import ndimage

    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: choose one of {LAYOUTS}.")
    if stain not in ("DAB", "eosin"):
        raise ValueError(f"stain={stain!r}: choose 'DAB' or 'eosin'.")
    rng = np.random.default_rng(seed)
    h, w = shape
    tissue = _tissue_mask(layout, shape, 0.0 if layout == "none" else glass, rng)
    n_tissue = int(tissue.sum())
    # Pale stroma: haematoxylin 0.04..0.14 varying smoothly, with fibre-like texture.
    stroma = 0.09 + 0.025 * _smooth_field(shape, 12, rng) + 0.012 * _smooth_field(shape, 1.2, rng)
    haem = np.where(tissue, np.clip(stroma, 0.04, 0.14), 0.0)
    dab = np.zeros(shape)
    # Nuclei (negative): dark haematoxylin ellipses.
    n_nuc = int(nuclei * n_tissue)
    centers = _points_in(tissue, n_nuc, rng)
    radii = rng.uniform(2.5, 5.5, (n_nuc, 2))
    _ellipses(shape, centers, radii, rng.uniform(0, np.pi, n_nuc), rng.uniform(0.35, 0.7, n_nuc), haem)
    haem[~tissue] = 0.0  # a nucleus at the edge is cut by it, as the section cuts it
    # DAB-positive cells: a DAB cytoplasm of one intensity class around a nucleus.
    n_pos = int(positive_cells * n_tissue)
    centers = _points_in(tissue, n_pos, rng)
    classes = rng.choice(3, n_pos, p=np.asarray(class_mix) / np.sum(class_mix))
    ranges = np.asarray(list(DAB_CLASSES.values()))
    amount = rng.uniform(ranges[classes, 0], ranges[classes, 1])
    radii = rng.uniform(6.0, 11.0, (n_pos, 2))
    angles = rng.uniform(0, np.pi, n_pos)
    cells = np.zeros(shape)
    _ellipses(shape, centers, radii, angles, amount, cells)
    texture = np.clip(1 + 0.08 * _smooth_field(shape, 1.0, rng), 0.8, 1.2)
    dab = np.where(tissue, cells * texture, 0.0)
    cell_haem = np.zeros(shape)
    _ellipses(shape, centers, radii * 0.4, angles, rng.uniform(0.25, 0.45, n_pos), cell_haem)
    haem = np.maximum(haem, np.where(tissue, cell_haem, 0.0))
    if blur > 0:
        haem = ndimage.gaussian_filter(haem, blur)
        dab = ndimage.gaussian_filter(dab, blur)
    vec = stain_vectors()
    od = haem[..., None] * vec["haematoxylin"] + dab[..., None] * vec[stain]
    light = np.asarray(white, np.float64) * 10.0 ** (-od)
    light += rng.normal(0.0, noise, light.shape)
    image = np.clip(np.rint(light), 0, 255).astype(np.uint8)
    return SyntheticSlide(
        image=image,
        tissue=tissue,
        dab=dab.astype(np.float32),
        haematoxylin=haem.astype(np.float32),
        white=(float(white[0]), float(white[1]), float(white[2])),
        params=dict(
            seed=seed, layout=layout, shape=tuple(shape), glass=glass, blur=blur, noise=noise, stain=stain
        ),
    )


def rescan(
    image: np.ndarray, gain: float = 1.0, offset: float = 0.0, *, truncate: bool = False
) -> np.ndarray:
    """The same slide under another exposure: every value times ``gain`` plus ``offset``,
    rounded (or, with ``truncate``, cut down as ``astype(np.uint8)`` does) and clipped to
    0..255 (8-bit), as another scanner or lamp would record it."""
    out = np.asarray(image, np.float64) * gain + offset
    return np.clip(np.floor(out) if truncate else np.rint(out), 0, 255).astype(np.uint8)
