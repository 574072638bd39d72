"""The feature space k-means runs in: colour space, normalisation, position, texture.

With the defaults (``color_space="rgb"``, no normalisation, no position, no texture) a
pixel's features are its channel values as float32, exactly the tutorial's rows.

Values float32 cannot hold or resolve (1e39, groups 1e-30 apart, 1e9 + small changes) are
first brought to a *working representation*: shifted by the middle of the image's range
and scaled by a power of two (exact) so the range spans about 256 units, the span of 8-bit
data the tutorial's epsilon was made for. :meth:`FeatureSpace.to_image` maps back, so
centres are reported in image units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Working values are clipped to +-2**60 (a model applied to values far outside the range it
# was fitted on): squared distances then stay finite in float32.
WORK_LIMIT = 2.0**60

COLOR_SPACES = ("rgb", "lab", "hsv", "hed")


@dataclass
class FeatureSpace:
    """How pixels become feature vectors. Fitted once (on a sample), then fixed.

    ``value_range`` maps image values to [0, 1] for the Lab and HSV conversions.
    ``mean``/``std`` hold the normalisation; ``spatial_scale`` the per-axis weight of
    pixel coordinates; ``texture_sigma`` the Gaussian scale of the local standard deviation.
    """

    color_space: str = "rgb"
    normalize: bool = False
    spatial_weight: float = 0.0
    texture_sigma: float = 0.0
    value_range: float = 1.0
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    spatial_scale: np.ndarray | None = field(default=None)
    # Working representation: (value - offset) * 2**-scale_exp per channel; None: the values.
    offset: np.ndarray | None = None
    scale_exp: np.ndarray | None = None
    stain_vectors: str = "fixed"
    stain_matrix: np.ndarray | None = None
    stain_scale: np.ndarray | None = None
    # "hed" with tissue detection: the white level (R, G, B of the glass, image units) optical
    # densities are taken against, and the tissue threshold (mean OD). None: white is
    # value_range and every pixel is clustered (no tissue detection).
    white: np.ndarray | None = None
    tissue_od: float | None = None

    @property
    def white_level(self):
        """What optical densities are relative to: :attr:`white`, else ``value_range``."""
        return self.value_range if self.white is None else self.white

    def on_white(self, white) -> FeatureSpace:
        """A copy measuring optical densities against another slide's ``white``: the same
        features for the same stains, whatever that slide's exposure."""
        from copy import copy

        fs = copy(self)
        fs.white = np.asarray(white, np.float64)
        return fs

    @classmethod
    def from_options(cls, options) -> FeatureSpace:
        """The feature space (not fitted yet) that a fit with these
        :class:`~.options.Options` runs in."""
        return cls(
            color_space=options.color_space,
            normalize=bool(options.normalize),
            spatial_weight=float(options.spatial_weight),
            texture_sigma=float(options.texture_sigma),
            stain_vectors=options.stain_vectors,
        )

    @property
    def per_color(self) -> bool:
        """True when a pixel's features depend on its colour alone (not on where it is)."""
        return self.spatial_weight == 0 and self.texture_sigma == 0

    @property
    def is_identity(self) -> bool:
        return self.color_space == "rgb" and not self.normalize and self.per_color and self.offset is None

    # -- working representation ---------------------------------------------------------------
    def fit_range(self, lo: np.ndarray, hi: np.ndarray, dtype: np.dtype) -> FeatureSpace:
        """Choose the working representation from the valid pixels' per-channel range.

        The values themselves (the tutorial's rows) when float32 holds them with room to
        spare; else shift by the middle of the range and scale by a power of two. Lab/HSV
        keep the values (their conversions need them) unless beyond 2**60.
        """
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        dtype = np.dtype(dtype)
        self.offset = self.scale_exp = None
        big = float(np.max(np.maximum(np.abs(lo), np.abs(hi)), initial=0.0))
        if self.color_space != "rgb":
            vr = color_scale(self.color_space, lo, hi, dtype)
            if vr > 2.0**60:
                e = int(np.ceil(np.log2(vr)))
                self.offset = np.zeros(lo.size)
                self.scale_exp = np.full(lo.size, e)
                vr = float(np.ldexp(vr, -e))
            self.value_range = vr
            return self
        half = np.maximum(hi / 2 - lo / 2, 0.0)  # half the span: never overflows
        top = float(half.max(initial=0.0))
        small_int = dtype.kind in "biu" and dtype.itemsize <= 2
        if small_int or top == 0 or (big <= 2.0**40 and top >= big * 2.0**-16 and top >= 2.0**-20):
            return self
        self.offset = lo / 2 + hi / 2
        # One scale for all channels keeps distances' geometry; normalize rescales each anyway.
        h = np.where(half > 0, half, top) if self.normalize else np.full(lo.size, top)
        self.scale_exp = np.ceil(np.log2(h) - 7).astype(np.int64)  # half-span -> (64, 128]
        return self

    def working(self, px: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Channel values (any dtype) -> working units, as ``dtype`` rows."""
        if self.offset is None or self.scale_exp is None:
            if px.dtype.kind == "f" and px.dtype.itemsize >= 4:
                px = np.clip(px, -WORK_LIMIT, WORK_LIMIT)  # a model applied to 1e39 values
            return np.ascontiguousarray(px, dtype=dtype)
        x = np.asarray(px, np.float64) - self.offset
        x = np.ldexp(x, -self.scale_exp)  # exact for any exponent, unlike x / 2.0**e
        np.clip(x, -WORK_LIMIT, WORK_LIMIT, out=x)
        return x.astype(dtype, copy=False)

    def to_image(self, w: np.ndarray) -> np.ndarray:
        """Working units -> image units (float64), for centres and means."""
        w = np.asarray(w, np.float64)
        if self.offset is None or self.scale_exp is None:
            return w
        with np.errstate(over="ignore"):
            x = self.offset + np.ldexp(w, self.scale_exp)
        # a mean of values <= 1.8e308 can round one ulp past it: keep it finite
        top = np.finfo(np.float64).max
        return np.nan_to_num(x, nan=0.0, posinf=top, neginf=-top)

    # -- colour part ------------------------------------------------------------------------
    def color(self, px: np.ndarray) -> np.ndarray:
        """(n, C) channel values (any dtype) -> (n, Fc) float32 colour features."""
        import cv2

        x = self.working(px)
        if self.color_space == "lab":
            x = cv2.cvtColor((x / self.value_range).reshape(-1, 1, 3), cv2.COLOR_RGB2Lab)
            x = x.reshape(-1, 3)
        elif self.color_space == "hsv":
            hsv = cv2.cvtColor((x / self.value_range).reshape(-1, 1, 3), cv2.COLOR_RGB2HSV)
            h, s, v = np.radians(hsv[:, 0, 0]), hsv[:, 0, 1], hsv[:, 0, 2]
            # Hue is an angle: a cone (s*cos h, s*sin h, v) puts 359 and 1 degrees side by side.
            x = np.stack([s * np.cos(h), s * np.sin(h), v], axis=1).astype(np.float32)
        elif self.color_space == "hed":
            from .stains import stain_densities

            x = stain_densities(x, self._white_working(), self.stain_matrix)
            if self.stain_scale is not None:
                x /= self.stain_scale
        if self.normalize and self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def _white_working(self):
        if self.white is None:
            return self.value_range
        if self.offset is None or self.scale_exp is None:
            return self.white
        return np.ldexp(np.asarray(self.white, np.float64) - self.offset, -self.scale_exp)

    def transform(
        self,
        px: np.ndarray,
        coords: np.ndarray | None = None,
        texture: np.ndarray | None = None,
    ) -> np.ndarray:
        """Full feature rows: colour, then texture, then scaled coordinates."""
        parts = [self.color(px)]
        if self.texture_sigma > 0:
            assert texture is not None, "texture features need the texture image"
            t = texture.astype(np.float32)[:, None]
            if self.normalize and self.mean is not None:
                t = (t - self._tex_mean) / self._tex_std
            parts.append(t)
        if self.spatial_weight > 0:
            assert coords is not None and self.spatial_scale is not None
            parts.append((coords * self.spatial_scale).astype(np.float32))
        if len(parts) == 1 and not (self.normalize and self.mean is not None):
            return parts[0]  # the working values, already within +-WORK_LIMIT
        x = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        # scales and weights (from a model file, too) keep squared distances finite
        return np.clip(x, -WORK_LIMIT, WORK_LIMIT, out=x)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, sample_px: np.ndarray, spatial_shape, texture_sample=None) -> FeatureSpace:
        """Fix the normalisation and position scale from a sample of pixels (float32 rows)."""
        self._tex_mean, self._tex_std = 0.0, 1.0
        if self.color_space == "hed":
            self._fit_stains(sample_px)
        if self.normalize:
            self.mean, self.std = None, None
            col = self.color(sample_px)
            self.mean = col.mean(axis=0)
            self.std = _safe_std(col)
            if self.texture_sigma > 0:
                self._tex_mean = float(texture_sample.mean())
                self._tex_std = float(_safe_std(texture_sample[:, None])[0])
        if self.spatial_weight > 0:
            col = self.color(sample_px)
            if self.texture_sigma > 0:
                t = (texture_sample - self._tex_mean) / self._tex_std
                col = np.concatenate([col, t[:, None]], axis=1)
            color_var = float(col.var(axis=0).sum()) or 1.0
            sizes = np.asarray(spatial_shape, np.float64)
            coord_var = np.maximum((sizes**2 - 1) / 12.0, 1e-12)  # variance of 0..L-1
            # Weight 1.0: the coordinates' total variance equals the colour features'.
            per_axis = color_var / len(sizes)
            self.spatial_scale = (self.spatial_weight * np.sqrt(per_axis / coord_var) * (sizes > 1)).astype(
                np.float32
            )
        return self

    def _fit_stains(self, sample_px: np.ndarray) -> None:
        from .stains import STAIN_VECTORS, macenko_matrix, stain_densities, stain_scale

        if self.stain_vectors not in STAIN_VECTORS:
            raise ValueError(f"stain_vectors={self.stain_vectors!r}: choose one of {STAIN_VECTORS}.")
        sample_px = self.working(sample_px)  # value_range is in working units
        white = self._white_working()
        self.stain_matrix = macenko_matrix(sample_px, white) if self.stain_vectors == "macenko" else None
        self.stain_scale = stain_scale(stain_densities(sample_px, white, self.stain_matrix))

    def to_dict(self) -> dict:
        d = {
            "color_space": self.color_space,
            "normalize": self.normalize,
            "spatial_weight": self.spatial_weight,
            "texture_sigma": self.texture_sigma,
            "value_range": self.value_range,
        }
        d["stain_vectors"] = self.stain_vectors
        d["white"] = None if self.white is None else [float(v) for v in self.white]
        d["tissue_od"] = None if self.tissue_od is None else float(self.tissue_od)
        for name in ("mean", "std", "spatial_scale", "stain_matrix", "stain_scale", "offset", "scale_exp"):
            v = getattr(self, name)
            d[name] = None if v is None else np.asarray(v).tolist()
        d["texture_mean"] = getattr(self, "_tex_mean", 0.0)
        d["texture_std"] = getattr(self, "_tex_std", 1.0)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpace:
        fs = cls(
            color_space=d["color_space"],
            normalize=bool(d["normalize"]),
            spatial_weight=float(d["spatial_weight"]),
            texture_sigma=float(d["texture_sigma"]),
            value_range=float(d["value_range"]),
            stain_vectors=str(d.get("stain_vectors", "fixed")),
        )
        for name in ("mean", "std", "spatial_scale", "stain_scale"):
            if d.get(name) is not None:
                setattr(fs, name, np.asarray(d[name], np.float32))
        if d.get("offset") is not None:
            fs.offset = np.asarray(d["offset"], np.float64)
            fs.scale_exp = np.asarray(d["scale_exp"], np.int64)
        if d.get("stain_matrix") is not None:
            fs.stain_matrix = np.asarray(d["stain_matrix"], np.float64)
        if d.get("white") is not None:
            fs.white = np.asarray(d["white"], np.float64)
        if d.get("tissue_od") is not None:
            fs.tissue_od = float(d["tissue_od"])
        fs._tex_mean = float(d.get("texture_mean", 0.0))
        fs._tex_std = float(d.get("texture_std", 1.0))
        return fs


def _safe_std(x: np.ndarray) -> np.ndarray:
    s = x.std(axis=0).astype(np.float32)
    s[~(s > 0)] = 1.0
    return s


# Values down to -1 % of white count as black (noise around 0) for Lab/HSV/HED.
NEGATIVE_SLACK = 0.01


def color_scale(color_space: str, lo: np.ndarray, hi: np.ndarray, dtype: np.dtype) -> float:
    """White level of RGB data for the Lab/HSV/HED conversions, decided from the data.

    Not the dtype's maximum: 8-bit values stored as int64 would all map to ~0 (black).
    Data up to 255 are 8-bit (255); uint16 data above that are 16-bit (65535); other
    integers and floats above 1 use their largest value; floats within [0, 1] use 1.

    Raises
    ------
    ValueError
        When values are clearly negative (below -1 % of white): they are not intensities,
        and clipping them would merge distinct colours silently.
    """
    lo_min = float(np.min(lo, initial=0.0))
    hi_max = float(np.max(hi, initial=0.0))
    if dtype.kind in "ui":
        scale = 255.0 if hi_max <= 255 else 65535.0 if dtype == np.uint16 else hi_max
    else:
        scale = max(hi_max, 1.0)
    # Noise or rounding a hair below black (a percent of white) is black; more is not RGB.
    if lo_min < -NEGATIVE_SLACK * scale:
        raise ValueError(
            f"color_space={color_space!r} needs RGB intensities from 0 (black) up, but this image "
            f"has values from {lo_min:g} to {hi_max:g}. Rescale it to 0..1 (floats) or 0..255, "
            "or use color_space='rgb'."
        )
    return scale


# Sigmas above this are computed on a block-averaged image (block sigma / 4 pixels):
# a Gaussian of sigma 100 is 801 taps wide, 27 s on 16 MP; averaged blocks take ~0.1 s.
DIRECT_SIGMA = 8.0
# Pixels x kernel taps per cv2.GaussianBlur call (~0.05 s): cancel is checked in between.
BLUR_BUDGET = 1 << 26
# Pixels per band of the block averaging and interpolation (cancel is checked in between).
STEP_PIXELS = 1 << 20


def local_std(image2d_stack: np.ndarray, sigma: float, check=None) -> np.ndarray:
    """Local standard deviation (Gaussian window of ``sigma`` pixels) of each 2D plane.

    ``image2d_stack`` has shape (..., Y, X); returns float32 of the same shape. Computed in
    bands of rows (with a margin, so the result is the same as one pass) and, for large
    sigma, on block averages; ``check`` is called between pieces.
    """
    x = np.asarray(image2d_stack, np.float32)
    flat = x.reshape(-1, *x.shape[-2:])
    out = np.empty_like(flat)
    for i, plane in enumerate(flat):
        if sigma > DIRECT_SIGMA:
            out[i] = _coarse_std(plane, sigma, check)
        else:
            _banded_std(plane, sigma, out[i], check)
    return out.reshape(x.shape)


def _blur_pair(p: np.ndarray, sigma: float):
    import cv2

    return cv2.GaussianBlur(p, (0, 0), sigma), cv2.GaussianBlur(p * p, (0, 0), sigma)


def _banded_std(plane: np.ndarray, sigma: float, out: np.ndarray, check=None) -> None:
    h, w = plane.shape
    margin = int(np.ceil(4 * sigma)) + 2  # cv2's float kernel reaches 4 sigma
    rows = max(1, BLUR_BUDGET // (w * int(8 * sigma + 1)) - 2 * margin)
    for r0 in range(0, h, rows):
        if check is not None:
            check()
        a, b = max(0, r0 - margin), min(h, r0 + rows + margin)
        m, m2 = _blur_pair(np.nan_to_num(plane[a:b]), sigma)
        band = slice(r0 - a, r0 - a + min(rows, h - r0))
        out[r0 : r0 + rows] = np.sqrt(np.maximum(m2[band] - m[band] ** 2, 0))


def _coarse_std(plane: np.ndarray, sigma: float, check=None) -> np.ndarray:
    """Local std at a large sigma: f x f block means of the values and their squares,
    blurred at sigma / f, back to full size by linear interpolation; in bands of rows."""
    import cv2

    h, w = plane.shape
    f = int(sigma // 4)
    hs, ws = -(-h // f), -(-w // f)
    mean = np.empty((hs, ws), np.float32)
    mean2 = np.empty((hs, ws), np.float32)
    band = max(1, STEP_PIXELS // (w * f))  # block rows per band
    for r in range(0, hs, band):
        if check is not None:
            check()
        n = min(band, hs - r)
        p = np.nan_to_num(plane[r * f : min(h, (r + n) * f)])
        mean[r : r + n] = cv2.resize(p, (ws, n), interpolation=cv2.INTER_AREA)
        mean2[r : r + n] = cv2.resize(p * p, (ws, n), interpolation=cv2.INTER_AREA)
    m, m2 = cv2.GaussianBlur(mean, (0, 0), sigma / f), cv2.GaussianBlur(mean2, (0, 0), sigma / f)
    std = np.sqrt(np.maximum(m2 - m * m, 0))
    out = np.empty((h, w), np.float32)
    rows = max(1, STEP_PIXELS // w)
    for y0 in range(0, h, rows):
        if check is not None:
            check()
        # vertical interpolation by hand (block centres at (i + 0.5) * f), horizontal by cv2
        src = (np.arange(y0, min(h, y0 + rows)) + 0.5) / f - 0.5
        lo = np.clip(np.floor(src).astype(np.int64), 0, hs - 1)
        hi = np.minimum(lo + 1, hs - 1)
        t = np.clip(src - lo, 0.0, 1.0).astype(np.float32)[:, None]
        band_rows = std[lo] * (1 - t) + std[hi] * t
        out[y0 : y0 + len(src)] = cv2.resize(band_rows, (w, len(src)), interpolation=cv2.INTER_LINEAR)
    return out
