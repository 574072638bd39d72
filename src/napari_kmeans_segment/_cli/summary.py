"""The batch summary: one row per image with its pixels, the share of every cluster, the
share of tissue, object counts with their median and mean area in pixels (with --objects per
cluster, with --objects-of for the foreground) and, for stain runs (--color-space hed), the
slide's tissue, DAB positivity bins, H-score, saturated pixels and warnings.

Cluster columns are named by the clusters' names (``tissue_share_DAB``); clusters without a
name of their own ("cluster 3") keep their label (``share_3``). The ``legend`` column says
which label each named column is, as labels may differ from image to image when each image
is fitted on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._core.options import MIN_OBJECT_PIXELS

#: Columns of a stain run, from the slide's report (``Segmentation.stains``).
STAIN_COLUMNS = [
    "glass_px",
    "tissue_pct",
    "positive_pct_of_tissue",
    "weak_pct_of_tissue",
    "moderate_pct_of_tissue",
    "strong_pct_of_tissue",
    "h_score",
    "saturated_px",
    "white",
    "dab_thresholds",
]
CLUSTER_PREFIXES = ("share_", "tissue_share_", "objects_", "median_area_", "mean_area_")
FOREGROUND_COLUMNS = [
    "foreground_clusters",
    "objects_foreground",
    "median_area_foreground",
    "mean_area_foreground",
]


def column_keys(names: Mapping[int, str] | None, labels: Sequence[int]) -> dict[int, str]:
    """The column suffix of each label: its name made safe for a column ("haematoxylin 2"
    -> "haematoxylin_2"), or the label itself for a default name ("cluster 3" -> "3"), or
    when two names would give one column."""
    names = names or {}
    keys: dict[int, str] = {}
    for lab in labels:
        name = str(names.get(lab, f"cluster {lab}"))
        key = re.sub(r"\W+", "_", name).strip("_")
        if (
            name == f"cluster {lab}"
            or not key
            or key.isdigit()
            or key in keys.values()
            or key == "foreground"
        ):
            key = str(lab)
        keys[lab] = key
    return keys


def image_row(
    name: str,
    counts: np.ndarray,
    labels: np.ndarray | None,
    args,
    background: Sequence[int] = (),
    foreground: Sequence[int] = (),
    names: Mapping[int, str] | None = None,
    stains=None,
    notes: Sequence[str] = (),
    *,
    index: Sequence[int] | None = None,
) -> dict:
    """One summary row from ``counts`` (``counts[L]`` = pixels labelled L, ``counts[0]`` =
    pixels left out: the glass of a stain run). Objects are counted on ``labels`` when they
    are in memory. The tissue leaves out ``--background``, else ``background`` (the model's
    marks, or the clusters a ``hed`` fit without tissue detection names "background"), as
    the dock does. ``foreground``: the clusters ``--objects-of`` names for this image;
    ``names``: the clusters' names; ``stains``: the slide's report; ``notes``: warnings.

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
    present = index
    keys = column_keys(names, present)
    row: dict = {"file": name, "status": "ok", "pixels": int(counts.sum()), "clustered": clustered}
    reasons = []
    for lab in present:
        row[f"share_{keys[lab]}"] = counts[lab] / clustered if clustered else None
    if not clustered:
        reasons.append("no pixel was clustered, so no share is defined")
    if background or stains is not None:
        back = sum(int(counts[b]) for b in background if b < len(counts))
        tissue = clustered - back
        row["tissue"] = tissue
        for lab in present:
            if lab not in background:
                row[f"tissue_share_{keys[lab]}"] = counts[lab] / tissue if tissue else None
        if clustered and not tissue:
            reasons.append("no tissue: every clustered pixel is background, so no tissue share is defined")
    if reasons:
        row["reason"] = "; ".join(reasons)
    if stains is not None:
        report = stains.row()
        row.update({k: report[k] for k in STAIN_COLUMNS})
    min_size = MIN_OBJECT_PIXELS if args.min_size is None else args.min_size
    split = bool(getattr(args, "split", False))
    if args.objects and labels is not None:
        for lab in args.objects:
            key = keys.get(lab, str(lab))
            n, median, mean = object_stats(labels, [lab], min_size, split)
            row[f"objects_{key}"] = n
            row[f"median_area_{key}"] = median
            row[f"mean_area_{key}"] = mean
    if getattr(args, "objects_of", None) and labels is not None and foreground:
        n, median, mean = object_stats(labels, foreground, min_size, split)
        row["foreground_clusters"] = "+".join(str(int(v)) for v in foreground)
        row["objects_foreground"] = n
        row["median_area_foreground"] = median
        row["mean_area_foreground"] = mean
    named = {lab: k for lab, k in keys.items() if k != str(lab)}
    if named:  # which label each named column is (the others are named by their label)
        row["legend"] = "; ".join(f"{k}={lab}" for lab, k in named.items())
    row["warning"] = " | ".join(" ".join(w.split()) for w in image_warnings(stains, notes))
    return row


def image_warnings(stains, notes: Sequence[str]) -> list[str]:
    """An image's warnings: its slide report's, then ``notes``, each once, empty ones left out."""
    return list(dict.fromkeys(w for w in [*(() if stains is None else stains.warnings), *notes] if w))


def failed_row(name: str, message: str) -> dict:
    return {"file": name, "status": f"failed: {message}"}


def interrupted_row(name: str) -> dict:
    """The row of an image a Ctrl+C or SIGTERM left unprocessed (nothing of it written)."""
    return {"file": name, "status": "not processed: interrupted"}


def object_stats(labels: np.ndarray, clusters: Sequence[int], min_size: int, split: bool) -> tuple:
    """(count, median area, mean area) in pixels of the objects of ``clusters`` (the same
    objects as the dock's "count objects"); empty areas when there is no object."""
    from .._core.measure.measure import extract_objects

    present = [c for c in clusters if (labels == c).any()]
    if not present:
        return 0, "", ""
    _, table = extract_objects(labels, present, min_size=min_size, split=split)
    area = np.asarray(table["area_px"], np.float64)
    if area.size == 0:
        return 0, "", ""
    return int(area.size), float(np.median(area)), float(area.mean())


def columns(rows: list[dict]) -> list[str]:
    """Fixed columns first, then per-cluster columns (numbered ones in label order, named
    ones as the rows name them), the foreground's objects, then the legend and the warnings."""
    fixed = ["file", "status", "pixels", "clustered", "tissue", *STAIN_COLUMNS]
    present = {k for r in rows for k in r}
    cols = [c for c in fixed if c in present]
    for prefix in CLUSTER_PREFIXES:
        keys = list(
            dict.fromkeys(
                k[len(prefix) :]
                for r in rows
                for k in r
                if k.startswith(prefix) and k not in FOREGROUND_COLUMNS
            )
        )
        numbered = sorted((k for k in keys if k.isdigit()), key=int)
        cols += [f"{prefix}{k}" for k in numbered + [k for k in keys if not k.isdigit()]]
    cols += [c for c in FOREGROUND_COLUMNS if c in present]
    return cols + [c for c in ("legend", "warning", "reason") if c in present]


def write_summary(path: Path, rows: list[dict], tx) -> None:
    from .outputs import write_rows

    write_rows(tx.temp(path), rows, columns(rows))
