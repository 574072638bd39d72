"""The Qt-free compute core: numpy and OpenCV only (cv2 is imported where it is used).

Subpackages by job:

- ``features/``: image (an array read as pixels), features (the feature space), stains (colour
  deconvolution and stain names), tissue (white level, optical density, tissue mask);
- ``fit/``: numerics (nearest center, Lloyd, thread pool), fitting_run (the Run's steps, the
  exact recipe), fitting_fast, summaries and candidates (the fast path), fitting (the fitter),
  smoothing (spatially coherent labels), color_boxes (the label of every 8-bit colour);
- ``model/``: result (Segmentation and its operations), clusters (hide/merge/extract on
  labels), model (KMeansModel and its file), model_check (validation of a model file), apply
  (a model on dask and multiscale images);
- ``measure/``: measure (areas, shares of tissue, measured objects), split (touching objects
  apart), foreground, positivity (DAB bins, H-score), slide_stains (a slide's stains inside a
  fit or an apply), uncertainty (distance to the centers, outliers).

At the top: options (Options: every tunable of a fit, its default and its check), segment (the
dispatcher), lazy (dask and multiscale), suggest (which K), versions (working library
versions), csv_safe (the CSV writer), truth and synthetic_slides (known answers for tests and
benchmarks).
"""

from .features.image import Cancelled, PixelImage
from .features.stains import stain_densities, stain_names
from .features.tissue import estimate_white_level
from .measure.foreground import FOREGROUNDS, foreground_labels
from .measure.measure import area_table, background_labels, extract_objects, label_counts
from .measure.uncertainty import distance_map, outlier_fraction
from .model.clusters import extract_cluster, mask_clusters, merge_clusters
from .model.model import KMeansModel, load_model
from .model.result import Segmentation, cluster_table, recolor
from .options import DEFAULTS, INITS, MIN_OBJECT_PIXELS, MODES, Options
from .segment import segment
from .suggest import SuggestKResult, suggest_k

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
