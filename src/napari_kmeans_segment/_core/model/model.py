"""A reusable model (:class:`KMeansModel`): saved centres that label new images the same
way, its JSON file format and :func:`load_model`."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..features.features import FeatureSpace
from ..features.image import PixelImage
from ..fit.numerics import labels_dtype
from ..fit.smoothing import model_sigmas
from ..options import Options, options_of
from .clusters import check_group, merge_label_map
from .model_check import background_problem, check_model_dict, check_names, names_problem

if TYPE_CHECKING:
    from .result import Segmentation

MODEL_FORMAT = "napari-kmeans-segment model"
MODEL_FORMAT_VERSION = 1
# A model holds K x channels numbers twice, names and a few settings: even 65535 clusters of
# 4 channels with names stay far below this. Larger files are refused before reading them.
MAX_MODEL_BYTES = 64 * 2**20


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("napari-kmeans-segment")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


@dataclass
class KMeansModel:
    """Saved cluster centres that label new images the same way.

    Made by :attr:`Segmentation.model` or read by :func:`load_model`; :meth:`apply` labels
    an image with it.

    Attributes
    ----------
    feature_centers : ndarray (K, F)
        The centres in feature space, which pixels are assigned to.
    centers : ndarray (K, C)
        The centres in the image's units, which labelled pixels are recoloured with.
    feature_space : FeatureSpace
        How pixels become features (colour space, scaling, stains).
    params : dict
        The parameters of the fit (see :attr:`options`).
    version : str
        The version of napari-kmeans-segment that made the model.
    label_map : ndarray (K,) or None
        After merges: the label each cluster is written as.
    names : dict or None
        ``{label: name}``; None: default names.
    background : tuple of int or None
        The labels marked as background; None: decided by the names.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> model = segment(image, 3, seed=0).model
    >>> model.n_clusters, model.n_channels, model.labels
    (3, 1, [1, 2, 3])
    >>> other = np.array([[5, 95, 190]], np.uint8)  # another image of the same kind
    >>> model.apply(other).labels.tolist()
    [[1, 2, 3]]
    """

    feature_centers: np.ndarray
    centers: np.ndarray
    feature_space: FeatureSpace
    params: dict
    version: str = field(default_factory=package_version)
    label_map: np.ndarray | None = None  # cluster i is written as label label_map[i]
    # What the person called the labels (after merges) and which are background; None: not
    # stored (older files), so results take default names (stain names for "hed").
    names: dict[int, str] | None = None
    background: tuple[int, ...] | None = None

    @property
    def n_clusters(self) -> int:
        """K, the number of clusters fitted (merges do not change it; see :attr:`labels`)."""
        return int(self.feature_centers.shape[0])

    @property
    def n_channels(self) -> int:
        """The number of colour channels of the images the model labels (alpha left out)."""
        return int(self.centers.shape[1])

    @property
    def options(self) -> Options:
        """The :class:`~.options.Options` this model was fitted with (as recorded in
        :attr:`params`; defaults for any a file written by an older version lacks; K is
        always the model's)."""
        return options_of({**self.params, "n_clusters": self.n_clusters})

    @property
    def measures_stains(self) -> bool:
        """True for a ``hed`` model with tissue detection (it measures each slide it labels)."""
        fs = self.feature_space
        return fs.color_space == "hed" and fs.tissue_od is not None and fs.white is not None

    def on_white(self, white) -> KMeansModel:
        """This model measuring optical densities against a slide's own ``white`` level.

        Parameters
        ----------
        white : (float, float, float)
            The R, G, B of the slide's bare glass, in the image's units.

        Returns
        -------
        KMeansModel
            A copy; this model is not modified.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> rng = np.random.default_rng(0)
        >>> slide = np.full((40, 40, 3), (235, 232, 228), np.uint8)  # glass
        >>> slide[10:30, 5:20] = (80, 60, 150)  # haematoxylin
        >>> slide[10:30, 22:35] = (160, 110, 60)  # DAB
        >>> slide = np.clip(np.rint(slide + rng.normal(0, 2, slide.shape)), 0, 255).astype(np.uint8)
        >>> model = segment(slide, 2, color_space="hed", seed=0).model
        >>> model.feature_space.white.tolist()
        [235.0, 232.0, 228.0]
        >>> model.on_white((240, 240, 240)).feature_space.white.tolist()
        [240.0, 240.0, 240.0]
        """
        return replace(self, feature_space=self.feature_space.on_white(white))

    def for_slide(self, white) -> KMeansModel:
        """This model on a slide's own ``white`` level, labelling every pixel (no tissue detection).

        What labels a large slide block by block, where the tissue is decided per block
        afterwards (:func:`.lazy.glass_to_zero`).

        Parameters
        ----------
        white : (float, float, float)
            The R, G, B of the slide's bare glass, in the image's units.

        Returns
        -------
        KMeansModel
            A copy; this model is not modified.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> rng = np.random.default_rng(0)
        >>> slide = np.full((40, 40, 3), (235, 232, 228), np.uint8)  # glass
        >>> slide[10:30, 5:20] = (80, 60, 150)  # haematoxylin
        >>> slide[10:30, 22:35] = (160, 110, 60)  # DAB
        >>> slide = np.clip(np.rint(slide + rng.normal(0, 2, slide.shape)), 0, 255).astype(np.uint8)
        >>> model = segment(slide, 2, color_space="hed", seed=0).model
        >>> model.measures_stains, model.for_slide((240, 240, 240)).measures_stains
        (True, False)
        """
        fs = self.feature_space.on_white(white)
        fs.tissue_od = None
        return replace(self, feature_space=fs)

    def apply(
        self,
        image,
        *,
        mask=None,
        rgb=None,
        channel_axis=None,
        multiscale: bool = False,
        scale=None,
        white_level=None,
        dab_thresholds=None,
        progress=None,
        cancel=None,
    ) -> Segmentation:
        """Label ``image`` by assigning every pixel to the nearest saved centre.

        Labels keep their numbers, so label 3 means the same class on every image.

        A model that measures stains (``color_space="hed"`` with tissue detection) first
        finds this slide's white level (``white_level`` if given, else from its glass, else
        the model's own) and its tissue, then labels the tissue against that white level,
        so another exposure gives the same optical densities; the result's ``stains``
        measures the slide with the model's DAB thresholds (or ``dab_thresholds``).

        Parameters
        ----------
        image : array-like, dask array, or list of levels
            A numpy image is labelled now. A dask array (or, with ``multiscale=True``, a list
            of levels, finest first) is labelled lazily, block by block; its ``counts`` and
            ``compactness`` are estimated from a sample (``params["estimated"]``).
        mask : array-like or None
            Nonzero where pixels are labelled (numpy images only).
        rgb, channel_axis
            The image's layout, as for :func:`~napari_kmeans_segment.segment`; both None:
            the layout of the image the model was fitted on.
        multiscale : bool
            ``image`` is a list of levels; ``labels`` and ``recolored`` are lists too.
        scale : sequence of float, optional
            The pixel size per spatial axis: a model fitted with ``smoothing`` smooths over
            its width in these units; without it, over the pixels it was fitted with.
        white_level : float, (float, float, float) or None
            A model that measures stains: this slide's white level (default: from its glass).
        dab_thresholds : (float, float, float) or None
            A model that measures stains: DAB thresholds other than the model's.
        progress, cancel
            As for :func:`~napari_kmeans_segment.segment`.

        Returns
        -------
        Segmentation
            Labelled with the model's labels and recoloured with its centres;
            ``params["method"]`` is "model".

        Raises
        ------
        TypeError
            For no image, an image whose dtype is not numeric, or a ``channel_axis`` that is
            not a whole number.
        ValueError
            For a mask with a lazy or multiscale image, an image with another number of
            channels than the model's, a layout that does not fit the image,
            ``white_level``/``dab_thresholds`` given to a model that does not measure
            stains (or out of range), a slide without glass to find its white level on, or
            a model with position features (``spatial_weight > 0``) and an image of
            another shape.
        Cancelled
            When ``cancel`` returned True.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> model = segment(image, 3, seed=0).model
        >>> other = np.zeros((4, 4), np.uint8)
        >>> other[2:] = 190
        >>> result = model.apply(other)
        >>> result.labels.tolist()
        [[1, 1, 1, 1], [1, 1, 1, 1], [3, 3, 3, 3], [3, 3, 3, 3]]
        >>> result.counts.tolist(), result.params["method"]
        ([8, 0, 8], 'model')
        """
        # Imported here: a result holds a model (result -> model), applying one makes a result.
        from ..fit.fitting_run import Run
        from ..options import for_model
        from .clusters import is_dask
        from .result import Segmentation, recolor

        if rgb is None and channel_axis is None:
            rgb = self.params.get("rgb")
            channel_axis = self.params.get("channel_axis")
        if multiscale or is_dask(image):
            from .apply import apply_lazily

            if mask is not None:
                raise ValueError(
                    "A mask cannot be used when applying a model to a lazy (dask) or multiscale "
                    "image. Load the image (np.asarray) or a region of it first."
                )
            return apply_lazily(
                self,
                image,
                rgb=rgb,
                channel_axis=channel_axis,
                multiscale=multiscale,
                white_level=white_level,
                dab_thresholds=dab_thresholds,
                progress=progress,
                cancel=cancel,
            )
        img = PixelImage(image, rgb=rgb, channel_axis=channel_axis, mask=mask)
        if img.n_channels != self.n_channels:
            raise ValueError(
                f"This model was fitted on images with {self.n_channels} channel(s); the "
                f"image has {img.n_channels}. Apply it to images like the one it came from."
            )
        fs = self.feature_space
        slide = None
        if white_level is not None or dab_thresholds is not None:
            from ..measure.slide_stains import check_slide_option

            if not self.measures_stains:
                raise ValueError(
                    "white_level and dab_thresholds apply to a model that measures stains "
                    "(color_space='hed' with tissue detection); this one does not."
                )
            check_slide_option("white_level", white_level)
            check_slide_option("dab_thresholds", dab_thresholds)
        if self.measures_stains:
            from ..measure.slide_stains import plan_slide

            slide = plan_slide(
                img,
                image,
                rgb=rgb,
                channel_axis=channel_axis,
                white_level=white_level,
                tissue_od=fs.tissue_od,
                fallback_white=fs.white,
            )
            img = slide.img
            fs = fs.on_white(slide.white.white)
        if (
            self.feature_space.spatial_weight > 0
            and self.params.get("spatial_shape")
            and tuple(self.params["spatial_shape"]) != img.spatial_shape
        ):
            raise ValueError(
                "This model uses pixel positions (spatial_weight > 0) and was fitted on an image "
                f"of shape {tuple(self.params['spatial_shape'])}; the image has "
                f"{img.spatial_shape}. Refit instead."
            )
        sigmas = model_sigmas(self.params, img.spatial_shape, scale)
        opts = for_model(self.n_clusters)
        run = Run(img, fs, opts, 0, progress, cancel)
        note = range_warning(self.params, img, img.value_bounds(run.check))
        if note:
            warnings.warn(note, UserWarning, stacklevel=2)
        planes = self.params.get("planes") if self.params.get("per_plane") else None
        if planes and len(img.spatial_shape) >= 3 and img.spatial_shape[0] == len(planes):
            white = None if slide is None else slide.white.white
            labels, counts, compactness = self._assign_planes(
                img, planes, opts, progress, cancel, None if sigmas is None else sigmas[1:], white
            )
        else:
            if planes:
                warnings.warn(
                    f"This model was fitted plane by plane on a stack of {len(planes)} planes; "
                    f"this image has spatial shape {img.spatial_shape}, so every plane is "
                    "labelled with the first plane's centres. Apply it to its own stack, or "
                    "fit the new stack with per_plane=True.",
                    UserWarning,
                    stacklevel=2,
                )
            run.prepare(fitted=True)
            fc = self.feature_centers.astype(np.float32)
            labels, counts, _, compactness = run.assign(fc)
            if sigmas is not None:
                t = self.params.get("smoothing_temperature") or compactness / max(img.n_valid, 1)
                labels, compactness = run.smooth(fc, sigmas, float(t))
                counts, _ = run.cluster_stats(labels)
        centers = self.centers.copy()
        label_map = None
        if self.merges:
            # merged clusters: relabel, then one row per remaining label
            label_map = np.asarray(self.label_map)
            lut = np.zeros(self.n_clusters + 1, labels.dtype)
            lut[1:] = label_map
            labels = lut[labels]
            index = np.unique(label_map)
            rows = np.searchsorted(index, label_map)
            counts = np.bincount(rows, weights=counts, minlength=len(index)).astype(np.int64)
            centers = self.label_colors()[index - 1]
        # Recolour with the model's centres: a class keeps its colour on every image.
        recolored = recolor(img, labels, self.label_colors())
        seg = Segmentation(
            labels=labels.reshape(img.spatial_shape),
            recolored=recolored,
            centers=centers,
            counts=counts,
            compactness=compactness,
            feature_centers=self.feature_centers.copy(),
            feature_space=self.feature_space,
            params=dict(self.params, method="model", applied=True),
            label_map=label_map,
            names=None if self.names is None else dict(self.names),
            background=self.background,
        )
        if slide is None:
            return seg
        from .result import finish_apply

        return finish_apply(seg, slide, fs, dab_thresholds)

    def _assign_planes(self, img, planes, opts, progress, cancel, sigmas=None, white=None):
        """Each plane of the stack with its own plane's feature space and centres (stored in
        the reference numbering), as the per-plane fit labelled it."""
        from ..fit.fitting_run import Run

        moved = img.arr3.reshape(*img.spatial_shape, img.full_channels)
        mask = None if img.mask is None else img.mask.reshape(img.spatial_shape)
        labels = np.empty(img.spatial_shape, labels_dtype(self.n_clusters))
        counts = np.zeros(self.n_clusters, np.int64)
        compactness = 0.0
        for i, plane in enumerate(planes):

            def sub_progress(f, msg, i=i):
                if progress:
                    progress((i + f) / len(planes), f"plane {i + 1}/{len(planes)}: {msg}")

            sub = PixelImage(moved[i], rgb=img.rgb, channel_axis=-1, mask=None if mask is None else mask[i])
            fs = FeatureSpace.from_dict(plane["feature_space"])
            if white is not None:
                fs = fs.on_white(white)
            run = Run(sub, fs, opts, 0, sub_progress, cancel)
            run.prepare(fitted=True)
            fc = np.asarray(plane["feature_centers"], np.float32)
            lab, n, _, comp = run.assign(fc)
            if sigmas is not None:
                t = plane.get("smoothing_temperature") or comp / max(sub.n_valid, 1)
                lab, comp = run.smooth(fc, sigmas, float(t))
                n, _ = run.cluster_stats(lab)
            labels[i] = lab.reshape(sub.spatial_shape)
            counts += n
            compactness += comp
        return labels.reshape(-1), counts, compactness

    @property
    def merges(self) -> bool:
        """True when some clusters are written under another cluster's label."""
        return self.label_map is not None and not np.array_equal(
            self.label_map, np.arange(1, self.n_clusters + 1)
        )

    @property
    def labels(self) -> list[int]:
        """The labels this model writes (1..K, fewer after merges)."""
        if self.label_map is None:
            return list(range(1, self.n_clusters + 1))
        return sorted({int(v) for v in self.label_map})

    def named(self, names=None, background=None) -> KMeansModel:
        """This model with cluster names and background labels.

        Results of :meth:`apply` and the saved file keep them.

        Parameters
        ----------
        names : dict of int to str, optional
            ``{label: name}``; labels left out take default names. None keeps the model's
            names; ``{}`` clears them.
        background : iterable of int, optional
            The labels that are background. None keeps the model's; ``()`` clears them.

        Returns
        -------
        KMeansModel
            A copy; this model is not modified.

        Raises
        ------
        ValueError
            For a label that this model does not write, a name that is empty, longer than
            200 characters or holds line breaks, or a label listed twice as background.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> model = segment(image, 3, seed=0).model
        >>> named = model.named({3: "bright"}, background=[1])
        >>> named.label_names(), named.default_background()
        (['cluster 1', 'cluster 2', 'bright'], [1])
        """
        labels = set(self.labels)
        names = self.names if names is None else names
        background = self.background if background is None else background
        if names is not None:
            names = {int(k) if isinstance(k, np.integer) else k: v for k, v in dict(names).items()}
            problem = names_problem(names, labels)
            if problem:
                raise ValueError(f"Cluster names: {problem}. Rename the cluster and save again.")
            names = {int(k): str(v) for k, v in names.items()}
        if background is not None:
            background = [int(b) if isinstance(b, np.integer) else b for b in background]
            problem = background_problem(background, labels)
            if problem:
                raise ValueError(f"Background: {problem}. Mark clusters of this model only.")
            background = tuple(sorted(background))
        return replace(self, names=names, background=background)

    def label_names(self) -> list[str]:
        """A name for every label of :attr:`labels`.

        The stored one, else a stain name for ``color_space="hed"``, else "cluster <label>".

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
        >>> model = segment(image, 3, seed=0).model
        >>> model.label_names()
        ['cluster 1', 'cluster 2', 'cluster 3']
        """
        from ..features.stains import names_for

        labels = self.labels
        default = names_for(self.label_colors()[np.asarray(labels) - 1], self.feature_space)
        default = default or [f"cluster {i}" for i in labels]
        stored = self.names or {}
        return [stored.get(lab, d) for lab, d in zip(labels, default)]

    def default_background(self) -> list[int]:
        """The labels that are background.

        Those this model marks as background, else those :meth:`label_names` call
        "background..." (the clusters a ``hed`` fit without tissue detection finds unstained).

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
        >>> model = segment(image, 3, seed=0).model
        >>> model.default_background(), model.named(background=[1]).default_background()
        ([], [1])
        """
        from ..measure.measure import background_labels

        if self.background is not None:
            return [int(b) for b in self.background]
        return background_labels(self.labels, self.label_names())

    def label_colors(self) -> np.ndarray:
        """The colour of every label: row L - 1 is what pixels labelled L are recoloured with.

        Returns
        -------
        ndarray (max label, C)
            Centres in the image's units, one row per label up to the largest written;
            after a merge the merged clusters share one row, and the row of a label no
            longer written is 0.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> model = segment(image, 3, seed=0).model
        >>> model.label_colors().ravel().tolist()
        [0.0, 100.0, 200.0]
        >>> model.merged([1, 2], [50.0]).label_colors().ravel().tolist()
        [50.0, 0.0, 200.0]
        """
        if not self.merges:
            return self.centers
        label_map = np.asarray(self.label_map)
        dense = np.zeros((int(label_map.max()), self.centers.shape[1]))
        dense[label_map - 1] = self.centers  # members of a merge share one centre
        return dense

    def merged(self, group, center) -> KMeansModel:
        """This model with the clusters labelled ``group`` written as ``min(group)``.

        As :meth:`.Segmentation.merge` does; the merged label is recoloured with ``center``.
        The merged cluster keeps the name and background mark of its lowest label.

        Parameters
        ----------
        group : iterable of int
            The labels to merge.
        center : array-like (C,)
            The merged cluster's colour, in the image's units.

        Returns
        -------
        KMeansModel
            A copy; this model is not modified.

        Raises
        ------
        TypeError
            For a label in ``group`` that is not a whole number.
        ValueError
            For fewer than two labels, labels this model does not write, or a ``center``
            that is not one finite value per channel.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> model = segment(image, 3, seed=0).model
        >>> merged = model.merged([2, 3], [150.0])
        >>> merged.labels, merged.label_map.tolist()
        ([1, 2], [1, 2, 2])
        >>> merged.apply(image).counts.tolist()
        [200, 400]
        """
        group = check_group(group, self.labels)
        color = np.asarray(center, np.float64).reshape(-1)
        if color.shape != (self.n_channels,) or not np.isfinite(color).all():
            raise ValueError(
                f"center needs {self.n_channels} finite value(s), one per channel of the model; "
                f"got {np.asarray(center).tolist()!r:.60}."
            )
        label_map = merge_label_map(self.label_map, self.n_clusters, group)
        centers = self.centers.copy()
        centers[label_map == group[0]] = color
        gone = set(group[1:])  # the merged cluster keeps the name and mark of its first label
        names = None if self.names is None else {k: v for k, v in self.names.items() if k not in gone}
        background = None if self.background is None else tuple(b for b in self.background if b not in gone)
        return replace(self, label_map=label_map, centers=centers, names=names, background=background)

    def to_dict(self) -> dict:
        """The model as plain JSON-ready data, as :meth:`save` writes it.

        Returns
        -------
        dict
            The format header, K, the centres, the feature space, the parameters and
            options, the label map, names and background.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> model = segment(image, 3, seed=0).model
        >>> d = model.to_dict()
        >>> d["format"], d["n_clusters"], d["centers"]
        ('napari-kmeans-segment model', 3, [[0.0], [100.0], [200.0]])
        """
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "package_version": self.version,
            "n_clusters": self.n_clusters,
            "n_channels": self.n_channels,
            "feature_centers": self.feature_centers.tolist(),
            "centers": self.centers.tolist(),
            "feature_space": self.feature_space.to_dict(),
            "params": _jsonable(self.params),
            "options": _jsonable(self.options.to_dict()),
            "label_map": None if self.label_map is None else np.asarray(self.label_map).tolist(),
            # optional (files written before them still load): {"label": name}, [labels]
            "names": None if self.names is None else {str(k): v for k, v in sorted(self.names.items())},
            "background": None if self.background is None else list(self.background),
        }

    def save(self, path) -> Path:
        """Write the model as JSON, atomically.

        A uniquely named temporary file in the same folder (never ``path + '.tmp'``, which
        may be someone's file) replaces ``path`` only once complete, and is removed on any
        failure.

        Parameters
        ----------
        path : str or Path
            The file to write.

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
        >>> model = segment(image, 3, seed=0).model
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = model.save(Path(folder) / "bands.json")
        ...     again = load_model(path)
        >>> again.labels, again.centers.ravel().tolist()
        ([1, 2, 3], [0.0, 100.0, 200.0])
        """
        path = Path(path)
        if path.is_dir():
            raise ValueError(
                f"{path} is a folder: give a file name for the model, such as {path / 'model.json'}."
            )
        text = json.dumps(self.to_dict(), indent=2)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            # mkstemp makes the file private (0600); a model is an ordinary document
            os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def from_dict(cls, d) -> KMeansModel:
        """A model from the data :meth:`to_dict` makes (as read from a model file).

        Parameters
        ----------
        d : dict
            A model's data; every field is checked.

        Returns
        -------
        KMeansModel

        Raises
        ------
        ValueError
            When ``d`` is not a model (no model header), has another format version, or is
            damaged (a field missing, of the wrong type or inconsistent with another).

        Examples
        --------
        >>> from napari_kmeans_segment import KMeansModel
        >>> import numpy as np
        >>> from napari_kmeans_segment import segment
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 10:20] = 100
        >>> image[:, 20:] = 200
        >>> model = segment(image, 3, seed=0).model
        >>> KMeansModel.from_dict(model.to_dict()).labels
        [1, 2, 3]
        >>> KMeansModel.from_dict({"format": "something else"})
        Traceback (most recent call last):
        ...
        ValueError: This file is not a napari-kmeans-segment model (no model header).
        """
        if not isinstance(d, dict) or d.get("format") != MODEL_FORMAT:
            raise ValueError("This file is not a napari-kmeans-segment model (no model header).")
        if d.get("format_version") != MODEL_FORMAT_VERSION:
            raise ValueError(
                f"This model file has format version {d.get('format_version')}; this version of "
                f"napari-kmeans-segment reads version {MODEL_FORMAT_VERSION}. Refit and save "
                "the model again."
            )
        fc, c, fs, params, label_map = check_model_dict(d)
        names, background = check_names(d, label_map, fc.shape[0])
        return cls(
            fc,
            c,
            fs,
            params,
            version=str(d.get("package_version", "")),
            label_map=label_map,
            names=names,
            background=background,
        )


def load_model(path) -> KMeansModel:
    """Read a model written by :meth:`Segmentation.save` (plain JSON, never pickle).

    Parameters
    ----------
    path : str or Path
        The model's .json file.

    Returns
    -------
    KMeansModel

    Raises
    ------
    ValueError
        When ``path`` is missing, not a regular file (a FIFO or a device such as /dev/zero
        would block or never end), larger than any model (:data:`MAX_MODEL_BYTES`), not JSON,
        or a damaged model (every field is checked: :mod:`.model_check`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from napari_kmeans_segment import load_model, segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = segment(image, 3, seed=0).save(Path(folder) / "bands.json")
    ...     model = load_model(path)
    >>> model.n_clusters, model.apply(np.array([[190, 5]], np.uint8)).labels.tolist()
    (3, [[3, 1]])
    >>> load_model("no-such-model.json")
    Traceback (most recent call last):
    ...
    ValueError: No model file at no-such-model.json.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"No model file at {path}.") from None
    except OSError as e:
        raise ValueError(f"Could not read {path} as a model file: {e.strerror or e}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"{path} is not a regular file (a folder, FIFO or device); give a model's .json file."
        )
    if st.st_size > MAX_MODEL_BYTES:
        raise ValueError(_too_big(path, st.st_size))
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MODEL_BYTES + 1)  # the size can change after the stat
        if len(data) > MAX_MODEL_BYTES:
            raise ValueError(_too_big(path, len(data)))
        text = data.decode("utf-8")
    except OSError as e:
        raise ValueError(f"Could not read {path} as a model file: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a model file (not UTF-8 text).") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"{path} is not a model file (not JSON).") from None
    except RecursionError:  # '[' * 100000: valid-looking JSON nested too deep to read
        raise ValueError(f"{path} is not a model file (JSON nested too deeply).") from None
    return KMeansModel.from_dict(d)


def _too_big(path: Path, size: int) -> str:
    return (
        f"{path} is not a model file: {size / 2**20:.0f} MiB or more, larger than any model "
        f"({MAX_MODEL_BYTES // 2**20} MiB at most). Choose the model's .json file."
    )


def range_warning(params: dict, img: PixelImage, bounds) -> str | None:
    """A sentence when the image's values are far from those the model was fitted on
    (another scale, or mostly outside the fitted range); None when they are comparable."""
    fitted = params.get("image_range")
    if not fitted or not img.n_valid:
        return None
    lo, hi = (np.asarray(v, np.float64) for v in fitted)
    lo2, hi2 = bounds
    if lo.shape != lo2.shape:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        span, span2 = hi - lo, hi2 - lo2
        outside = bool(((lo2 < lo - span) | (hi2 > hi + span)).any())
        shrunk = bool((span2 * 20 < span).all())
    dtype = str(params.get("image_dtype", img.dtype))
    if not outside and not (shrunk and dtype != str(img.dtype)):
        return None
    return (
        f"This model was fitted on a {dtype} image with values in {lo.min():.4g}..{hi.max():.4g}; "
        f"this image is {img.dtype} with values in {lo2.min():.4g}..{hi2.max():.4g}, another "
        "range, so its pixels may all fall into one or two clusters. Convert the image to the "
        "model's range (e.g. multiply a [0, 1] image by 255) or fit a new model on it."
    )


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x
