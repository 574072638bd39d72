"""Tissue and glass of a brightfield slide, from optical density: the white level and the
tissue mask.

The white level is what bare glass transmits, per channel. It is estimated per slide from
the brightest *narrow* peak of the brightness histogram (glass is uniform: its peak is as
wide as the camera noise; tissue, even pale stroma, varies far more), or given by the
person. Relative to it every pixel has an optical density (OD, base 10); a pixel is tissue
when its neighbourhood (a 5 x 5 box) absorbs more than ``tissue_od`` on average, so pale
stroma is tissue and the noise of the glass is not. Nothing here depends on k-means: the
stains are clustered within the tissue afterwards.

All functions take RGB pixel values in the image's own units (0..255 for 8-bit,
0..65535 for 16-bit, 0..1 for floats; see :func:`.features.color_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The glass peak must hold at least this share of the pixels to be trusted as white.
MIN_GLASS = 0.005
#: ... and be at most this wide (half width at half maximum, as a share of its brightness):
#: 2.5% is ~6 levels at 235 of 255, several times camera noise; pale stroma spans far more.
MAX_GLASS_WIDTH = 0.025
#: Lowest automatic tissue threshold (mean OD; 0.012 is 2.7% of the light absorbed).
TISSUE_OD_FLOOR = 0.012
#: The automatic threshold is at least this many times the glass's own OD noise.
TISSUE_OD_NOISE = 4.0
#: Side of the box (pixels) whose mean transmission decides tissue or glass.
TISSUE_BOX = 5
#: A grey image: every pixel's channels within this share of white of one another.
GREY_TOLERANCE = 0.01
#: A brightfield slide is bright: at least half of its pixels above this share of white.
DARK_MEDIAN = 0.25
WHITE_SAMPLE = 200_000  # pixels read to estimate the white level


@dataclass(frozen=True)
class WhiteLevel:
    """The white level of a slide and how it was found.

    Attributes
    ----------
    white : ndarray (3,)
        R, G, B transmitted by bare glass, in image units.
    source : str
        "estimated" (from the glass peak), "given" (by the person) or "model" (a saved
        model's, used because this image shows no glass).
    glass_share : float
        Share of the sampled pixels in the glass peak (NaN when given).
    noise_od : float
        Robust standard deviation of the glass's mean OD (NaN when given).
    clipped : bool
        Some channel of the white level is at the top of the range (the glass is clipped:
        the exposure may be too high).
    """

    white: np.ndarray
    source: str = "estimated"
    glass_share: float = float("nan")
    noise_od: float = float("nan")
    clipped: bool = False
    full_scale: bool = False

    def auto_tissue_od(self) -> float:
        """The default tissue threshold: :data:`TISSUE_OD_FLOOR`, or more on a noisy glass."""
        noise = self.noise_od if np.isfinite(self.noise_od) else 0.0
        return float(max(TISSUE_OD_FLOOR, TISSUE_OD_NOISE * noise))

    def to_dict(self) -> dict:
        return {
            "white": [float(v) for v in self.white],
            "source": self.source,
            "glass_share": None if not np.isfinite(self.glass_share) else float(self.glass_share),
            "noise_od": None if not np.isfinite(self.noise_od) else float(self.noise_od),
            "clipped": bool(self.clipped),
        }


def rgb_pixels(image, rgb: bool | None = True) -> np.ndarray:
    """The image's R, G, B as (n, 3) rows (alpha dropped); ValueError for other layouts."""
    arr = np.asarray(image)
    if arr.ndim < 3 or arr.shape[-1] not in (3, 4) or rgb is False:
        raise ValueError(
            f"Stain measurements need an RGB(A) brightfield image; this one has shape {arr.shape}. "
            "Use color_space='rgb' for other images."
        )
    return arr[..., :3].reshape(-1, 3)


def value_range_of(pixels: np.ndarray) -> float:
    """White of the data type (255, 65535, or 1.0 / the largest value for floats)."""
    from .features import color_scale

    px = np.asarray(pixels)
    if px.dtype == np.uint8:
        return 255.0
    cols = [px[:, c] for c in range(px.shape[1])]  # column by column: reductions along rows are slow
    if px.dtype.kind == "f":
        cols = [c[np.isfinite(c)] for c in cols]
    lo = np.array([c.min() if c.size else 0.0 for c in cols], np.float64)
    hi = np.array([c.max() if c.size else 0.0 for c in cols], np.float64)
    return color_scale("hed", lo, hi, px.dtype)


def _sample(pixels: np.ndarray, m: int, rng: np.random.Generator | None) -> np.ndarray:
    px = np.asarray(pixels)
    if px.shape[0] > m:
        rng = rng or np.random.default_rng(0)
        px = px[np.sort(rng.choice(px.shape[0], m, replace=False))]
    px = px.astype(np.float64)
    return px[np.isfinite(px).all(axis=1)]


def check_brightfield(pixels: np.ndarray, value_range: float, rng=None) -> None:
    """ValueError, with advice, for images stain measurements cannot read: grey images
    (R = G = B: no colour to separate stains) and dark ones (fluorescence)."""
    px = _sample(pixels, WHITE_SAMPLE, rng)
    if not px.shape[0]:
        raise ValueError("The image has no finite pixel to measure.")
    r, g, b = px[:, 0], px[:, 1], px[:, 2]  # column by column: reductions along a row of 3 are slow
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    if float(np.quantile(spread, 0.999)) <= GREY_TOLERANCE * value_range:
        raise ValueError(
            "This image is grey (R = G = B in every pixel): it holds no colour, so stains "
            "cannot be told apart. color_space='hed' is for colour (RGB) brightfield slides; "
            "use color_space='rgb' for a grey image."
        )
    if float(np.median((r + g + b) / 3)) < DARK_MEDIAN * value_range:
        raise ValueError(
            f"Most of this image is dark (median brightness below {100 * DARK_MEDIAN:.0f}% of "
            f"white, {value_range:g}): it looks like a fluorescence image (light emitted on a "
            "dark background), not a brightfield slide (light absorbed by stains on bright "
            "glass). color_space='hed' measures absorbed light; use color_space='rgb' or "
            "'lab' for fluorescence."
        )


def estimate_white(pixels: np.ndarray, value_range: float, *, rng=None) -> WhiteLevel:
    """The white level from the brightest narrow peak of the brightness histogram.

    Parameters
    ----------
    pixels : ndarray (n, 3)
        RGB values (a sample of the slide is enough).
    value_range : float
        White of the data type (255 for 8-bit).

    Returns
    -------
    WhiteLevel

    Raises
    ------
    ValueError
        When no such peak holds :data:`MIN_GLASS` of the pixels: the image shows no glass
        (a crop inside the tissue), so the white level must be given.
    """
    px = _sample(pixels, WHITE_SAMPLE, rng)
    n = px.shape[0]
    if n == 0:
        raise ValueError("The image has no finite pixel to estimate the white level from.")
    b = (px[:, 0] + px[:, 1] + px[:, 2]) / (3 * value_range)
    # bins of a third of an 8-bit level: the mean of three 8-bit channels is exact in them
    nbins = 768
    hist, edges = np.histogram(np.clip(b, 0, 1), bins=nbins, range=(0.0, 1.0 + 1e-9))
    centers = (edges[:-1] + edges[1:]) / 2
    # first at the camera's own resolution; then, when that finds no glass, at one level with
    # the top bin carried on beyond full scale: a scan whose values were multiplied and
    # truncated leaves a comb in the histogram, and glass whose mode sits at 254-255 of 255
    # is clipped, its pixels piled in the top bin (their brightness goes on beyond it)
    for sigma, clipped_top in ((1.5, False), (3.0, True)):
        found = _glass_peak(px, b, hist, centers, value_range, sigma, clipped_top)
        if found is not None:
            return found
    raise ValueError(
        "No bare glass found to take the white level from: the brightest pixels do not form "
        f"a narrow, uniform peak holding {100 * MIN_GLASS:g}% of the image (a region inside "
        "the tissue, or a slide without glass). Give the white level: white_level=(R, G, B) "
        "of the glass of this scanner (measure it on a slide with glass, or use a saved "
        "model, which keeps its own), or include some glass in the region."
    )


def _glass_peak(
    px: np.ndarray,
    b: np.ndarray,
    hist: np.ndarray,
    centers: np.ndarray,
    value_range: float,
    sigma: float,
    clipped_top: bool,
) -> WhiteLevel | None:
    """The white level from the brightest narrow peak of ``hist`` smoothed by ``sigma`` bins,
    or None when the brightest sizeable peak is broad (tissue) or there is none."""
    from scipy import ndimage

    nbins = hist.size
    pad = int(np.ceil(4 * sigma)) if clipped_top else 0
    ext = np.concatenate([hist.astype(np.float64), np.full(pad, float(hist[-1]))])
    smooth = ndimage.gaussian_filter1d(ext, sigma, mode="constant")[:nbins]
    peaks = [
        i
        for i in range(nbins)
        if smooth[i] > 0
        and smooth[i] >= smooth[max(i - 1, 0)]
        and smooth[i] >= smooth[min(i + 1, nbins - 1)]
        and smooth[i] >= 1e-3 * smooth.max()
    ]
    for i in sorted(peaks, reverse=True):  # brightest first
        half = smooth[i] / 2
        lo = i  # walk down each side to half height; climbing again first: a bump, not a peak
        while lo > 0 and smooth[lo - 1] > half and smooth[lo - 1] <= smooth[lo]:
            lo -= 1
        hi = i
        while hi < nbins - 1 and smooth[hi + 1] > half and smooth[hi + 1] <= smooth[hi]:
            hi += 1
        if (lo > 0 and smooth[lo - 1] > half) or (hi < nbins - 1 and smooth[hi + 1] > half):
            continue
        # half width at half maximum; a peak at the top (clipped glass) is one-sided
        hw = max(i - lo, hi - i, 1) if hi < nbins - 1 else max(i - lo, 1)
        width = hw * (1.0 / nbins) / max(centers[i], 1e-9)
        window = (b >= centers[i] - 2 * hw / nbins) & (b <= centers[i] + 2 * hw / nbins)
        share = float(window.mean())
        if share < MIN_GLASS:
            continue
        if width > MAX_GLASS_WIDTH:
            return None  # the brightest sizeable peak is broad: tissue, not glass
        glass = px[window]
        white = np.median(glass, axis=0)
        od = -np.log10(np.maximum(glass / white, 1e-6)).mean(axis=1)
        noise = 1.4826 * float(np.median(np.abs(od - np.median(od))))
        return WhiteLevel(
            white=white,
            source="estimated",
            glass_share=share,
            noise_od=noise,
            clipped=bool((white >= value_range * (1 - 1e-6)).any()),
            full_scale=i == nbins - 1,
        )
    return None


def given_white(white_level, value_range: float) -> WhiteLevel:
    """A :class:`WhiteLevel` from the person's ``white_level``: one number (grey) or R, G, B."""
    # element by element: np.asarray would read "240" as 240 and (240, 240, False) as (240, 240, 0)
    values = list(white_level) if isinstance(white_level, list | tuple) else np.ravel(white_level)
    if isinstance(white_level, str | bytes) or any(
        isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number) for v in values
    ):
        raise TypeError(
            f"white_level must be a number or three (R, G, B), not {white_level!r:.60} "
            "(e.g. 240 or (236, 238, 240) for 8-bit)."
        )
    w = np.asarray(white_level, np.float64).ravel()
    if w.size == 1:
        w = np.repeat(w, 3)
    if w.size != 3 or not np.isfinite(w).all() or not (w > 0).all():
        raise ValueError(
            f"white_level={white_level!r}: give the glass's brightness as one positive number or "
            "three (R, G, B), in the image's units (e.g. 240 or (236, 238, 240) for 8-bit)."
        )
    if (w > value_range * 1.0001).any():
        raise ValueError(
            f"white_level={white_level!r} is above the image's white ({value_range:g}); give "
            "the glass's brightness in the image's units."
        )
    return WhiteLevel(white=w, source="given", clipped=bool((w >= value_range * (1 - 1e-6)).any()))


def white_of(pixels: np.ndarray, value_range: float, white_level=None, *, rng=None) -> WhiteLevel:
    """The given white level, else the one estimated from ``pixels``."""
    if white_level is not None:
        return given_white(white_level, value_range)
    return estimate_white(pixels, value_range, rng=rng)


def tissue_mask(
    image: np.ndarray, white, tissue_od: float, *, box: int = TISSUE_BOX, valid: np.ndarray | None = None
) -> np.ndarray:
    """True where the tissue is: pixels whose mean transmission (relative to ``white``,
    averaged over R, G, B) is below 10^-tissue_od, by majority in a ``box`` x ``box``
    neighbourhood.

    The vote removes the glass's noise specks and fills specks of pale stroma without
    moving the edge of the tissue (a box mean of the transmission would: it pushed the edge
    1-2 pixels into the glass, +3 points of tissue on a slide of small fragments).
    ``image`` is (..., Y, X, 3+) in image units; the result has shape (..., Y, X). Each
    plane is filtered on its own (OpenCV, a few ms per megapixel).

    Pixels that cannot be read (NaN or infinite values, or False in ``valid``, the spatial
    mask of the pixels to measure) do not vote: a neighbourhood is tissue when most of its
    readable pixels are, so missing pixels count neither as glass nor as tissue. A pixel
    with no readable neighbour is not tissue.
    """
    import cv2

    arr = np.asarray(image)
    planes = arr.reshape(-1, *arr.shape[-3:-1], arr.shape[-1])
    w = np.asarray(white, np.float64)
    # transmission averaged over the channels, in one pass: (R/wR + G/wG + B/wB) / 3
    m = (1.0 / (3.0 * w)).reshape(1, 3).astype(np.float32)
    limit = np.float32(10.0 ** (-float(tissue_od)))
    out = np.empty(planes.shape[:-1], bool)
    lut = _transmission_lut(w) if planes.dtype == np.uint8 else None
    vplanes = None if valid is None else np.asarray(valid, bool).reshape(planes.shape[:-1])
    for i, plane in enumerate(planes):
        readable = None if vplanes is None else vplanes[i]
        if lut is not None:  # 8-bit: each channel's transmission from a table, in integers
            px = np.ascontiguousarray(plane[..., :3])
            scaled = cv2.transform(cv2.LUT(px, lut), np.ones((1, 3), np.float32))
            vote = (np.asarray(scaled).reshape(px.shape[:2]) < _lut_limit(tissue_od)).view(np.uint8)
        else:
            # float32 in, so the weighted sum is not rounded back to the image's integers
            px = np.ascontiguousarray(plane[..., :3], np.float32)
            t = np.asarray(cv2.transform(px, m)).reshape(px.shape[:2])
            vote = (t < limit).view(np.uint8)  # NaN compares False: not tissue ...
            if planes.dtype.kind == "f":
                finite = np.isfinite(t)  # ... and does not vote at all
                readable = finite if readable is None else readable & finite
        if readable is not None:
            vote = vote & readable.view(np.uint8)
        if box > 1:

            def count(v):
                return cv2.boxFilter(
                    v, cv2.CV_16U, (box, box), normalize=False, borderType=cv2.BORDER_REFLECT
                )

            total = count(vote)
            voters = box * box if readable is None else count(np.ascontiguousarray(readable).view(np.uint8))
            out[i] = total * 2 > voters
        else:
            out[i] = vote.astype(bool)
    return out.reshape(arr.shape[:-1])


#: 8-bit transmission per channel in units of 1/LUT_SCALE (three channels sum below 2^16).
LUT_SCALE = 1 << 13


def _transmission_lut(white: np.ndarray) -> np.ndarray:
    """(1, 256, 3) uint16: each 8-bit value's transmission relative to each channel's
    white, times :data:`LUT_SCALE` (cv2.LUT reads it channel by channel)."""
    levels = np.arange(256, dtype=np.float64)[:, None] / np.asarray(white, np.float64)[None, :]
    return np.clip(np.rint(levels * LUT_SCALE), 0, 21000).astype(np.uint16)[None]


def _lut_limit(tissue_od: float) -> int:
    """The sum of three :func:`_transmission_lut` values below which a pixel votes tissue."""
    return int(np.floor(3 * LUT_SCALE * 10.0 ** (-float(tissue_od))))


def saturated(image: np.ndarray, value_range: float) -> np.ndarray:
    """True where some channel is clipped: at 0 or at the top of the range (its OD unknown)."""
    px = np.asarray(image)[..., :3]
    out = (px[..., 0] <= 0) | (px[..., 0] >= value_range)  # channel by channel: no temporaries
    for c in (1, 2):  # of the image's size times three
        out |= px[..., c] <= 0
        out |= px[..., c] >= value_range
    return out


def estimate_white_level(image) -> tuple[float, float, float]:
    """The white level (R, G, B of the bare glass) of an RGB brightfield slide.

    As ``segment(..., color_space="hed")`` finds it: the brightest narrow peak of the
    slide's brightness histogram.

    Parameters
    ----------
    image : array-like (..., 3 or 4)
        An RGB(A) slide in its own units (0..255 for 8-bit).

    Returns
    -------
    (float, float, float)

    Raises
    ------
    ValueError
        When the image is not RGB(A), has no finite pixel, or shows no bare glass (give the
        white level then).

    Examples
    --------
    A slide whose glass is (235, 232, 228), with a little noise, and two stained patches:

    >>> import numpy as np
    >>> from napari_kmeans_segment import estimate_white_level
    >>> rng = np.random.default_rng(0)
    >>> slide = np.full((40, 40, 3), (235, 232, 228), np.uint8)
    >>> slide[10:30, 5:20] = (80, 60, 150)
    >>> slide[10:30, 22:35] = (160, 110, 60)
    >>> slide = np.clip(np.rint(slide + rng.normal(0, 2, slide.shape)), 0, 255).astype(np.uint8)
    >>> estimate_white_level(slide)
    (235.0, 232.0, 228.0)
    >>> estimate_white_level(np.zeros((10, 10)))
    Traceback (most recent call last):
    ...
    ValueError: Stain measurements need an RGB(A) brightfield image; ...
    """
    px = rgb_pixels(image)
    w = estimate_white(px, value_range_of(px)).white
    return float(w[0]), float(w[1]), float(w[2])
