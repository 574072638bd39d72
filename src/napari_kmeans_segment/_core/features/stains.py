"""Colour deconvolution of brightfield RGB slides into stain densities, and stain names.

Densities are in scikit-image's :func:`skimage.color.rgb2hed` units: optical density
(base 10) divided by 6, times the inverse of the stain matrix, clipped at 0. With the fixed
(Ruifrok & Johnston) vectors, :func:`stain_densities` of 8-bit pixels equals ``rgb2hed`` of
them. The columns are always haematoxylin, eosin, DAB (:data:`STAINS`), also when the
vectors are estimated from the image (:func:`macenko_matrix`).
"""

from __future__ import annotations

import numpy as np

STAINS = ("haematoxylin", "eosin", "DAB")
STAIN_VECTORS = ("fixed", "macenko")
BACKGROUND = "background"
# Mean optical density (base 10) per RGB channel below which a pixel counts as unstained
# glass: Macenko et al.'s beta. White (255) is 0; 180 of 255 is 0.15.
BACKGROUND_OD = 0.15
# A cluster *centre* is named background only below this mean OD (80% transmission, about
# 203 of 255): a centre averages its pixels, so a cluster of glass plus a share of pale
# nuclei still averages below BACKGROUND_OD. On skimage's immunohistochemistry slide the
# real background's centre is at 0.075-0.086 (K = 3..5) and K = 2's light cluster, which
# holds the nuclei too, at 0.107: it is named by its stain (haematoxylin), not background.
NAME_BACKGROUND_OD = 0.10
FEATURE_SPAN = 100.0  # each stain's robust spread in feature units (see stain_scale)
MIN_TRANSMISSION = 1.0 / 255  # floor on I / white (see optical_density)


def fixed_matrix() -> np.ndarray:
    """scikit-image's ``hed_from_rgb`` (Ruifrok & Johnston H, E, DAB vectors): OD rows -> densities."""
    from skimage.color import hed_from_rgb

    return np.asarray(hed_from_rgb, np.float64)


def optical_density(px: np.ndarray, value_range, min_transmission: float = MIN_TRANSMISSION) -> np.ndarray:
    """(n, 3) pixel values -> (n, 3) float32 optical density ``-log10(I / value_range)``.

    ``value_range`` is white: one value, or the R, G, B of a slide's glass (its white level).

    Transmission is floored at ``min_transmission`` (1/255: an 8-bit 0 reads as a 1).
    ``rgb2hed`` floors at 1e-6, so a 0 in one 8-bit channel reads as an OD of 6 and a 1
    as 2.4: a handful of clipped pixels then sit far from all others and can capture a
    cluster of their own. Pass 1e-6 to reproduce ``rgb2hed`` exactly.
    """
    x = np.asarray(px, np.float32)[:, :3] / np.asarray(value_range, np.float32)
    return -np.log10(np.maximum(x, np.float32(min_transmission)))


def stain_densities(
    px: np.ndarray,
    value_range: float,
    matrix: np.ndarray | None = None,
    min_transmission: float = MIN_TRANSMISSION,
) -> np.ndarray:
    """The densities of haematoxylin, eosin and DAB of RGB pixels (colour deconvolution).

    Parameters
    ----------
    px : ndarray (n, 3)
        RGB values; ``value_range`` is white (255 for 8-bit, 1.0 for floats in [0, 1]).
    value_range : float
        The value of full transmission.
    matrix : ndarray (3, 3), optional
        OD -> density matrix (rows R, G, B; columns H, E, DAB); default :func:`fixed_matrix`.
    min_transmission : float
        See :func:`optical_density`; 1e-6 gives ``rgb2hed``'s values for every pixel.

    Returns
    -------
    ndarray (n, 3) float32
        Columns haematoxylin, eosin, DAB, in ``rgb2hed``'s units, at least 0.

    Examples
    --------
    White glass has no stain; a blue-purple pixel is mostly haematoxylin and a brown one
    mostly DAB:

    >>> import numpy as np
    >>> from napari_kmeans_segment import stain_densities
    >>> pixels = np.array([[255, 255, 255], [60, 40, 120], [150, 90, 40]], np.uint8)
    >>> np.round(stain_densities(pixels, 255).astype(float), 3).tolist()
    [[0.0, 0.0, 0.0], [0.155, 0.02, 0.009], [0.0, 0.0, 0.179]]
    """
    m = fixed_matrix() if matrix is None else np.asarray(matrix, np.float64)
    od = optical_density(px, value_range, min_transmission)
    # column by column, not a matrix product: BLAS's own threads on an (n, 3) x (3, 3)
    # product made a slide's colour table take 1-8 s on a busy 2-core machine
    w = (m / 6.0).astype(np.float32)
    d = np.empty_like(od)
    for j in range(3):
        col = d[:, j]
        np.multiply(od[:, 0], w[0, j], out=col)
        col += od[:, 1] * w[1, j]
        col += od[:, 2] * w[2, j]
    return np.maximum(d, 0, out=d)


def stain_scale(densities: np.ndarray, floor: float = 0.25) -> np.ndarray:
    """Per-stain divisor that gives each stain a comparable say in k-means.

    The robust spread (99th minus 1st percentile) of each stain's density on a sample.
    Raw densities let DAB, whose densities span about three times haematoxylin's on a
    typical slide, dominate the distances, so k-means splits DAB into intensity levels and
    loses haematoxylin. A stain that is (nearly) absent would be blown up to noise, so no
    divisor is smaller than ``floor`` times the largest one. Divided by it, each stain
    spans about 0..100 (:data:`FEATURE_SPAN`), like Lab's lightness, so that ``epsilon``
    (compared with the squared shift of the centres) means about what it means in Lab.
    """
    d = np.asarray(densities, np.float64)
    spread = np.percentile(d, 99, axis=0) - np.percentile(d, 1, axis=0)
    top = float(spread.max()) if spread.size and spread.max() > 0 else 1.0
    return (np.maximum(spread, floor * top) / FEATURE_SPAN).astype(np.float32)


def macenko_matrix(
    px: np.ndarray, value_range: float, *, beta: float = BACKGROUND_OD, alpha: float = 1.0
) -> np.ndarray:
    """Stain matrix (OD -> densities, columns H, E, DAB) estimated from the pixels (Macenko 2009).

    Tissue pixels (mean OD above ``beta``) are projected on the plane of the two
    main directions of their optical densities; the ``alpha``-th and (100 - ``alpha``)-th
    percentiles of the angle in that plane are the two stains. The one absorbing more red is
    haematoxylin; the other goes to eosin or DAB, whichever fixed vector it is closer to. The
    remaining stain is the direction orthogonal to both.

    Raises ValueError when fewer than 100 pixels are stained.
    """
    from skimage.color import rgb_from_hed

    od = optical_density(px, value_range).astype(np.float64)
    # Macenko drops pixels with any channel's OD below beta; that also drops pale pure eosin
    # (which hardly absorbs red). The mean OD, as for naming background, keeps it.
    tissue = od[od.mean(axis=1) > beta]
    if tissue.shape[0] < 100:
        raise ValueError(
            f"Only {tissue.shape[0]} stained pixel(s) (mean optical density above {beta}): too "
            "few to estimate stain vectors. Use stain_vectors='fixed', or a region with more tissue."
        )
    _, vecs = np.linalg.eigh(np.cov(tissue, rowvar=False))
    plane = vecs[:, 1:3]  # the two largest eigenvalues (eigh sorts ascending)
    plane = plane * np.where(plane.sum(axis=0) < 0, -1.0, 1.0)  # point into positive OD
    proj = tissue @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    h, other = (v1, v2) if v1[0] > v2[0] else (v2, v1)
    ref = np.asarray(rgb_from_hed, np.float64)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    other = other / np.linalg.norm(other)
    slot = 1 if abs(other @ ref[1]) > abs(other @ ref[2]) else 2
    rows = np.zeros((3, 3))
    rows[0] = h / np.linalg.norm(h)
    rows[slot] = other
    # As skimage's hdx_from_rgb: the missing stain is the normal of the plane, which keeps
    # the matrix well conditioned (its densities are a residual, mostly clipped to 0).
    third = np.cross(rows[0], other)
    rows[3 - slot] = third / np.linalg.norm(third)
    return np.linalg.inv(rows)


def dominant_stains(
    centers: np.ndarray,
    value_range: float = 255.0,
    *,
    matrix=None,
    scale=None,
    background_od: float = NAME_BACKGROUND_OD,
) -> list[str]:
    """The stain of each cluster centre: ``"background"`` or one of :data:`STAINS`.

    A centre whose mean optical density per channel is below ``background_od`` (absolute:
    80% transmission by default, not merely the palest cluster) is background (unstained
    glass); otherwise the stain with the largest
    density divided by ``scale`` (the feature space's per-stain divisor, so that the
    stains are compared as k-means saw them; default 1).

    Parameters
    ----------
    centers : ndarray (K, 3)
        Cluster centres in the RGB image's units.
    value_range : float
        White: 255 for 8-bit images, 65535 for 16-bit, 1.0 for floats in [0, 1].
    matrix, scale : ndarray, optional
        The feature space's stain matrix and per-stain divisor.
    background_od : float
        Threshold on the mean OD (base 10) of the three channels.
    """
    c = np.asarray(centers, np.float64)
    if c.ndim != 2 or c.shape[1] < 3:
        raise ValueError(f"Stain names need RGB centres of shape (K, 3); got {c.shape}.")
    od = optical_density(c[:, :3], value_range)
    z = stain_densities(c[:, :3], value_range, matrix) / (
        np.ones(3, np.float32) if scale is None else np.asarray(scale, np.float32)
    )
    return [
        BACKGROUND if od[i].mean() < background_od else STAINS[int(np.argmax(z[i]))]
        for i in range(c.shape[0])
    ]


def stain_names(
    centers: np.ndarray,
    value_range: float = 255.0,
    *,
    matrix=None,
    scale=None,
    background_od: float = NAME_BACKGROUND_OD,
) -> list[str]:
    """Unique cluster names from the stain of each centre: "DAB", "haematoxylin", "background".

    A centre absorbing less than ``background_od`` (mean optical density) is background,
    else it is named by the stain with the largest density (:func:`dominant_stains`).
    When several clusters share a stain, the one with the most of it keeps the plain name
    and the others are numbered by decreasing density ("DAB", "DAB 2", ...); background
    clusters are numbered from the lightest. Every name starts with its stain, so
    ``name.startswith("DAB")`` finds all DAB clusters.

    Parameters
    ----------
    centers : ndarray (K, 3)
        Cluster centres in the RGB image's units.
    value_range : float
        White: 255 for 8-bit images, 65535 for 16-bit, 1.0 for floats in [0, 1].
    matrix, scale : ndarray, optional
        The stain matrix (default: the fixed vectors) and per-stain divisor (default 1).
    background_od : float
        Threshold on the mean OD (base 10) of the three channels.

    Returns
    -------
    list of str
        One name per centre.

    Raises
    ------
    ValueError
        For centres that are not of shape (K, 3) or more columns.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import stain_names
    >>> centers = np.array([[235, 235, 232], [70, 60, 140], [90, 70, 160], [160, 100, 50]])
    >>> stain_names(centers)
    ['background', 'haematoxylin', 'haematoxylin 2', 'DAB']
    """
    base = dominant_stains(centers, value_range, matrix=matrix, scale=scale, background_od=background_od)
    c = np.asarray(centers, np.float64)[:, :3]
    dens = stain_densities(c, value_range, matrix)
    total_od = optical_density(c, value_range).sum(axis=1)
    names = list(base)
    for stain in set(base):
        members = [i for i, b in enumerate(base) if b == stain]
        if len(members) < 2:
            continue
        key = total_od if stain == BACKGROUND else -dens[:, STAINS.index(stain)]
        for rank, i in enumerate(sorted(members, key=lambda i: key[i])):
            names[i] = stain if rank == 0 else f"{stain} {rank + 1}"
    return names


def names_for(centers, feature_space, **kw) -> list[str] | None:
    """Default cluster names for a result in ``feature_space``: stain names for "hed", else None.

    With tissue detection (``feature_space.tissue_od`` set) the glass is left out before
    clustering, so no cluster is named background: the palest is pale tissue (stroma).
    """
    if getattr(feature_space, "color_space", None) != "hed":
        return None
    if getattr(feature_space, "tissue_od", None) is not None:
        kw.setdefault("background_od", -np.inf)
    return stain_names(
        centers,
        feature_space.white_level,
        matrix=feature_space.stain_matrix,
        scale=feature_space.stain_scale,
        **kw,
    )
