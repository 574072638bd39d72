"""The result of a run (:class:`Segmentation`), recolouring and the cluster table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import FeatureSpace
from .image import PixelImage
from .model import KMeansModel
from .numerics import parallel, pieces


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Centre values (float) as pixels of ``dtype``: rounded and clipped for integers.

    The clip happens in float64 *before* the cast, against bounds that float64 can hold:
    float(int64 max) rounds up to 2**63, which would wrap to int64 min if cast.
    """
    dtype = np.dtype(dtype)
    v = np.asarray(values, np.float64)
    if dtype.kind == "b":
        return v >= 0.5
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        v = np.rint(np.nan_to_num(v))
        out = np.empty(v.shape, dtype)
        top, bottom = v >= float(info.max), v <= float(info.min)
        inside = ~(top | bottom)
        out[inside] = v[inside].astype(dtype)
        out[top] = info.max
        out[bottom] = info.min
        return out
    with np.errstate(over="ignore"):  # a float16 image: centres beyond 65504 become +-inf
        return v.astype(dtype)


def recolor(img: PixelImage, labels_flat: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Every labelled pixel takes its centre's value; label 0 keeps the original pixel.

    Returns an array of the original image's shape, layout and dtype.
    """
    k = centers.shape[0]
    out_dtype = img.dtype
    lut = np.zeros((k + 1, img.n_channels), out_dtype)
    lut[1:] = to_dtype(centers, out_dtype)
    out = np.empty((img.n_pixels, img.full_channels), out_dtype)
    for c in img.chunks():

        def piece(a, b, c=c):
            lab = labels_flat[c.start + a : c.start + b]
            o = out[c.start + a : c.start + b]
            if img.has_alpha:
                o[:, :3] = lut[lab]
                o[:, 3] = c.pixels[a:b, 3]
            else:
                np.take(lut, lab, axis=0, out=o)
            if c.valid is not None:
                v = ~c.valid[a:b]
                o[v] = c.pixels[a:b][v]

        parallel(piece, pieces(c.stop - c.start))
    return img.restore_layout(out)


@dataclass
class Segmentation:
    """Result of :func:`napari_kmeans_segment.segment`.

    Attributes
    ----------
    labels : ndarray
        Spatial shape of the image; 1..K, 0 for pixels left out. uint8 for K <= 255.
    recolored : ndarray
        The image's shape and dtype; every pixel its cluster centre.
    centers : ndarray (K, C)
        Cluster centres in the image's own units (row i is label i + 1).
    counts : ndarray (K,)
        Pixels per cluster.
    compactness : float
        Sum of squared distances from pixels to their centres in feature space
        (what ``cv2.kmeans`` returns).
    feature_centers : ndarray (K, F)
        Centres in feature space; :meth:`KMeansModel.apply` assigns to these.
    feature_space : FeatureSpace
    params : dict
        Everything needed to reproduce the run (``seed_used`` included).
    label_map : ndarray (K,) or None
        For a model with merged clusters: the label each of its K clusters is written as.
        ``centers``/``counts`` then have one row per label in :attr:`index`.
    """

    labels: np.ndarray
    recolored: np.ndarray
    centers: np.ndarray
    counts: np.ndarray
    compactness: float
    feature_centers: np.ndarray
    feature_space: FeatureSpace
    params: dict = field(default_factory=dict)
    label_map: np.ndarray | None = None

    @property
    def n_clusters(self) -> int:
        return int(self.centers.shape[0])

    @property
    def index(self) -> np.ndarray:
        """The label of each row of ``centers`` and ``counts``."""
        if self.label_map is None:
            return np.arange(1, self.n_clusters + 1)
        return np.unique(self.label_map)

    def table(self, names: list[str] | None = None, channel_names=None) -> dict[str, np.ndarray]:
        """One row per cluster: index (label), name, count, fraction, centre per channel."""
        return cluster_table(self.index, self.counts, self.centers, names, channel_names)

    @property
    def model(self) -> KMeansModel:
        centers = np.asarray(self.centers, np.float64)
        if self.label_map is not None:  # back to one centre per model cluster
            centers = centers[np.searchsorted(self.index, self.label_map)]
        return KMeansModel(
            feature_centers=np.asarray(self.feature_centers, np.float64),
            centers=centers,
            feature_space=self.feature_space,
            params=dict(self.params),
            label_map=None if self.label_map is None else np.asarray(self.label_map),
        )

    def save(self, path) -> Path:
        """Write the model (centres, parameters, feature settings) as JSON."""
        return self.model.save(path)


def cluster_table(index, counts, centers, names=None, channel_names=None) -> dict:
    index = np.asarray(index)
    counts = np.asarray(counts, np.int64)
    total = max(int(counts.sum()), 1)
    centers = np.asarray(centers, np.float64)
    if channel_names is None:
        channel_names = (
            ["R", "G", "B"] if centers.shape[1] == 3 else
            ["value"] if centers.shape[1] == 1 else [str(i) for i in range(centers.shape[1])]
        )
    table = {
        "index": index,
        "name": np.array(names if names is not None else [f"cluster {i}" for i in index],
                         dtype=object),
        "count": counts,
        "fraction": counts / total,
    }
    for j, ch in enumerate(channel_names):
        table[f"center_{ch}"] = centers[:, j]
    return table
