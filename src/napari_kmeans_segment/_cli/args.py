"""The command line's arguments, help text and exit codes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .._core.features.features import COLOR_SPACES
from .._core.features.stains import STAIN_VECTORS
from .._core.measure.slide_stains import check_slide_option
from .._core.options import (
    DEFAULTS,
    INIT_ALIASES,
    INITS,
    MIN_OBJECT_PIXELS,
    Options,
    check_stain_vectors,
    sample_size_for_mode,
)
from .._core.options import names as option_names
from .console import PROG, CliError, cli_words
from .inputs import MAX_PIXELS, MAX_PIXELS_ENV

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EPILOG = f"""\
outputs (in OUTDIR, per image NAME):
  NAME_labels.tif        cluster number of every pixel (1..K; 0 = left out: the glass of
                         a --color-space hed slide)
  NAME_recolored.png     every pixel in its cluster's centre colour; 8/16-bit 2D images as
                         they are, other types scaled from the image's min..max to 16 bits.
                         Stacks and images whose channels are not gray/RGB(A) get
                         NAME_recolored.tif in the image's own type instead.
  NAME_clusters.csv      one row per cluster: index (label), name, count, fraction, centre per channel
  summary.csv            one row per image: pixels, share of each cluster, the tissue and each
                         cluster's share of it (background: --background, the model's, or
                         the cluster a hed fit without tissue detection names so), objects
                         (--objects, --objects-of) with their median and mean area in
                         pixels; columns named by the clusters' names (tissue_share_DAB)
                         with a legend; for hed: glass, tissue %, DAB-positive % and
                         weak/moderate/strong % of the tissue, H-score, saturated pixels,
                         and a warning column. A cluster without pixels has share 0.0; a
                         share of nothing (no tissue) is an empty cell and the column
                         reason says why.
  Every CSV is safe to open in a spreadsheet: text starting with = + - @ or a tab is written
  with a leading ' (shown as text, never run as a formula).
  large inputs (zarr/OME-Zarr stores, pyramidal or > 1 GiB TIFF/SVS, or --lazy) are read
  block by block and written as NAME_labels.ome.zarr (and NAME_recolored.ome.zarr with
  --recolored), OME-NGFF 0.4 on zarr format 2.

safety:
  Every output path is planned before any work: the run is refused, with nothing written,
  if an output would replace an input (same path, symbolic or hard link) or an existing
  file without --overwrite, or if an input is missing or unreadable (all problems are
  listed at once: damaged files, FIFOs, devices, link loops, truncated PNG/JPEG, images
  over --max-pixels), or if a folder to write into (outputs, --summary, --save-model) does
  not take new files. --skip-unreadable leaves unreadable inputs out instead. Each image's
  outputs are written to temporary files and moved into place together only when all of
  them succeeded. One run at a time writes into an output folder (a second one is refused,
  naming the first).

exit status:
  0  every image was segmented and written
  1  some images failed while running (their outputs were not written; the others were)
  2  usage error or refused plan: nothing was written

examples:
  {PROG} slides/*.png -k 4 --color-space lab -o out --save-model out/model.json
  {PROG} more/*.png --model out/model.json -o out2 --objects 2 --min-size 50
  {PROG} cells/*.tif -k 3 --seed 0 --smoothing 1 --objects-of all-but-darkest --split -o counts
  {PROG} slide.ome.zarr -k 3 -o out --scheduler tcp://10.0.0.5:8786
  {PROG} demo --sample immunohistochemistry
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="K-means segmentation of images with cv2.kmeans, in batch. "
        f"'{PROG} demo' opens napari with the widget on a sample image.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "images",
        nargs="+",
        type=Path,
        help="image files (PNG, JPEG, TIFF, SVS, ...) or zarr/OME-Zarr folders",
    )
    p.add_argument("-k", "--n-clusters", type=int, help="number of clusters K")
    p.add_argument("-o", "--outdir", type=Path, help="output folder (created if missing)")
    p.add_argument(
        "--model", type=Path, help="apply a saved model instead of fitting: every image gets the same classes"
    )
    p.add_argument(
        "--save-model",
        type=Path,
        help="save the model fitted on the first image (its folder must exist); "
        "the other images are then labelled with that model",
    )
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--attempts", type=int, default=DEFAULTS.attempts)
    p.add_argument("--max-iter", type=int, default=DEFAULTS.max_iter)
    p.add_argument("--epsilon", type=float, default=DEFAULTS.epsilon)
    p.add_argument("--init", choices=[*INITS, *INIT_ALIASES], default=DEFAULTS.init)
    p.add_argument(
        "--exact", action="store_true", help="the exact recipe on every pixel (slow; not for large inputs)"
    )
    p.add_argument("--color-space", choices=list(COLOR_SPACES), default=DEFAULTS.color_space)
    p.add_argument(
        "--stain-vectors",
        choices=list(STAIN_VECTORS),
        default=DEFAULTS.stain_vectors,
        help="with --color-space hed: the fixed stain vectors, or vectors estimated "
        "from each image (macenko)",
    )
    p.add_argument("--normalize", action="store_true", default=DEFAULTS.normalize)
    p.add_argument(
        "--smoothing",
        type=float,
        default=DEFAULTS.smoothing,
        metavar="S",
        help="spatially coherent clusters: smooth over about S pixels (1-2 for nuclei; default "
        "0, every pixel clustered alone)",
    )
    p.add_argument(
        "--spatial-weight",
        type=float,
        default=DEFAULTS.spatial_weight,
        metavar="W",
        help="add pixel coordinates as features; 1 gives position as much weight as colour "
        "(images read into memory only)",
    )
    p.add_argument(
        "--texture-sigma",
        type=float,
        default=DEFAULTS.texture_sigma,
        metavar="PIXELS",
        help="add the local standard deviation at this scale as a feature (images read into memory only)",
    )
    p.add_argument(
        "--per-plane",
        action="store_true",
        default=DEFAULTS.per_plane,
        help="cluster each plane of a stack on its own, numbering matched by centre "
        "(images read into memory only)",
    )
    stains = p.add_argument_group("stain measurements (--color-space hed)")
    stains.add_argument(
        "--no-tissue",
        dest="tissue",
        action="store_false",
        default=DEFAULTS.tissue,
        help="cluster every pixel (the glass becomes a cluster) instead of telling tissue from "
        "glass by optical density and clustering the stains within the tissue",
    )
    stains.add_argument(
        "--white-level",
        type=_numbers(1, 3),
        default=DEFAULTS.white_level,
        metavar="W|R,G,B",
        help="the glass's brightness, e.g. 240 or 236,238,240 (default: from each slide's glass; "
        "needed for a slide without glass)",
    )
    stains.add_argument(
        "--tissue-od",
        type=float,
        default=DEFAULTS.tissue_od,
        metavar="OD",
        help="mean optical density above which a pixel is tissue (default: 0.012, or more on noisy glass)",
    )
    stains.add_argument(
        "--dab-thresholds",
        type=_numbers(3, 3),
        default=DEFAULTS.dab_thresholds,
        metavar="WEAK,MODERATE,STRONG",
        help="DAB optical densities of the weak, moderate and strong bins, e.g. 0.15,0.4,0.7 "
        "(default: derived from the clusters and kept in the model)",
    )
    p.add_argument(
        "--channel-axis",
        type=_axis,
        default="auto",
        metavar="N|none",
        help="axis holding the channels (all are clustered together); 'none' = "
        "every axis is spatial (a grayscale stack); default: from the file",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="inputs that cannot be read (missing, damaged, not an image) are reported, listed as "
        "failed in the summary and left out, and the others are processed (exit status 1); "
        "by default such an input refuses the run",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help="refuse, before decoding, images read into memory with more than N pixels (default "
        f"{MAX_PIXELS:,} or ${MAX_PIXELS_ENV})",
    )
    p.add_argument(
        "--summary",
        type=Path,
        default=None,
        metavar="CSV",
        help="where to write the summary table (default OUTDIR/summary.csv)",
    )
    p.add_argument("--no-summary", action="store_true", help="do not write the summary table")
    p.add_argument(
        "--objects",
        type=_labels,
        default=(),
        metavar="L[,L..]",
        help="count the connected objects of these clusters in the summary",
    )
    p.add_argument(
        "--objects-of",
        choices=["all-but-darkest", "all-but-brightest"],
        default=None,
        help="count the objects of every cluster but the darkest (fluorescence: dim and bright "
        "nuclei together) or but the brightest (a white slide) in the summary",
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="cut touching objects apart before counting them (watershed on the distance transform)",
    )
    p.add_argument(
        "--min-size",
        type=int,
        default=None,
        metavar="N",
        help=f"objects smaller than N pixels are not counted (default {MIN_OBJECT_PIXELS}, as in the dock)",
    )
    p.add_argument(
        "--background",
        type=_labels,
        default=(),
        metavar="L[,L..]",
        help="clusters that are background: the summary adds each other "
        "cluster's share of the rest (the tissue)",
    )
    large = p.add_argument_group("large images")
    large.add_argument(
        "--lazy", action="store_true", help="read every TIFF input block by block (zarr inputs always are)"
    )
    large.add_argument(
        "--recolored",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the recoloured image (default: yes for images read into memory, no for large inputs)",
    )
    large.add_argument(
        "--scheduler",
        default="threads",
        metavar="threads|processes|ADDRESS",
        help="dask scheduler for large inputs; an address (tcp://host:8786) "
        "connects to a dask.distributed scheduler, whose workers must see "
        "the input and output folders",
    )
    large.add_argument(
        "--chunk",
        type=int,
        default=2048,
        metavar="PIXELS",
        help="side of the blocks large inputs are processed and written in",
    )
    return p


def _axis(text: str) -> int | None | str:
    if text in ("none", "None"):
        return None
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an axis number or 'none'") from None


def _numbers(low: int, high: int):
    """An argparse type: one number (``low`` = 1) or ``high`` numbers separated by commas."""

    def parse(text: str):
        try:
            values = tuple(float(t) for t in text.split(",") if t.strip())
        except ValueError:
            values = ()
        if len(values) not in (low, high):
            what = "one number or three (R,G,B)" if low != high else f"{high} numbers"
            raise argparse.ArgumentTypeError(f"{text!r}: give {what} separated by commas")
        return values[0] if len(values) == 1 else values

    return parse


def _labels(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give cluster numbers separated by commas, e.g. 2,3"
        ) from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: cluster numbers start at 1")
    return out


def check_options(args) -> list[str]:
    """Every problem with the options that does not need the images, as sentences."""
    problems = []
    if args.outdir is None:
        problems.append("say where to write the results with -o OUTDIR.")
    if args.model is None and args.n_clusters is None:
        problems.append("give the number of clusters with -k K (or a model with --model).")
    if args.model is not None and args.save_model is not None:
        problems.append("--save-model saves a fitted model; with --model nothing is fitted.")
    if args.n_clusters is not None and args.model is None:
        problems += [cli_words(str(e)) for e in fit_options(args).problems()]
    else:  # nothing is fitted, but a wrong pairing is still a mistake worth saying
        try:
            check_stain_vectors(args.stain_vectors, args.color_space)
        except ValueError as e:
            problems.append(cli_words(str(e)))
        for name in ("white_level", "dab_thresholds"):  # a saved model's slides, measured with these
            try:
                check_slide_option(name, getattr(args, name))
            except (TypeError, ValueError) as e:
                problems.append(cli_words(str(e)))
    if args.min_size is not None and args.min_size < 0:
        problems.append(f"--min-size {args.min_size}: use a number of pixels >= 0.")
    if args.min_size is not None and not (args.objects or args.objects_of):
        problems.append("--min-size applies to --objects: say which clusters to count.")
    if args.split and not (args.objects or args.objects_of):
        problems.append("--split applies to --objects or --objects-of: say which clusters to count.")
    if args.chunk < 64:
        problems.append(f"--chunk {args.chunk}: use blocks of at least 64 pixels a side.")
    try:
        max_pixels(args)
    except ValueError as e:
        problems.append(str(e))
    return problems


def max_pixels(args) -> int:
    """--max-pixels, else $NAPARI_KMEANS_SEGMENT_MAX_PIXELS, else the default cap."""
    if args.max_pixels is not None:
        if args.max_pixels < 1:
            raise ValueError(f"--max-pixels {args.max_pixels}: give a number of pixels >= 1.")
        return int(args.max_pixels)
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_PIXELS_ENV}={text!r:.40}: give a number of pixels >= 1.")
    return value


#: Options fields whose flag stores them under another name (``dest``), read by a function of
#: the parsed arguments; every other field is read from the flag whose dest is its name.
OTHER_DEST = {
    "sample_size": lambda args: sample_size_for_mode("exact" if args.exact else "fast"),
}

#: Flags that need the whole image in memory: refused for inputs read block by block.
IN_MEMORY_ONLY = {
    "--exact": lambda args: args.exact,
    "--spatial-weight": lambda args: args.spatial_weight,
    "--texture-sigma": lambda args: args.texture_sigma,
    "--per-plane": lambda args: args.per_plane,
}


def fit_options(args) -> Options:
    """The fit's :class:`Options` from the command line (in memory and block by block; the
    plan refuses :data:`IN_MEMORY_ONLY` flags for block-by-block inputs). Not checked:
    ``segment`` checks it, and :func:`check_options` reports its problems before any work."""
    values: dict[str, Any] = {
        name: OTHER_DEST[name](args) if name in OTHER_DEST else getattr(args, name) for name in option_names()
    }
    return Options(**values)


def check_labels_exist(args, labels: list[int]) -> list[str]:
    """--objects/--background name clusters among ``labels`` (1..K, fewer after merges)."""
    problems = []
    known = set(labels)
    for flag, given in (("--objects", args.objects), ("--background", args.background)):
        bad = [lab for lab in given if lab not in known]
        if bad:
            which = f"1..{labels[-1]}" if labels == list(range(1, len(labels) + 1)) else str(labels)[1:-1]
            problems.append(f"{flag} {','.join(map(str, bad))}: the clusters are {which}.")
    return problems


def drop_repeats(args) -> list[str]:
    """--objects/--background with each cluster once (a repeated label was counted twice, and
    --background 2,2,2 gave negative tissue); a note for each flag that repeated one."""
    notes = []
    for flag in ("objects", "background"):
        given = tuple(getattr(args, flag))
        once = tuple(dict.fromkeys(given))
        if once != given:
            setattr(args, flag, once)
            notes.append(
                f"--{flag} {','.join(map(str, given))}: a cluster was listed more than once; "
                f"counted once ({','.join(map(str, once))})."
            )
    return notes


def parse(argv: list[str]):
    args = build_parser().parse_args(argv)
    if not _scheduler_form(args.scheduler):
        # checked before any dask Client exists: a Client that failed on "banana" hung 10 s in
        # its __del__ and printed "Exception ignored in Client.__del__"
        raise CliError(
            f"--scheduler {args.scheduler}: give threads, processes or a dask "
            "scheduler's address such as tcp://10.0.0.5:8786 or 10.0.0.5:8786."
        )
    return args


def _scheduler_form(s: str) -> bool:
    """threads/processes/synchronous, or an address dask.distributed can parse (a known
    scheme; host and port for network schemes)."""
    if s in ("threads", "processes", "synchronous"):
        return True
    try:
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import backends
    except ImportError:
        return True  # the run then says that dask.distributed is needed
    try:
        scheme, loc = parse_address(s)
        if scheme not in backends:
            return False
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(loc)
    except (ValueError, TypeError):
        return False
    return True
