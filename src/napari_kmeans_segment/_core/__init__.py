"""The Qt-free compute core: numpy and OpenCV only (cv2 is imported where it is used).

One job per file: options (defaults, validation), numerics (nearest centre, Lloyd, thread
pool), fitting_run (the Run's steps), fitting (the fitter), segment (the dispatcher), lazy
(dask and multiscale), result (Segmentation), model (KMeansModel and its file), clusters
(hide/merge/extract on labels), suggest (which K), features, image.
"""

from .clusters import extract_cluster, mask_clusters, merge_clusters
from .image import Cancelled, PixelImage
from .model import KMeansModel, load_model
from .options import DEFAULTS, INITS, MODES, Options
from .result import Segmentation, cluster_table, recolor
from .segment import segment
from .suggest import SuggestKResult, suggest_k

__all__ = [
    "DEFAULTS",
    "INITS",
    "MODES",
    "Cancelled",
    "KMeansModel",
    "Options",
    "PixelImage",
    "Segmentation",
    "SuggestKResult",
    "cluster_table",
    "extract_cluster",
    "load_model",
    "mask_clusters",
    "merge_clusters",
    "recolor",
    "segment",
    "suggest_k",
]
