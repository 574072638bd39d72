"""The result of a run (:class:`Segmentation`), recolouring, the cluster table, and a slide's
stain report attached to a fitted or applied result (:func:`finish_fit`, :func:`finish_apply`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..features.features import FeatureSpace
from ..features.image import PixelImage
from ..fit.numerics import parallel, pieces
from .clusters import (
    check_group,
    extract_cluster,
    fill,
    is_dask,
    mask_image,
    member,
    merge_label_map,
    merge_rows,
    relabel,
)

# The one import circle of the core, kept on purpose: a Segmentation carries the KMeansModel
# it was fitted with (``seg.model``) and ``KMeansModel.apply`` returns a Segmentation (for dask
# and multiscale images through .apply and ..lazy, whose fit on a sample goes through
# ..fit.fitting, which makes a Segmentation too). model.py imports this module inside its
# methods, so either module can be imported first.
from .model import KMeansModel

if TYPE_CHECKING:
    from ..measure.positivity import StainReport
    from ..measure.slide_stains import SlidePlan


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


@dataclass(frozen=True)
class Segmentation:
    """The result of :func:`napari_kmeans_segment.segment`: labels, recoloured image, centres.

    Immutable: operations such as :meth:`merge` return a new, consistent result
    (``dataclasses.replace`` makes variants).

    Attributes
    ----------
    labels : ndarray, dask array, or list of levels (multiscale, finest first)
        Spatial shape of the image; 1..K, 0 for pixels left out. uint8 for K <= 255.
    recolored : same kind as ``labels``
        The image's shape and dtype; every pixel its cluster centre.
    centers : ndarray (n, C)
        Cluster centres in the image's own units (row i is label ``index[i]``).
    counts : ndarray (n,)
        Pixels per cluster.
    compactness : float
        Sum of squared distances from pixels to their nearest model centre in feature
        space (what ``cv2.kmeans`` returns); merging clusters does not change it.
    feature_centers : ndarray (K, F)
        Centres in feature space; :meth:`KMeansModel.apply` assigns to these.
    feature_space : FeatureSpace
    params : dict
        Everything needed to reproduce the run (``seed_used`` included).
    label_map : ndarray (K,) or None
        For a model with merged clusters: the label each of its K clusters is written as.
        ``centers``/``counts`` then have one row per label in :attr:`index`.
    names : dict or None
        ``{label: name}`` given by the model that made this result (see
        :meth:`KMeansModel.named`); None for a fit.
    background : tuple of int or None
        The labels that model marks as background; None: decided by the names.
    stains : StainReport or None
        For ``color_space="hed"`` with tissue detection: the slide's tissue and glass, DAB
        positivity (weak, moderate, strong; H-score), saturated pixels and warnings
        (:mod:`.positivity`). The glass is label 0.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> seg = segment(image, 3, seed=0)
    >>> seg.n_clusters, seg.index.tolist(), seg.counts.tolist()
    (3, [1, 2, 3], [200, 200, 200])
    >>> seg.recolored.shape, seg.recolored.dtype.name
    ((20, 30), 'uint8')
    """

    labels: Any
    recolored: Any
    centers: np.ndarray
    counts: np.ndarray
    compactness: float
    feature_centers: np.ndarray
    feature_space: FeatureSpace
    params: dict = field(default_factory=dict)
    label_map: np.ndarray | None = None
    names: dict[int, str] | None = None
    background: tuple[int, ...] | None = None
    stains: StainReport | None = None

    @property
    def n_clusters(self) -> int:
        """Number of clusters (labels) in this result; merges reduce it."""
        return int(self.centers.shape[0])

    @property
    def index(self) -> np.ndarray:
        """The label of each row of ``centers`` and ``counts``."""
        if self.label_map is None:
            return np.arange(1, self.n_clusters + 1)
        return np.unique(self.label_map)

    @property
    def multiscale(self) -> bool:
        """True when ``labels`` and ``recolored`` are lists of levels."""
        return isinstance(self.labels, list | tuple)

    def default_names(self) -> list[str]:
        """The names clusters start with, one per label of :attr:`index`.

        The model's names (:attr:`names`), else stain names ("DAB", "haematoxylin",
        "background", ...) for ``color_space="hed"`` (see :mod:`.stains`), else
        "cluster <label>".

        Returns
        -------
        list of str

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> seg.default_names()
        ['cluster 1', 'cluster 2', 'cluster 3']
        """
        from ..features.stains import names_for

        names = names_for(self.centers, self.feature_space)
        names = names if names is not None else [f"cluster {i}" for i in self.index]
        stored = self.names or {}
        return [stored.get(int(i), n) for i, n in zip(self.index, names)]

    def default_background(self) -> list[int]:
        """The labels that start as background.

        The model's (:attr:`background`), else those whose :meth:`default_names` start
        with "background".

        Returns
        -------
        list of int

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> seg.default_background()
        []
        >>> seg.model.named(background=[1]).apply(image).default_background()
        [1]
        """
        if self.background is not None:
            return [int(b) for b in self.background]
        names = self.default_names()
        return [int(i) for i, n in zip(self.index, names) if n.strip().lower().startswith("background")]

    def table(
        self,
        names: list[str] | None = None,
        channel_names=None,
        *,
        background=None,
        scale=None,
        unit: str | None = None,
    ) -> dict[str, np.ndarray]:
        """The cluster table: one row per cluster, as a dict of columns.

        Parameters
        ----------
        names : list of str, optional
            One name per cluster; default :meth:`default_names`.
        channel_names : list of str, optional
            Suffixes of the centre columns; default R, G, B for RGB images, "value" for one
            channel, else 0, 1, ...
        background : iterable of int, optional
            Labels that are background (glass, empty space).
        scale : sequence of float, optional
            Pixel size per spatial axis.
        unit : str, optional
            Length unit of ``scale``.

        Returns
        -------
        dict of str to ndarray
            ``index`` (label), ``name``, ``count``, ``fraction`` and ``center_<channel>``.
            Given ``background``, ``scale`` or ``unit``, the area columns of
            :func:`~napari_kmeans_segment.area_table` are added: ``background``,
            ``area_px``, ``area``, ``area_unit``, ``share`` (of the whole image, label 0
            included) and ``tissue_share`` (of the non-background clusters).

        Raises
        ------
        ValueError
            For a background label that is not a cluster, or a ``scale`` that does not give
            one finite, non-zero size per spatial axis.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> table = seg.table(background=[1], scale=(0.5, 0.5), unit="um")
        >>> list(table)[:5]
        ['index', 'name', 'count', 'fraction', 'center_value']
        >>> table["center_value"].tolist(), table["area"].tolist()
        ([0.0, 100.0, 200.0], [50.0, 50.0, 50.0])
        >>> [round(float(s), 2) for s in table["tissue_share"][1:]]
        [0.5, 0.5]
        """
        names = self.default_names() if names is None else names
        table = cluster_table(
            self.index,
            self.counts,
            self.centers,
            names,
            channel_names,
            rgb=bool(self.params.get("rgb", True)),
        )
        if background is not None or scale is not None or unit is not None:
            from ..measure.measure import area_table

            level = self.labels[0] if self.multiscale else self.labels
            ndim = len(self.params.get("spatial_shape") or np.shape(level))
            areas = area_table(
                self.index,
                self.counts,
                background=background or (),
                scale=scale,
                unit=unit,
                ndim=ndim,
                image_px=int(np.prod(np.shape(level))),  # glass (label 0) included: % of the image
            )
            table.update({k: v for k, v in areas.items() if k != "index"})
        return table

    @property
    def model(self) -> KMeansModel:
        """The model that labels images as this result does (merges included)."""
        centers = np.asarray(self.centers, np.float64)
        if self.label_map is not None:  # back to one centre per model cluster
            centers = centers[np.searchsorted(self.index, self.label_map)]
        return KMeansModel(
            feature_centers=np.asarray(self.feature_centers, np.float64),
            centers=centers,
            feature_space=self.feature_space,
            params=dict(self.params),
            label_map=None if self.label_map is None else np.asarray(self.label_map),
            names=None if self.names is None else dict(self.names),
            background=self.background,
        )

    def save(self, path) -> Path:
        """Write this result's model (centres, parameters, feature settings) as JSON.

        Parameters
        ----------
        path : str or Path
            The file to write (replaced atomically if it exists).

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        ValueError
            When ``path`` is a folder.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> from napari_kmeans_segment import load_model
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = seg.save(Path(folder) / "bands.json")
        ...     model = load_model(path)
        >>> path.name, model.n_clusters
        ('bands.json', 3)
        """
        return self.model.save(path)

    # -- operations: each returns new data, never modifies this result ------------------------
    def merge(self, group) -> Segmentation:
        """This result with the clusters labelled ``group`` merged into ``min(group)``.

        Labels, recoloured image (the merged cluster's pixels take the pixel-weighted mean of
        the group's centres; alpha and label-0 pixels are kept), centres, counts and the
        label map (hence :attr:`model`) are updated together. Works on numpy, dask (stays
        lazy) and multiscale results.

        Parameters
        ----------
        group : iterable of int
            At least two labels of :attr:`index`.

        Returns
        -------
        Segmentation
            A new result; this one is not modified.

        Raises
        ------
        TypeError
            For a label that is not a whole number (``1.5``, ``True``).
        ValueError
            For fewer than two labels, or labels that are not clusters of this result.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> merged = seg.merge([2, 3])
        >>> merged.index.tolist(), merged.counts.tolist(), merged.centers.ravel().tolist()
        ([1, 2], [200, 400], [0.0, 150.0])
        >>> np.unique(merged.labels).tolist(), np.unique(merged.recolored).tolist()
        ([1, 2], [0, 150])
        """
        group = check_group(group, self.index)
        index, centers, counts, merged = merge_rows(group, self.index, self.centers, self.counts)
        del index  # the same as unique(label_map) below
        axis = self._channel_axis()
        n_color = self.centers.shape[1]

        def one(labels, recolored):
            value = to_dtype(merged, recolored.dtype)
            return (relabel(labels, group), fill(recolored, member(labels, group), value, n_color, axis))

        if self.multiscale:
            levels = [one(lab, rec) for lab, rec in zip(self.labels, self.recolored, strict=True)]
            labels, recolored = [lv[0] for lv in levels], [lv[1] for lv in levels]
        else:
            labels, recolored = one(self.labels, self.recolored)
        label_map = merge_label_map(self.label_map, self.feature_centers.shape[0], group)
        gone = set(group[1:])  # the merged cluster keeps the name and mark of its first label
        return replace(
            self,
            labels=labels,
            recolored=recolored,
            centers=centers,
            counts=counts,
            label_map=label_map,
            params=dict(self.params),
            names=None if self.names is None else {k: v for k, v in self.names.items() if k not in gone},
            background=None
            if self.background is None
            else tuple(b for b in self.background if b not in gone),
        )

    def masked(self, image, hidden):
        """The tutorial's masked image: a copy with the ``hidden`` clusters' pixels set to 0.

        Alpha is kept.

        Parameters
        ----------
        image : array-like, dask array or list of levels
            The image segmented, or one of its layout; a dask array gives a lazy result, and
            a multiscale result takes (and returns) a list of levels, finest first.
        hidden : iterable of int
            The labels to hide.

        Returns
        -------
        ndarray, dask array or list
            ``image``'s shape and dtype.

        Raises
        ------
        ValueError
            When the image's spatial shape is not the labels' shape, or a multiscale result
            is not given a list of as many levels.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> np.unique(seg.masked(image, hidden=[3])).tolist()
        [0, 100]
        """
        axis = self._channel_axis()
        n_color = self.centers.shape[1]
        if self.multiscale:
            if not isinstance(image, list | tuple) or len(image) != len(self.labels):
                raise ValueError(
                    f"This result has {len(self.labels)} levels: pass the image's "
                    "levels as a list, finest first."
                )
            return [
                mask_image(im, lab, hidden, n_color, axis) for im, lab in zip(image, self.labels, strict=True)
            ]
        img = image if is_dask(image) else np.asarray(image)
        return mask_image(img, self.labels, hidden, n_color, axis)

    def extract(self, label: int, objects: bool = False, min_size: int = 0):
        """One cluster as a Labels array: a 0/1 mask, or its connected pieces numbered 1..n.

        Dask labels give a lazy mask; a multiscale result gives one mask per level, or the
        objects of the finest level.

        Parameters
        ----------
        label : int
            A label of :attr:`index`.
        objects : bool
            Number the cluster's connected pieces (8-connected in 2D) instead of a 0/1 mask.
        min_size : int
            With ``objects``: pieces smaller than this many pixels are dropped.

        Returns
        -------
        ndarray (uint8 or wider), dask array or list of them
            The labels' shape.

        Raises
        ------
        ValueError
            For a label that is not a cluster of this result, a negative ``min_size``, or a
            cluster without pixels.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> seg = segment(image, 3, seed=0)
        >>> mask = seg.extract(2)
        >>> int(mask.sum()), int(mask[0, 15]), int(mask[0, 0])
        (200, 1, 0)
        >>> int(seg.extract(2, objects=True).max())  # one band: one object
        1
        """
        label = int(label)
        if label not in set(self.index.tolist()):
            raise ValueError(f"No cluster {label} here: the clusters are {self.index.tolist()}.")
        if self.multiscale:
            if objects:
                return extract_cluster(self.labels[0], label, objects=True, min_size=min_size)
            return [extract_cluster(lab, label, min_size=min_size) for lab in self.labels]
        return extract_cluster(self.labels, label, objects=objects, min_size=min_size)

    def _channel_axis(self) -> int | None:
        """Axis of the channels in ``recolored`` (and the image); None for one channel."""
        lab = self.labels[0] if self.multiscale else self.labels
        rec = self.recolored[0] if self.multiscale else self.recolored
        if rec.ndim == lab.ndim:
            return None
        axis = self.params.get("channel_axis")
        return -1 if axis is None else int(axis)


def cluster_table(index, counts, centers, names=None, channel_names=None, *, rgb=True) -> dict:
    """The per-cluster table; channels are named R, G, B only for RGB images (a
    three-channel fluorescence stack's channels are 0, 1, 2)."""
    index = np.asarray(index)
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    centers = np.asarray(centers, np.float64)
    if channel_names is None:
        channel_names = (
            ["R", "G", "B"]
            if centers.shape[1] == 3 and rgb
            else ["value"]
            if centers.shape[1] == 1
            else [str(i) for i in range(centers.shape[1])]
        )
    table = {
        "index": index,
        "name": np.array(names if names is not None else [f"cluster {i}" for i in index], dtype=object),
        "count": counts,
        # 0.0 for a cluster without pixels; undefined (NaN, an empty CSV cell) without any pixel
        "fraction": counts / total if total else np.full(len(counts), np.nan),
    }
    for j, ch in enumerate(channel_names):
        table[f"center_{ch}"] = centers[:, j]
    return table


def finish_fit(seg: Segmentation, plan: SlidePlan, dab_thresholds=None, seed: int = 0) -> Segmentation:
    """The fitted result with its stain report; the model keeps the thresholds (derived from
    the clusters unless given), the white level and each stain's spread."""
    from ..features.stains import STAINS
    from ..measure.positivity import check_thresholds, derive_thresholds, stain_amounts
    from ..measure.slide_stains import report, spread, tissue_sample

    fs = seg.feature_space
    labels_flat = np.asarray(seg.labels).reshape(-1)
    px, lab = tissue_sample(plan, labels_flat, np.random.default_rng(seed))
    amounts = stain_amounts(px, plan.white.white, fs.stain_matrix)
    if dab_thresholds is None:
        names = seg.default_names()
        dab_labels = [int(i) for i, name in zip(seg.index, names) if name.startswith("DAB")]
        thresholds = derive_thresholds(amounts[:, STAINS.index("DAB")], lab, dab_labels)
        source = "clusters"
    else:
        thresholds, source = check_thresholds(dab_thresholds), "given"
    params = dict(
        seg.params,
        white=plan.white.to_dict(),
        positivity_thresholds=[float(v) for v in thresholds],
        thresholds_source=source,
        stain_spread=spread(amounts),
    )
    return replace(seg, params=params, stains=report(plan, fs, thresholds))


def finish_apply(
    seg: Segmentation, plan: SlidePlan, fs_slide: FeatureSpace, dab_thresholds=None, seed: int = 0
) -> Segmentation:
    """An applied result with its stain report, measured with the model's thresholds (or
    ``dab_thresholds``), and a warning when the slide shows a stain the model's slides did not."""
    from ..measure.positivity import check_thresholds, stain_amounts
    from ..measure.slide_stains import report, spread, stain_pair_warning, tissue_sample

    model_params = seg.params
    thresholds = check_thresholds(
        dab_thresholds if dab_thresholds is not None else model_params.get("positivity_thresholds")
    )
    r = report(plan, fs_slide, thresholds)
    fitted = model_params.get("stain_spread")
    if fitted is not None:
        labels_flat = np.asarray(seg.labels).reshape(-1)
        px, _ = tissue_sample(plan, labels_flat, np.random.default_rng(seed))
        now = spread(stain_amounts(px, plan.white.white, fs_slide.stain_matrix))
        r = r.with_warnings(stain_pair_warning(fitted, now))
    params = dict(seg.params, white=plan.white.to_dict())
    return replace(seg, params=params, stains=r)
