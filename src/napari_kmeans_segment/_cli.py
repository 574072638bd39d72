"""Command line: segment a folder of images in batch, or open napari with the widget.

    napari-kmeans-segment IMAGE [IMAGE ...] -k K [--seed S] [--model model.json] -o OUTDIR
    napari-kmeans-segment demo [--sample coffee]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

SAMPLES = ("coffee", "immunohistochemistry", "chelsea")


class CliError(Exception):
    """A problem the person can fix: printed as one line, exit status 2."""


def read_image(path: Path) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise CliError(f"{path}: no such file.")
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise CliError(f"{path}: not an image OpenCV can read.")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return img


def write_outputs(seg, stem: str, outdir: Path, overwrite: bool) -> list[Path]:
    import cv2
    import tifffile

    paths = [outdir / f"{stem}_labels.tif", outdir / f"{stem}_recolored.png",
             outdir / f"{stem}_clusters.csv"]
    if not overwrite:
        exists = [p for p in paths if p.exists()]
        if exists:
            raise CliError(f"{exists[0]} exists; pass --overwrite to replace it.")
    tifffile.imwrite(paths[0], np.asarray(seg.labels))
    rec = np.asarray(seg.recolored)
    if rec.dtype.kind == "f" or rec.dtype == bool:
        rec = np.nan_to_num(rec).astype(np.float64)
        lo, hi = rec.min(), rec.max()
        rec = ((rec - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
    if rec.ndim == 3 and rec.shape[2] in (3, 4):
        rec = cv2.cvtColor(rec, cv2.COLOR_RGBA2BGRA if rec.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(paths[1]), rec):
        raise CliError(f"{paths[1]}: could not write a PNG of shape {rec.shape}.")
    table = seg.table()
    with open(paths[2], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(table))
        for i in range(len(table["index"])):
            w.writerow([table[c][i] for c in table])
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="napari-kmeans-segment",
        description="K-means segmentation of images with cv2.kmeans. "
        "Writes <name>_labels.tif, <name>_recolored.png and <name>_clusters.csv per image. "
        "'napari-kmeans-segment demo' opens napari with the widget on a sample image.",
    )
    p.add_argument("images", nargs="+", type=Path, help="image files (PNG, JPEG, TIFF, ...)")
    p.add_argument("-k", "--n-clusters", type=int, help="number of clusters K")
    p.add_argument("-o", "--outdir", type=Path, help="output folder (created if missing)")
    p.add_argument("--model", type=Path, help="apply a saved model instead of fitting")
    p.add_argument("--save-model", type=Path, help="save the model fitted on the first image")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--attempts", type=int, default=10)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--epsilon", type=float, default=0.2)
    p.add_argument("--init", choices=["random", "kmeans++"], default="random")
    p.add_argument("--exact", action="store_true", help="the exact recipe on every pixel (slow)")
    p.add_argument("--color-space", choices=["rgb", "lab", "hsv"], default="rgb")
    p.add_argument("--normalize", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def demo(sample: str = "coffee") -> None:  # pragma: no cover - opens a window
    import napari

    viewer = napari.Viewer()
    viewer.open_sample("napari-kmeans-segment", sample)
    viewer.window.add_plugin_dock_widget("napari-kmeans-segment", "K-means segmentation")
    napari.run()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        dp = argparse.ArgumentParser(prog="napari-kmeans-segment demo")
        dp.add_argument("--sample", choices=SAMPLES, default="coffee")
        demo(dp.parse_args(argv[1:]).sample)
        return 0
    args = build_parser().parse_args(argv)
    try:
        return _batch(args)
    except CliError as e:
        print(f"napari-kmeans-segment: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:
        print(f"napari-kmeans-segment: {e}", file=sys.stderr)
        return 2


def _batch(args) -> int:
    import napari_kmeans_segment as nks

    if args.outdir is None:
        raise CliError("say where to write the results with -o OUTDIR.")
    if args.model is None and args.n_clusters is None:
        raise CliError("give the number of clusters with -k K (or a model with --model).")
    inputs = {p.resolve() for p in args.images}
    if args.outdir.resolve() in inputs or args.outdir.is_file():
        raise CliError(f"{args.outdir} is a file; -o needs a folder.")
    model = nks.load_model(args.model) if args.model else None
    args.outdir.mkdir(parents=True, exist_ok=True)
    stems = [p.stem for p in args.images]
    if len(set(stems)) != len(stems):
        raise CliError("two inputs share a file name; outputs would collide.")
    n = len(args.images)
    for i, path in enumerate(args.images, 1):
        img = read_image(path)
        if model is not None:
            seg = model.apply(img)
        else:
            seg = nks.segment(
                img, args.n_clusters, seed=args.seed, attempts=args.attempts,
                max_iter=args.max_iter, epsilon=args.epsilon, init=args.init,
                sample_size=None if args.exact else "auto", color_space=args.color_space,
                normalize=args.normalize,
            )
            if args.save_model and i == 1:
                seg.save(args.save_model)
                model = seg.model  # the same classes for every following image
        out = write_outputs(seg, path.stem, args.outdir, args.overwrite)
        for p in out:
            if p.resolve() in inputs:  # pragma: no cover - guarded by names above
                raise CliError(f"refusing to overwrite input {p}.")
        bar = "#" * (20 * i // n)
        print(f"\r[{bar:<20}] {i}/{n} {path.name}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
