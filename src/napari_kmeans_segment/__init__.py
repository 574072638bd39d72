"""napari-kmeans-segment: unsupervised k-means segmentation of image layers in napari.

The public API is the Qt-free core; napari and Qt are imported only by the widget.
"""

from ._core import (
    Cancelled,
    KMeansModel,
    Options,
    Segmentation,
    SuggestKResult,
    area_table,
    background_labels,
    distance_map,
    estimate_white_level,
    extract_cluster,
    extract_objects,
    foreground_labels,
    load_model,
    mask_clusters,
    merge_clusters,
    outlier_fraction,
    segment,
    stain_densities,
    stain_names,
    suggest_k,
)
from ._core.lazy import segment_lazy, segment_multiscale

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "KMeansModel",
    "Options",
    "Segmentation",
    "SuggestKResult",
    "area_table",
    "background_labels",
    "distance_map",
    "estimate_white_level",
    "extract_cluster",
    "extract_objects",
    "foreground_labels",
    "load_model",
    "mask_clusters",
    "merge_clusters",
    "outlier_fraction",
    "segment",
    "segment_lazy",
    "segment_multiscale",
    "stain_densities",
    "stain_names",
    "suggest_k",
]
