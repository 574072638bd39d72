"""Which clusters are the objects' foreground, without merging them by hand.

In a fluorescence image the background is the darkest cluster, and bright and dim objects
may fall into several brighter clusters: "all but darkest" takes them all. In a brightfield
image (stained cells on a white slide) the background is the brightest: "all but brightest".
Brightness is the clusters' centres' luminance (mean of the channels for non-RGB images),
so the choice holds after merges and on any numbering.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..fit.numerics import luminance_order

#: The named choices, as the dock and the CLI offer them.
FOREGROUNDS = ("all but darkest", "all but brightest")


def foreground_labels(seg, which: str | int | Iterable[int]) -> list[int]:
    """The cluster labels that make up the foreground of a result.

    Parameters
    ----------
    seg : Segmentation
        A result (its ``index``, ``centers``, ``counts`` and ``params["rgb"]`` are read).
    which : {"all but darkest", "all but brightest"}, int or iterable of int
        A named choice, or the labels themselves (checked against ``seg.index``).

    Returns
    -------
    list of int
        Sorted labels.

    Raises
    ------
    ValueError
        For an unknown choice, a label that is not a cluster, or a result with one cluster.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_segment import foreground_labels, segment
    >>> image = np.zeros((20, 30), np.uint8)
    >>> image[:, 10:20] = 100
    >>> image[:, 20:] = 200
    >>> seg = segment(image, 3, seed=0)
    >>> foreground_labels(seg, "all but darkest"), foreground_labels(seg, "all but brightest")
    ([2, 3], [1, 2])
    >>> foreground_labels(seg, [3, 2])
    [2, 3]
    """
    index = [int(i) for i in np.asarray(seg.index)]
    if isinstance(which, str):
        if which not in FOREGROUNDS:
            raise ValueError(f"foreground={which!r}: choose one of {list(FOREGROUNDS)} or cluster labels.")
        if len(index) < 2:
            raise ValueError(f"'{which}' needs at least two clusters; this result has {len(index)}.")
        order = luminance_order(seg.centers, seg.counts, bool(seg.params.get("rgb")))
        drop = index[int(order[0] if which == "all but darkest" else order[-1])]
        return sorted(i for i in index if i != drop)
    labels = [which] if isinstance(which, int | np.integer) else list(which)
    out = sorted({int(v) for v in labels})
    missing = [v for v in out if v not in index]
    if not out or missing:
        raise ValueError(f"foreground={which!r}: choose labels among the clusters {index}.")
    return out
