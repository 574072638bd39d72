"""The feature space k-means runs in: colour space, normalisation, position, texture.

With the defaults (``color_space="rgb"``, no normalisation, no position, no texture) a
pixel's features are its channel values as float32, exactly the tutorial's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    stain_vectors: str = "fixed"
    stain_matrix: np.ndarray | None = None
    stain_scale: np.ndarray | None = None

    @property
    def per_colour(self) -> bool:
        """True when a pixel's features depend on its colour alone (not on where it is)."""
        return self.spatial_weight == 0 and self.texture_sigma == 0

    @property
    def is_identity(self) -> bool:
        return self.color_space == "rgb" and not self.normalize and self.per_colour

    # -- colour part ------------------------------------------------------------------------
    def colour(self, px: np.ndarray) -> np.ndarray:
        """(n, C) float32 channel values -> (n, Fc) float32 colour features."""
        import cv2

        x: np.ndarray = np.ascontiguousarray(px, dtype=np.float32)
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

            x = stain_densities(x, self.value_range, self.stain_matrix)
            if self.stain_scale is not None:
                x /= self.stain_scale
        if self.normalize and self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def transform(
        self,
        px: np.ndarray,
        coords: np.ndarray | None = None,
        texture: np.ndarray | None = None,
    ) -> np.ndarray:
        """Full feature rows: colour, then texture, then scaled coordinates."""
        parts = [self.colour(px)]
        if self.texture_sigma > 0:
            assert texture is not None, "texture features need the texture image"
            t = texture.astype(np.float32)[:, None]
            if self.normalize and self.mean is not None:
                t = (t - self._tex_mean) / self._tex_std
            parts.append(t)
        if self.spatial_weight > 0:
            assert coords is not None and self.spatial_scale is not None
            parts.append((coords * self.spatial_scale).astype(np.float32))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, sample_px: np.ndarray, spatial_shape, texture_sample=None) -> FeatureSpace:
        """Fix the normalisation and position scale from a sample of pixels (float32 rows)."""
        self._tex_mean, self._tex_std = 0.0, 1.0
        if self.color_space == "hed":
            self._fit_stains(sample_px)
        if self.normalize:
            self.mean, self.std = None, None
            col = self.colour(sample_px)
            self.mean = col.mean(axis=0)
            self.std = _safe_std(col)
            if self.texture_sigma > 0:
                self._tex_mean = float(texture_sample.mean())
                self._tex_std = float(_safe_std(texture_sample[:, None])[0])
        if self.spatial_weight > 0:
            col = self.colour(sample_px)
            if self.texture_sigma > 0:
                t = (texture_sample - self._tex_mean) / self._tex_std
                col = np.concatenate([col, t[:, None]], axis=1)
            colour_var = float(col.var(axis=0).sum()) or 1.0
            sizes = np.asarray(spatial_shape, np.float64)
            coord_var = np.maximum((sizes**2 - 1) / 12.0, 1e-12)  # variance of 0..L-1
            # Weight 1.0: the coordinates' total variance equals the colour features'.
            per_axis = colour_var / len(sizes)
            self.spatial_scale = (
                self.spatial_weight * np.sqrt(per_axis / coord_var) * (sizes > 1)
            ).astype(np.float32)
        return self

    def _fit_stains(self, sample_px: np.ndarray) -> None:
        from .stains import STAIN_VECTORS, macenko_matrix, stain_densities, stain_scale

        if self.stain_vectors not in STAIN_VECTORS:
            raise ValueError(f"stain_vectors={self.stain_vectors!r}: choose one of {STAIN_VECTORS}.")
        self.stain_matrix = (macenko_matrix(sample_px, self.value_range)
                             if self.stain_vectors == "macenko" else None)
        self.stain_scale = stain_scale(stain_densities(sample_px, self.value_range, self.stain_matrix))

    def to_dict(self) -> dict:
        d = {
            "color_space": self.color_space,
            "normalize": self.normalize,
            "spatial_weight": self.spatial_weight,
            "texture_sigma": self.texture_sigma,
            "value_range": self.value_range,
        }
        d["stain_vectors"] = self.stain_vectors
        for name in ("mean", "std", "spatial_scale", "stain_matrix", "stain_scale"):
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
        if d.get("stain_matrix") is not None:
            fs.stain_matrix = np.asarray(d["stain_matrix"], np.float64)
        fs._tex_mean = float(d.get("texture_mean", 0.0))
        fs._tex_std = float(d.get("texture_std", 1.0))
        return fs


def _safe_std(x: np.ndarray) -> np.ndarray:
    s = x.std(axis=0).astype(np.float32)
    s[~(s > 0)] = 1.0
    return s


def value_range_of(dtype: np.dtype, sample: np.ndarray) -> float:
    """Largest value of the image's range: the dtype's for integers, the sample's for floats."""
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    m = float(np.nanmax(np.abs(sample))) if sample.size else 1.0
    return 1.0 if m <= 1.0 else m


def local_std(image2d_stack: np.ndarray, sigma: float) -> np.ndarray:
    """Local standard deviation (Gaussian window of ``sigma`` pixels) of each 2D plane.

    ``image2d_stack`` has shape (..., Y, X); returns float32 of the same shape.
    """
    import cv2

    x = np.asarray(image2d_stack, np.float32)
    flat = x.reshape(-1, *x.shape[-2:])
    out = np.empty_like(flat)
    for i, plane in enumerate(flat):
        p = np.nan_to_num(plane)
        m = cv2.GaussianBlur(p, (0, 0), sigma)
        m2 = cv2.GaussianBlur(p * p, (0, 0), sigma)
        out[i] = np.sqrt(np.maximum(m2 - m * m, 0))
    return out.reshape(x.shape)
