"""DAB-positive % of tissue in a folder of brightfield slides (the README's worked example).

    python scripts/dab_share_of_tissue.py slides/ -o dab.csv --pixel-size 0.5 --unit µm
    python scripts/dab_share_of_tissue.py --demo demo_slides/ -o dab.csv

One model fixes the classes and the scoring: stain densities (``color_space="hed"``), K=3,
fitted on a mosaic of tiles of every slide (or ``--model``). Tissue is told from glass by
optical density, the stains are clustered within the tissue, and the DAB thresholds (weak,
moderate, strong) come from the clusters and stay in the model. The model is applied to every
slide against that slide's own white level, so another exposure gives the same numbers. One
CSV row per slide: tissue area, DAB-positive % of tissue with its weak/moderate/strong bins
and H-score, each cluster's share of the tissue (columns named by the clusters), DAB
objects, saturated pixels, the share of pixels far from every class, and a warning column
(no glass, clipped glass, saturation, another stain pair, pixels unlike the model).
``--demo DIR`` first writes three pieces of scikit-image's immunohistochemistry sample there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import napari_kmeans_segment as nks
from napari_kmeans_segment._core.csv_safe import write_csv

SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
WARN_OUTLIERS = 0.05


def write_demo(folder: Path) -> list[Path]:
    from skimage import data, io

    folder.mkdir(parents=True, exist_ok=True)
    ihc = data.immunohistochemistry()
    # three overlapping pieces, each with some bare glass (the left edge, a lumen on the right)
    tiles = {"slide_a": ihc[:, :256], "slide_b": ihc[256:, :], "slide_c": ihc[:, 256:]}
    paths = []
    for name, tile in tiles.items():
        io.imsave(folder / f"{name}.png", tile, check_contrast=False)
        paths.append(folder / f"{name}.png")
    return paths


def mosaic(images, tile: int = 512) -> np.ndarray:
    """Tiles of every slide side by side (each at most ``tile`` pixels a side), each scaled
    to one white level (slides scanned with another exposure then look alike): one image
    whose glass gives the white level and whose tissue holds every slide's stains."""
    crops = [np.asarray(img)[:tile, :tile, :3] for img in images]
    whites = []
    for c in crops:
        try:
            whites.append(np.asarray(nks.estimate_white_level(c)))
        except ValueError:  # no glass on this tile: taken as it is
            whites.append(None)
    known = [w for w in whites if w is not None]
    ref = np.median(known, axis=0) if known else None
    scaled = [c if w is None or ref is None else _scaled(c, ref / w) for c, w in zip(crops, whites)]
    h = min(c.shape[0] for c in scaled)
    return np.concatenate([c[:h] for c in scaled], axis=1)


def _scaled(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    out = img * gain
    if img.dtype.kind in "ui":  # back to the slide's own integers
        out = np.clip(np.rint(out), 0, np.iinfo(img.dtype).max)
    return out.astype(img.dtype)


def fit_on_slides(images, seed: int = 0):
    """A model fitted on a mosaic of every slide (so every class is seen)."""
    model = nks.segment(mosaic(images), 3, color_space="hed", seed=seed).model
    # the stain names stored in the model, so the CLI's --model and the dock's apply give
    # the same classes
    return model.named(dict(zip(model.labels, model.label_names())), model.default_background())


def measure_slide(model, image, *, scale=None, unit=None, min_size=20) -> dict:
    """One slide's row: tissue, DAB positivity and H-score, cluster shares, objects, warnings."""
    seg = model.apply(image)
    r = seg.stains
    names = seg.default_names()
    table = seg.table(background=nks.background_labels(seg.index, names), scale=scale, unit=unit)
    pixel_area = float(table["area"][0] / table["area_px"][0]) if table["area_px"][0] else 1.0
    dab = [int(i) for i, n in zip(seg.index, names) if n.startswith("DAB")]
    shares = r.bin_shares()
    row = {
        "tissue_area": r.tissue_px * pixel_area,
        "glass_area": r.glass_px * pixel_area,
        "area_unit": str(table["area_unit"][0]),
        "tissue_pct": 100 * r.tissue_share,
        "positive_pct_of_tissue": 100 * r.positive_share,
        "weak_pct_of_tissue": 100 * shares[1],
        "moderate_pct_of_tissue": 100 * shares[2],
        "strong_pct_of_tissue": 100 * shares[3],
        "h_score": r.h_score,
    }
    tissue = r.tissue_px > 0
    for name, share in zip(names, table["tissue_share"]):
        # a fraction of the tissue, as summary.csv's column of the same name (the *_pct columns
        # are percentages); a share of no tissue is undefined (an empty cell, the reason beside it)
        row[f"tissue_share_{name.replace(' ', '_')}"] = float(np.nan_to_num(share)) if tissue else None
    dab = [d for d in dab if (seg.labels == d).any()]  # a slide without DAB has 0 objects
    row["DAB_objects"] = (
        int(nks.extract_objects(seg.labels, dab, min_size=min_size)[1]["label"].size) if dab else 0
    )
    row["saturated_px"] = r.saturated_px
    row["outlier_fraction"] = nks.outlier_fraction(model, image)
    warnings = list(r.warnings)
    if row["outlier_fraction"] > WARN_OUTLIERS:
        warnings.append(
            f"{100 * row['outlier_fraction']:.0f}% of pixels are far from every class of the model; "
            "check the slide or refit."
        )
    row["warning"] = " | ".join(warnings)
    row["reason"] = (
        "" if tissue else "no tissue: every pixel is glass or background, so no share of tissue is defined"
    )
    return row


def main(argv=None) -> int:
    from skimage import io

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", nargs="?", type=Path, help="folder of RGB slides")
    p.add_argument("-o", "--output", type=Path, default=Path("dab_share_of_tissue.csv"))
    p.add_argument("--model", type=Path, help="a saved model (default: fit on pixels of all slides)")
    p.add_argument("--save-model", type=Path, help="write the fitted model here")
    p.add_argument("--pixel-size", type=float, help="pixel size (both axes) in --unit")
    p.add_argument("--unit", default=None, help="length unit of --pixel-size, e.g. µm")
    p.add_argument("--min-size", type=int, default=20, help="smallest DAB object, pixels (as in the dock)")
    p.add_argument("--demo", type=Path, help="write three tiles of the IHC sample here and use them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing table or model file")
    a = p.parse_args(argv)
    # refuse before any work: nothing of the person's is replaced without --overwrite
    existing = [f for f in (a.output, a.save_model) if f is not None and f.exists()]
    if existing and not a.overwrite:
        p.error(f"{existing[0]} exists; pass --overwrite to replace it (nothing was written)")
    if a.demo:
        paths = write_demo(a.demo)
    elif a.folder:
        if not a.folder.is_dir():
            p.error(f"{a.folder} is not a folder (nothing was written)")
        paths = sorted(f for f in a.folder.iterdir() if f.suffix.lower() in SUFFIXES)
    else:
        p.error("give a folder of slides, or --demo DIR")
    if not paths:
        p.error(f"no images ({', '.join(sorted(SUFFIXES))}) in {a.folder}")
    if a.model:
        model = nks.load_model(a.model)
        if not model.measures_stains:
            p.error(
                f"{a.model} does not measure stains: fit it with color_space='hed' and tissue "
                "detection (or let this script fit one)"
            )
    else:
        model = fit_on_slides([io.imread(path) for path in paths])
    if a.save_model:
        model.save(a.save_model)
    scale = None if a.pixel_size is None else (a.pixel_size, a.pixel_size)
    rows = []
    for path in paths:
        image = io.imread(path)[..., :3]
        try:
            measured = measure_slide(model, image, scale=scale, unit=a.unit, min_size=a.min_size)
        except ValueError as e:  # bare glass, another stain pair...: this slide, not the others
            measured = {"warning": "", "reason": f"not measured: {' '.join(str(e).split())}"}
            print(f"{path.name}: {measured['reason']}", file=sys.stderr)
        row = {"image": path.name, **measured}
        if row["warning"]:
            print(f"warning: {path.name}: {row['warning']}", file=sys.stderr)
        rows.append(row)
    fields = list(dict.fromkeys(k for r in rows for k in r if k not in ("warning", "reason")))
    # file names and --unit reach the table: written formula-safe, as every CSV of the plugin
    write_csv(a.output, rows, [*fields, "warning", "reason"])
    print(f"wrote {a.output} ({len(rows)} slides)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
