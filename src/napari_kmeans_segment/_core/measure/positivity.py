"""DAB positivity in optical density: stain amounts, weak / moderate / strong bins, H-score.

A pixel's stain amounts are its optical density (relative to the slide's white level, see
:mod:`.tissue`) unmixed along the unit stain vectors: the DAB amount is the OD a layer of
pure DAB would need to absorb what the pixel's DAB absorbs (QuPath's "DAB OD"). Within the
tissue a pixel is negative below the first threshold, weak, moderate or strong above the
first, second or third. The H-score is 1 x %weak + 2 x %moderate + 3 x %strong (0..300) of
the tissue; the share positive is weak + moderate + strong.

Default thresholds come from the fitted clusters: the first lies in the valley of the DAB
amounts between the clusters that are not DAB and those that are, so it does not move with
K; the other two split the positive pixels into three intensity classes (Otsu's method
for three classes). A model keeps them, so every slide it measures is scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..features.stains import STAINS, fixed_matrix

#: Used when the clusters do not show both negative and DAB tissue (QuPath's 1+/2+/3+).
FALLBACK_THRESHOLDS = (0.15, 0.40, 0.70)
#: Histogram bin (OD) of the valley search.
VALLEY_BIN = 0.005
#: A slide is reported as saturated when more of its tissue than this is clipped.
SATURATED_WARN = 0.03
SATURATED_MOSTLY = 0.5
THRESHOLD_SAMPLE = 300_000  # tissue pixels the default thresholds are derived from
BINS = ("negative", "weak", "moderate", "strong")


def unit_matrix(matrix: np.ndarray | None = None) -> np.ndarray:
    """OD -> amounts along *unit* stain vectors (rows R, G, B; columns H, E, DAB).

    ``matrix`` is a feature space's OD -> density matrix (default: the fixed vectors); its
    inverse holds the stain vectors, which are normalised here so that an amount is an OD.
    """
    m = fixed_matrix() if matrix is None else np.asarray(matrix, np.float64)
    rows = np.linalg.inv(m)
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return np.linalg.inv(rows)


def stain_amounts(px: np.ndarray, white, matrix: np.ndarray | None = None) -> np.ndarray:
    """(n, 3) RGB values -> (n, 3) float32 amounts (OD) of haematoxylin, eosin and DAB.

    ``white`` is the white level (one value or R, G, B). Transmission is floored at 1/255
    of white, as for the features (:data:`.stains.MIN_TRANSMISSION`).
    """
    m = unit_matrix(matrix)
    return np.stack([_weighted_od(px, white, m[:, j]) for j in range(3)], axis=1)


def _channel_od(values: np.ndarray, white: float) -> np.ndarray:
    from ..features.stains import MIN_TRANSMISSION

    x = np.asarray(values, np.float32) / np.float32(white)
    return -np.log10(np.maximum(x, np.float32(MIN_TRANSMISSION)))


def _weighted_od(px: np.ndarray, white, weights: np.ndarray) -> np.ndarray:
    """sum over R, G, B of OD(channel) x weight, as float32 (one stain's amount).

    Channel by channel, without a matrix product: BLAS's threads on an (n, 3) x (3, 3)
    product took 0.001-0.5 s per megapixel on a busy machine. 8- and 16-bit values go
    through a table of each channel's contribution (one lookup per value, no logarithm).
    """
    px = np.asarray(px)
    w = np.broadcast_to(np.asarray(white, np.float64).ravel(), (3,))
    out = np.zeros(px.shape[0], np.float32)
    lookup = px.dtype in (np.uint8, np.uint16)
    for c in range(3):
        if weights[c] == 0:
            continue
        if lookup:
            table = _channel_od(np.arange(np.iinfo(px.dtype).max + 1), float(w[c])) * np.float32(weights[c])
            out += np.take(table, px[:, c])
        else:
            out += _channel_od(px[:, c], float(w[c])) * np.float32(weights[c])
    return out


def check_thresholds(thresholds) -> tuple[float, float, float]:
    """Three increasing positive ODs (weak, moderate, strong); ValueError otherwise."""
    try:
        t = tuple(float(v) for v in thresholds)
    except (TypeError, ValueError):
        raise ValueError(
            f"dab_thresholds={thresholds!r}: give three optical densities, weak < moderate < strong "
            "(e.g. 0.15, 0.4, 0.7)."
        ) from None
    if len(t) != 3 or not all(np.isfinite(t)) or not 0 < t[0] < t[1] < t[2] <= 5:
        raise ValueError(
            f"dab_thresholds={thresholds!r}: give three optical densities, 0 < weak < moderate < "
            "strong <= 5 (e.g. 0.15, 0.4, 0.7)."
        )
    return t[0], t[1], t[2]


def derive_thresholds(dab: np.ndarray, labels: np.ndarray, dab_labels: Sequence[int]) -> tuple[float, ...]:
    """Default weak / moderate / strong thresholds from the clusters of the tissue.

    Parameters
    ----------
    dab : ndarray (n,)
        DAB amounts of (a sample of) the tissue's pixels.
    labels : ndarray (n,)
        Their clusters.
    dab_labels : sequence of int
        The clusters named DAB.

    The weak threshold is the lowest point of the DAB histogram between the median DAB of
    the other clusters' pixels and that of the DAB clusters' pixels: the valley between
    negative and positive tissue, wherever K put the cluster boundaries. Moderate and
    strong split the pixels above it in three by Otsu's method. Without both kinds of
    clusters, :data:`FALLBACK_THRESHOLDS`.
    """
    from scipy import ndimage

    dab = np.asarray(dab, np.float64).ravel()
    labels = np.asarray(labels).ravel()
    pos = np.isin(labels, list(dab_labels))
    if pos.sum() < 50 or (~pos).sum() < 50:
        return FALLBACK_THRESHOLDS
    lo, hi = float(np.median(dab[~pos])), float(np.median(dab[pos]))
    if not hi > lo + 4 * VALLEY_BIN:
        return FALLBACK_THRESHOLDS
    edges = np.arange(lo, hi + VALLEY_BIN, VALLEY_BIN)
    hist, _ = np.histogram(dab, bins=edges)
    smooth = ndimage.gaussian_filter1d(hist.astype(np.float64), 2.0, mode="nearest")
    weak = float(edges[_first_valley(smooth)] + VALLEY_BIN / 2)
    above = dab[dab >= weak]
    if above.size < 30 or np.ptp(above) <= 0:
        return (weak, weak * 2, weak * 3)
    from skimage.filters import threshold_multiotsu

    try:
        moderate, strong = (float(v) for v in threshold_multiotsu(above, classes=3, nbins=256))
    except ValueError:  # too few distinct values for three classes
        return (weak, weak * 2, weak * 3)
    if not weak < moderate < strong:
        return (weak, weak * 2, weak * 3)
    return (weak, moderate, strong)


def _first_valley(smooth: np.ndarray, depth: float = 0.5) -> int:
    """Index of the first valley above the negative peak: the first local minimum after
    which the histogram rises again to at least 1 / ``depth`` times its height (weak cells
    after the negative tissue's noise); else the lowest point."""
    n = smooth.size
    for i in range(1, n - 1):
        if smooth[i] <= smooth[i - 1] and smooth[i] <= smooth[i + 1]:
            # the middle of a flat stretch, not its first bin
            j = i
            while j + 1 < n and smooth[j + 1] == smooth[i]:
                j += 1
            if smooth[j + 1 :].size and smooth[i] <= depth * smooth[j + 1 :].max():
                return (i + j) // 2
    return int(np.argmin(smooth))


@dataclass(frozen=True)
class StainReport:
    """What a slide's stains measure: tissue and glass, DAB positivity, warnings.

    Pixel counts cover the measured pixels (a mask leaves the others out). ``bins`` counts
    the tissue's negative, weak, moderate and strong pixels.
    """

    pixels: int
    tissue_px: int
    saturated_px: int
    bins: tuple[int, int, int, int]
    thresholds: tuple[float, float, float]
    white: tuple[float, float, float]
    white_source: str
    tissue_od: float
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def glass_px(self) -> int:
        return self.pixels - self.tissue_px

    @property
    def tissue_share(self) -> float:
        """Share of the measured pixels that is tissue (0..1)."""
        return self.tissue_px / self.pixels if self.pixels else float("nan")

    @property
    def glass_share(self) -> float:
        return self.glass_px / self.pixels if self.pixels else float("nan")

    def bin_shares(self) -> np.ndarray:
        """Negative, weak, moderate, strong as shares of the tissue (0..1)."""
        b = np.asarray(self.bins, np.float64)
        return b / b.sum() if b.sum() else np.full(4, np.nan)

    @property
    def positive_share(self) -> float:
        """DAB-positive (weak or above) share of the tissue (0..1)."""
        return float(self.bin_shares()[1:].sum())

    @property
    def h_score(self) -> float:
        """1 x %weak + 2 x %moderate + 3 x %strong of the tissue (0..300)."""
        return float(100 * (self.bin_shares()[1:] * np.arange(1, 4)).sum())

    @property
    def saturated_share(self) -> float:
        """Share of the tissue with a clipped channel."""
        return self.saturated_px / self.tissue_px if self.tissue_px else float("nan")

    def combine(self, other: StainReport) -> StainReport:
        """The report of two parts of one slide measured with the same settings (blocks)."""
        return StainReport(
            pixels=self.pixels + other.pixels,
            tissue_px=self.tissue_px + other.tissue_px,
            saturated_px=self.saturated_px + other.saturated_px,
            bins=tuple(a + b for a, b in zip(self.bins, other.bins)),  # type: ignore[arg-type]
            thresholds=self.thresholds,
            white=self.white,
            white_source=self.white_source,
            tissue_od=self.tissue_od,
            warnings=tuple(dict.fromkeys(self.warnings + other.warnings)),
        )

    def with_warnings(self, *more: str) -> StainReport:
        from dataclasses import replace

        return replace(self, warnings=tuple(dict.fromkeys(self.warnings + tuple(m for m in more if m))))

    def row(self) -> dict:
        """The report as one table row (shares in percent)."""
        shares = self.bin_shares()
        return {
            "tissue_px": self.tissue_px,
            "glass_px": self.glass_px,
            "tissue_pct": 100 * self.tissue_share,
            "positive_pct_of_tissue": 100 * self.positive_share,
            **{f"{name}_pct_of_tissue": 100 * float(s) for name, s in zip(BINS[1:], shares[1:])},
            "h_score": self.h_score,
            "saturated_px": self.saturated_px,
            "white": " ".join(f"{v:g}" for v in self.white),
            "dab_thresholds": " ".join(f"{v:.3g}" for v in self.thresholds),
        }


def count_block(
    image: np.ndarray,
    tissue: np.ndarray,
    white,
    matrix,
    thresholds,
    value_range: float,
    valid: np.ndarray | None = None,
) -> tuple[int, int, int, np.ndarray]:
    """(pixels, tissue pixels, saturated tissue pixels, bin counts) of one image or block.

    ``tissue`` is its tissue mask (spatial shape); ``valid`` leaves pixels out entirely.
    """
    from ..features.tissue import saturated

    px = np.asarray(image)[..., :3]
    t = np.asarray(tissue, bool)
    if valid is not None:
        v = np.asarray(valid, bool)
        n = int(v.sum())
        t = t & v
    else:
        n = int(t.size)
    if px.dtype == np.uint8 and px.ndim == 3 and value_range == 255:
        return (n, *_count_rgb8(px, t, white, matrix, thresholds))
    sel = px[t]
    dab = _weighted_od(sel, white, unit_matrix(matrix)[:, STAINS.index("DAB")])
    grade = np.searchsorted(np.asarray(thresholds, np.float32), dab, side="right")
    bins = np.bincount(grade, minlength=4)[:4].astype(np.int64)
    sat = int(np.count_nonzero(saturated(sel, value_range)))
    return n, int(t.sum()), sat, bins


#: Bits of a colour's code in :func:`grade_table`: the grade (0-3) and "clipped".
SATURATED_BIT = 4


def grade_table(white, matrix, thresholds) -> np.ndarray:
    """The code of every 8-bit RGB colour (key r << 16 | g << 8 | b): its DAB grade (0
    negative .. 3 strong) plus :data:`SATURATED_BIT` when a channel is 0 or 255. Built once
    (about 0.2 s) for a slide's white level, stain vectors and thresholds; a block is then
    counted with one lookup per pixel and one histogram."""
    key = (
        tuple(float(v) for v in np.broadcast_to(np.asarray(white, np.float64).ravel(), (3,))),
        None if matrix is None else np.asarray(matrix, np.float64).tobytes(),
        tuple(float(v) for v in thresholds),
    )
    with _GRADE_GUARD:
        if key in _GRADES:
            return _GRADES[key]
    w = key[0]
    dab_col = unit_matrix(matrix)[:, STAINS.index("DAB")]
    levels = np.arange(256)
    parts = [_channel_od(levels, w[c]) * np.float32(dab_col[c]) for c in range(3)]
    t = np.asarray(thresholds, np.float32)
    cube = np.empty((256, 256, 256), np.uint8)
    edge = (levels == 0) | (levels == 255)
    for r in range(256):  # one plane of red at a time: 64k colours, no 64 MB temporaries
        dab = parts[0][r] + parts[1][:, None] + parts[2][None, :]
        plane = np.searchsorted(t, dab, side="right").astype(np.uint8)
        clipped = edge[r] | edge[:, None] | edge[None, :]
        plane[clipped] |= SATURATED_BIT
        cube[r] = plane
    table = cube.reshape(-1)
    with _GRADE_GUARD:
        _GRADES[key] = table
        while len(_GRADES) > 2:
            _GRADES.pop(next(iter(_GRADES)))
    return table


_GRADES: dict = {}
_GRADE_GUARD = __import__("threading").Lock()


def _count_rgb8(px: np.ndarray, tissue: np.ndarray, white, matrix, thresholds):
    """(tissue pixels, saturated tissue pixels, bins) of an 8-bit RGB image through
    :func:`grade_table`: the colour key, one lookup, a histogram of the tissue's codes."""
    import cv2

    table = grade_table(white, matrix, thresholds)
    flat = np.ascontiguousarray(px.reshape(-1, px.shape[-2], 3))
    # B, G, R, A bytes read as one little-endian uint32: r << 16 | g << 8 | b, plus alpha
    bgra = cv2.cvtColor(flat, cv2.COLOR_RGB2BGRA)
    key = bgra.view(np.uint32).reshape(flat.shape[:2])
    key &= np.uint32(0xFFFFFF)
    codes = np.take(table, key)
    mask = tissue.reshape(flat.shape[:2])
    mask = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    hist = cv2.calcHist([np.ascontiguousarray(codes)], [0], np.ascontiguousarray(mask), [8], [0, 8])
    hist = np.asarray(hist).ravel().astype(np.int64)
    bins = hist[:4] + hist[SATURATED_BIT : SATURATED_BIT + 4]
    return int(hist.sum()), int(hist[SATURATED_BIT:].sum()), bins


def saturation_warning(report: StainReport, name: str = "") -> str:
    """A sentence when much of the tissue is clipped (empty otherwise)."""
    share = report.saturated_share
    if not share > SATURATED_WARN:
        return ""
    where = f"'{name}': " if name else ""
    if share > SATURATED_MOSTLY:
        return (
            f"{where}{100 * share:.0f}% of the tissue is saturated (a channel at 0 or at full scale): "
            "its stain amounts cannot be measured. Scan it again with another exposure."
        )
    return (
        f"{where}{100 * share:.1f}% of the tissue is saturated (a channel at 0 or at full scale), "
        "so its stain amounts are uncertain; check the exposure."
    )
