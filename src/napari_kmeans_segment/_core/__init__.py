"""The Qt-free compute core: numpy and OpenCV only (cv2 is imported where it is used)."""

from .clusters import extract_cluster, mask_clusters, merge_clusters
from .image import Cancelled, PixelImage
from .result import KMeansModel, Segmentation, cluster_table, load_model
from .segment import segment
from .suggest import SuggestKResult, suggest_k

__all__ = [
    "Cancelled",
    "KMeansModel",
    "PixelImage",
    "Segmentation",
    "SuggestKResult",
    "cluster_table",
    "extract_cluster",
    "load_model",
    "mask_clusters",
    "merge_clusters",
    "segment",
    "suggest_k",
]
