"""The batch summary: one row per image with its pixels, the share of every cluster, the
share of tissue (with --background) and object counts (with --objects)."""

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
    index: Sequence[int] | None = None,
) -> dict:
    """One summary row from ``counts`` (``counts[L]`` = pixels labelled L, ``counts[0]`` =
    pixels left out). Objects are counted on ``labels`` when they are in memory. The tissue
    leaves out ``--background``, else ``background`` (the model's marks, or the clusters a
    ``hed`` fit names "background"), as the dock does.

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
    if args.objects and labels is not None:
        min_size = MIN_OBJECT_PIXELS if args.min_size is None else args.min_size
        for lab in args.objects:
            row[f"objects_{lab}"] = count_objects(labels, lab, min_size)
    return row


def failed_row(name: str, message: str) -> dict:
    return {"file": name, "status": f"failed: {message}"}


def count_objects(labels: np.ndarray, label: int, min_size: int) -> int:
    """Connected pieces of cluster ``label`` of at least ``min_size`` pixels (the same
    pieces as the widget's "extract as objects")."""
    from napari_kmeans_segment import extract_cluster

    if not (labels == label).any():
        return 0
    return int(extract_cluster(labels, label, objects=True, min_size=min_size).max())


def columns(rows: list[dict]) -> list[str]:
    """Fixed columns first, then per-cluster columns in label order."""
    fixed = ["file", "status", "pixels", "clustered", "tissue"]
    present = {k for r in rows for k in r}
    cols = [c for c in fixed if c in present]
    for prefix in ("share_", "tissue_share_", "objects_"):
        labs = sorted(
            {int(k[len(prefix) :]) for k in present if k.startswith(prefix) and k[len(prefix) :].isdigit()}
        )
        cols += [f"{prefix}{lab}" for lab in labs]
    if "reason" in present:
        cols.append("reason")
    return cols


def write_summary(path: Path, rows: list[dict], tx) -> None:
    from .outputs import write_rows

    write_rows(tx.temp(path), rows, columns(rows))
