"""TEMPORARY stand-in for Segmentation.merge/.masked/.extract (API.md) until the core branch
([core-merge]) lands on main; deleted then. Adds the methods only when they are missing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ._core import Segmentation
from ._core.clusters import extract_cluster, mask_clusters
from ._core.result import to_dtype


def _map(data: Any, fn: Any) -> Any:
    if isinstance(data, list):
        return [_map(d, fn) for d in data]
    if isinstance(data, np.ndarray):
        return fn(data)
    return data.map_blocks(fn, dtype=data.dtype)


def _layout(seg: Segmentation) -> tuple[bool, Any]:
    return bool(seg.params.get("rgb")), seg.params.get("channel_axis")


def _merge(self: Segmentation, group: Any) -> Segmentation:
    index = self.index
    group = sorted({int(g) for g in group})
    if len(group) < 2:
        raise ValueError("Select at least two clusters to merge.")
    for g in group:
        if g not in index.tolist():
            raise ValueError(f"No cluster {g} here: the clusters are {index.tolist()}.")
    target = group[0]
    rows = np.flatnonzero(np.isin(index, group))
    keep = np.flatnonzero(~np.isin(index, group[1:]))
    w = self.counts[rows].astype(float)
    merged = (self.centers[rows] * w[:, None]).sum(0) / max(w.sum(), 1)
    centers = self.centers.astype(float).copy()
    counts = self.counts.copy()
    centers[rows[0]] = merged
    counts[rows[0]] = self.counts[rows].sum()
    lut = np.arange(int(index.max()) + 1)
    lut[group] = target
    labels = _map(self.labels, lambda b: lut[b].astype(b.dtype))
    rgb, axis = _layout(self)

    def recolor(rec: Any, lab: Any) -> Any:
        sel = np.isin(lab, [target])
        value = to_dtype(merged, np.dtype(rec.dtype))
        if rgb:
            n = min(3, rec.shape[-1])
            return np.concatenate([np.where(sel[..., None], value[:n], rec[..., :n]),
                                   rec[..., n:]], axis=-1)
        if axis is not None:
            moved = np.moveaxis(rec, axis, -1)
            return np.moveaxis(np.where(sel[..., None], value, moved), -1, axis)
        return np.where(sel, value[0], rec)

    def both(rec: Any, lab: Any) -> Any:
        if isinstance(rec, np.ndarray):
            return recolor(rec, np.asarray(lab))
        import dask
        import dask.array as da

        return da.from_delayed(dask.delayed(recolor)(rec, lab), rec.shape, rec.dtype)

    if isinstance(self.recolored, list):
        recolored = [both(r, lb) for r, lb in zip(self.recolored, labels)]
    else:
        recolored = both(self.recolored, labels)
    k = self.feature_centers.shape[0]
    label_map = (np.arange(1, k + 1) if self.label_map is None else np.asarray(self.label_map)).copy()
    label_map[np.isin(label_map, group)] = target
    return replace(self, labels=labels, recolored=recolored, centers=centers[keep],
                   counts=counts[keep], label_map=label_map)


def _masked(self: Segmentation, image: Any, hidden: Any) -> Any:
    rgb, axis = _layout(self)
    hidden = [int(h) for h in hidden]
    if isinstance(image, list):
        return [_masked(replace(self, labels=lb), im, hidden)
                for im, lb in zip(image, self.labels)]
    if isinstance(image, np.ndarray) and isinstance(self.labels, np.ndarray):
        return mask_clusters(image, self.labels, hidden, rgb=rgb if axis is None else None,
                             channel_axis=axis)
    import dask
    import dask.array as da

    return da.from_delayed(dask.delayed(mask_clusters)(
        image, self.labels, hidden, rgb=rgb if axis is None else None, channel_axis=axis),
        image.shape, image.dtype)


def _extract(self: Segmentation, label: int, objects: bool = False, min_size: int = 0) -> Any:
    lab = self.labels[0] if isinstance(self.labels, list) else self.labels
    return extract_cluster(np.asarray(lab), label, objects=objects, min_size=min_size)


for _name, _fn in (("merge", _merge), ("masked", _masked), ("extract", _extract)):
    if not hasattr(Segmentation, _name):
        setattr(Segmentation, _name, _fn)
