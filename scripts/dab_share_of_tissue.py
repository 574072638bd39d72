"""DAB-positive % of tissue in a folder of brightfield slides (the README's worked example).

    python scripts/dab_share_of_tissue.py slides/ -o dab.csv --pixel-size 0.5 --unit µm
    python scripts/dab_share_of_tissue.py --demo demo_slides/ -o dab.csv

One model fixes the classes: stain densities (``color_space="hed"``), K=3, fitted on pixels
pooled from all slides (or ``--model``), named DAB / haematoxylin / background from its
centres. That model is applied to every slide, so "DAB" means the same colour class on all
of them. One CSV row per slide:
tissue area, DAB and haematoxylin % of tissue, the number of DAB objects, and the share of
pixels far from every class (a warning above 5%: the model does not describe that slide).
``--demo DIR`` first writes three tiles of scikit-image's immunohistochemistry sample there.
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
    tiles = {"slide_a": ihc[:256, :256], "slide_b": ihc[:256, 256:], "slide_c": ihc[256:, :]}
    paths = []
    for name, tile in tiles.items():
        io.imsave(folder / f"{name}.png", tile, check_contrast=False)
        paths.append(folder / f"{name}.png")
    return paths


def fit_on_slides(images, per_slide: int = 50_000, seed: int = 0):
    """A model fitted on random pixels pooled from every slide (so every class is seen)."""
    rng = np.random.default_rng(seed)
    pooled = []
    for img in images:
        px = np.asarray(img)[..., :3].reshape(-1, 3)
        pooled.append(px[rng.choice(len(px), min(per_slide, len(px)), replace=False)])
    model = nks.segment(np.concatenate(pooled)[:, None, :], 3, color_space="hed", seed=seed, rgb=True).model
    # the stain names and the background stored in the model, so the CLI's --model and the
    # dock's apply give the same classes and leave out the same background
    return model.named(dict(zip(model.labels, model.label_names())), model.default_background())


def measure_slide(model, image, *, scale=None, unit=None, min_size=20) -> dict:
    """One slide's row: shares of tissue per stain, object count and outlier share."""
    seg = model.apply(image)
    names = seg.default_names()
    table = seg.table(background=nks.background_labels(seg.index, names), scale=scale, unit=unit)
    dab = [int(i) for i, n in zip(seg.index, names) if n.startswith("DAB")]
    row = {
        "tissue_area": float(table["area"][~table["background"]].sum()),
        "area_unit": str(table["area_unit"][0]),
    }
    tissue = bool(table["area_px"][~table["background"]].sum())
    for stain in ("DAB", "haematoxylin"):
        mine = np.array([n.startswith(stain) for n in names])
        # a share of no tissue is undefined (an empty cell, the reason beside it), not 0%
        row[f"{stain}_pct_of_tissue"] = (
            100 * float(np.nansum(table["tissue_share"][mine])) if tissue else None
        )
    dab = [d for d in dab if (seg.labels == d).any()]  # a slide without DAB has 0 objects
    row["DAB_objects"] = (
        int(nks.extract_objects(seg.labels, dab, min_size=min_size)[1]["label"].size) if dab else 0
    )
    row["outlier_fraction"] = nks.outlier_fraction(model, image)
    row["reason"] = "" if tissue else "no tissue: every pixel is background, so no share of tissue is defined"
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
    else:
        model = fit_on_slides(io.imread(path) for path in paths)
    if a.save_model:
        model.save(a.save_model)
    scale = None if a.pixel_size is None else (a.pixel_size, a.pixel_size)
    rows = []
    for path in paths:
        row = {
            "image": path.name,
            **measure_slide(model, io.imread(path)[..., :3], scale=scale, unit=a.unit, min_size=a.min_size),
        }
        if row["outlier_fraction"] > WARN_OUTLIERS:
            print(
                f"warning: {path.name}: {100 * row['outlier_fraction']:.0f}% of pixels are far from "
                "every class of the model; check the slide or refit.",
                file=sys.stderr,
            )
        rows.append(row)
    # file names and --unit reach the table: written formula-safe, as every CSV of the plugin
    write_csv(a.output, rows)
    print(f"wrote {a.output} ({len(rows)} slides)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
