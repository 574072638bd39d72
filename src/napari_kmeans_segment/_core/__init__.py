"""The Qt-free compute core: numpy and OpenCV only (cv2 is imported where it is used).

One job per file: options (Options: every tunable of a fit, its default and its check),
numerics (nearest centre, Lloyd, thread pool), fitting_run (the Run's steps), fitting (the
fitter), segment (the dispatcher), lazy (dask and multiscale), result (Segmentation), model
(KMeansModel and its file), clusters (hide/merge/extract on labels), suggest (which K),
features, image, stains (colour deconvolution and stain names), measure (areas, shares of
tissue, measured objects), uncertainty (distance to the centres, outliers).
"""

from .clusters import extract_cluster, mask_clusters, merge_clusters
from .foreground import FOREGROUNDS, foreground_labels
from .image import Cancelled, PixelImage
from .measure import area_table, background_labels, extract_objects, label_counts
from .model import KMeansModel, load_model
from .options import DEFAULTS, INITS, MIN_OBJECT_PIXELS, MODES, Options
from .result import Segmentation, cluster_table, recolor
from .segment import segment
from .stains import stain_densities, stain_names
from .suggest import SuggestKResult, suggest_k
from .tissue import estimate_white_level
from .uncertainty import distance_map, outlier_fraction

__all__ = [
    "DEFAULTS",
    "FOREGROUNDS",
    "MIN_OBJECT_PIXELS",
    "INITS",
    "MODES",
    "Cancelled",
    "KMeansModel",
    "Options",
    "PixelImage",
    "Segmentation",
    "SuggestKResult",
    "area_table",
    "background_labels",
    "cluster_table",
    "distance_map",
    "estimate_white_level",
    "extract_cluster",
    "extract_objects",
    "foreground_labels",
    "label_counts",
    "load_model",
    "mask_clusters",
    "merge_clusters",
    "outlier_fraction",
    "recolor",
    "segment",
    "stain_densities",
    "stain_names",
    "suggest_k",
]
