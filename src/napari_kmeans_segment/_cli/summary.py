"""The batch summary: one row per image with its pixels, the share of every cluster, the
share of tissue (with --background) and object counts with their median and mean area in
pixels (with --objects per cluster, with --objects-of for the foreground)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._core.options import MIN_OBJECT_PIXELS


def image_row(
    name: str,
    counts: np.ndarray,
    labels: np.ndarray | None,
    args,
    background: Sequence[int] = (),
    foreground: Sequence[int] = (),
    *,
    index: Sequence[int] | None = None,
) -> dict:
    """One summary row from ``counts`` (``counts[L]`` = pixels labelled L, ``counts[0]`` =
    pixels left out). Objects are counted on ``labels`` when they are in memory. The tissue
    leaves out ``--background``, else ``background`` (the model's marks, or the clusters a
    ``hed`` fit names "background"), as the dock does. ``foreground``: the clusters
    ``--objects-of`` names for this image.

    ``index``: the labels the model writes (default 1..len(counts) - 1). Every one of them
    gets its columns, so a cluster without pixels in this image reads 0.0 (not an empty cell
    as if it did not exist). A ratio whose denominator is 0 (no pixel clustered, no tissue) is
    undefined: its cell stays empty and the ``reason`` column says why.
    """
    background = tuple(dict.fromkeys(tuple(args.background) or tuple(int(b) for b in background)))
    counts = np.asarray(counts, np.int64)
    index = list(range(1, len(counts))) if index is None else [int(i) for i in index]
    if index and max(index) >= len(counts):  # the top clusters have no pixel here
        counts = np.pad(counts, (0, max(index) + 1 - len(counts)))
    clustered = int(counts[1:].sum())
    row: dict = {"file": name, "status": "ok", "pixels": int(counts.sum()), "clustered": clustered}
    reasons = []
    for lab in index:
        row[f"share_{lab}"] = counts[lab] / clustered if clustered else None
    if not clustered:
        reasons.append("no pixel was clustered, so no share is defined")
    if background:
        back = sum(int(counts[b]) for b in background if b < len(counts))
        tissue = clustered - back
        row["tissue"] = tissue
        for lab in index:
            if lab not in background:
                row[f"tissue_share_{lab}"] = counts[lab] / tissue if tissue else None
        if clustered and not tissue:
            reasons.append("no tissue: every clustered pixel is background, so no tissue share is defined")
    if reasons:
        row["reason"] = "; ".join(reasons)
    min_size = MIN_OBJECT_PIXELS if args.min_size is None else args.min_size
    split = bool(getattr(args, "split", False))
    if args.objects and labels is not None:
        for lab in args.objects:
            n, median, mean = object_stats(labels, [lab], min_size, split)
            row[f"objects_{lab}"] = n
            row[f"median_area_{lab}"] = median
            row[f"mean_area_{lab}"] = mean
    if getattr(args, "objects_of", None) and labels is not None and foreground:
        n, median, mean = object_stats(labels, foreground, min_size, split)
        row["foreground_clusters"] = "+".join(str(int(v)) for v in foreground)
        row["objects_foreground"] = n
        row["median_area_foreground"] = median
        row["mean_area_foreground"] = mean
    return row


def failed_row(name: str, message: str) -> dict:
    return {"file": name, "status": f"failed: {message}"}


def object_stats(labels: np.ndarray, clusters: Sequence[int], min_size: int, split: bool) -> tuple:
    """(count, median area, mean area) in pixels of the objects of ``clusters`` (the same
    objects as the dock's "count objects"); empty areas when there is no object."""
    from .._core.measure import extract_objects

    present = [c for c in clusters if (labels == c).any()]
    if not present:
        return 0, "", ""
    _, table = extract_objects(labels, present, min_size=min_size, split=split)
    area = np.asarray(table["area_px"], np.float64)
    if area.size == 0:
        return 0, "", ""
    return int(area.size), float(np.median(area)), float(area.mean())


def columns(rows: list[dict]) -> list[str]:
    """Fixed columns first, then per-cluster columns in label order."""
    fixed = ["file", "status", "pixels", "clustered", "tissue"]
    present = {k for r in rows for k in r}
    cols = [c for c in fixed if c in present]
    for prefix in ("share_", "tissue_share_", "objects_", "median_area_", "mean_area_"):
        labs = sorted(
            {int(k[len(prefix) :]) for k in present if k.startswith(prefix) and k[len(prefix) :].isdigit()}
        )
        cols += [f"{prefix}{lab}" for lab in labs]
    foreground = [
        "foreground_clusters",
        "objects_foreground",
        "median_area_foreground",
        "mean_area_foreground",
    ]
    cols += [c for c in foreground if c in present]
    if "reason" in present:
        cols.append("reason")
    return cols


def write_summary(path: Path, rows: list[dict], tx) -> None:
    from .outputs import write_rows

    write_rows(tx.temp(path), rows, columns(rows))
