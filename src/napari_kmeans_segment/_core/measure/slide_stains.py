"""A brightfield slide inside a fit or an apply (``color_space="hed"`` with tissue detection):
the white level and the tissue first, then the stains clustered within the tissue, then the
slide's :class:`~.positivity.StainReport`.

:func:`plan_slide` runs before k-means (the glass becomes label 0);
:func:`~.model.result.finish_fit` and :func:`~.model.result.finish_apply` attach the report
after it (they make a new :class:`~.model.result.Segmentation`). A fit derives the DAB thresholds from its
clusters and stores them, the white level, the tissue threshold and the spread of each stain
in the model; applying the model measures each new slide against that slide's own white
level (so another exposure gives the same optical densities) with the model's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..features.image import PixelImage
from ..features.stains import STAINS
from ..features.tissue import (
    MIN_GLASS,
    WHITE_SAMPLE,
    WhiteLevel,
    check_brightfield,
    estimate_white,
    given_white,
    tissue_mask,
)
from .positivity import (
    StainReport,
    check_thresholds,
    count_block,
    saturation_warning,
)

if TYPE_CHECKING:
    from ..features.features import FeatureSpace

#: A stain is "present" on a slide when the 99th percentile of its amount in the tissue is
#: above this OD, and "absent" from a model's slides below a third of it.
STAIN_PRESENT = 0.15
SPREAD_SAMPLE = 200_000


@dataclass
class SlidePlan:
    """The tissue of one slide (or stack of planes), decided before clustering."""

    source: PixelImage  # the image as given (its own mask only)
    img: PixelImage  # the same image with the glass left out
    white: WhiteLevel
    tissue_od: float
    tissue: np.ndarray  # spatial shape, bool
    value_range: float
    notes: list[str]

    def rgb(self) -> np.ndarray:
        """The image as (..., Y, X, C) in its own units (a view)."""
        src = self.source
        return src.arr3.reshape(*src.spatial_shape, src.full_channels)

    def valid(self) -> np.ndarray | None:
        """The person's mask (and alpha, NaN) as a spatial boolean array; None: all pixels."""
        src = self.source
        if not src.can_exclude:
            return None
        parts = [c.valid if c.valid is not None else np.ones(c.stop - c.start, bool) for c in src.chunks()]
        return np.concatenate(parts).reshape(src.spatial_shape)


def check_tissue_od(tissue_od) -> float | None:
    """None ("auto") or a mean optical density in (0, 1]."""
    if tissue_od is None:
        return None
    if isinstance(tissue_od, bool) or not isinstance(tissue_od, int | float | np.number):
        raise TypeError(f"tissue_od must be a number (a mean optical density) or None, not {tissue_od!r}.")
    if not (np.isfinite(tissue_od) and 0 < tissue_od <= 1):
        raise ValueError(
            f"tissue_od={tissue_od!r}: give a mean optical density above 0 and at most 1 "
            "(0.012, the default floor, is 2.7% of the light absorbed), or None to derive it "
            "from the glass."
        )
    return float(tissue_od)


def check_slide_option(name: str, value, color_space: str = "hed", tissue: bool = True):
    """The checked value of one stain-measurement option (``white_level``, ``tissue_od``,
    ``dab_thresholds``); TypeError/ValueError when it is malformed, or set (not None)
    without color_space="hed" and tissue detection."""
    if value is None or isinstance(value, WhiteLevel):
        return value
    checked: float | tuple[float, ...] | None
    if name == "tissue_od":
        checked = check_tissue_od(value)
    elif name == "dab_thresholds":
        checked = check_thresholds(value)
    elif name == "white_level":
        w = given_white(value, np.inf).white
        checked = float(w[0]) if np.ndim(value) == 0 else tuple(float(v) for v in w)
    else:
        raise ValueError(f"{name} is not a stain-measurement option.")
    if color_space != "hed":
        raise ValueError(
            f"{name} measures stains: it needs color_space='hed'; this run uses color_space={color_space!r}."
        )
    if not tissue:
        raise ValueError(
            f"{name} belongs to tissue detection, which is off (tissue=False); turn it on or leave "
            f"{name} unset."
        )
    return checked


def plan_slide(
    img: PixelImage,
    image,
    *,
    rgb,
    channel_axis,
    white_level=None,
    tissue_od: float | None = None,
    fallback_white=None,
    tissue: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> SlidePlan:
    """White level, tissue threshold and tissue mask of ``img``; the glass left out.

    ``white_level`` given by the person wins; else it is estimated from the glass, and when
    the slide shows none a model's ``fallback_white`` is used (with a note), else the error
    says how to give it. ``tissue`` (spatial bool) is a tissue mask decided already (the lazy
    path decides it block by block).
    """
    from ..features.features import color_scale

    rng = rng or np.random.default_rng(0)
    lo, hi = img.value_bounds()
    value_range = color_scale("hed", lo, hi, img.dtype)
    _, sample = img.sample(WHITE_SAMPLE, rng)
    sample = img.features_of(sample)
    check_brightfield(sample, value_range, rng)
    if isinstance(white_level, WhiteLevel):  # estimated already (the lazy path's blocks)
        white = white_level
    elif white_level is not None:
        white = given_white(white_level, value_range)
    else:
        try:
            white = estimate_white(sample, value_range, rng=rng)
        except ValueError:
            if fallback_white is None:
                raise
            white = WhiteLevel(white=np.asarray(fallback_white, np.float64), source="model")
    notes = white_notes(white, value_range)
    t = white.auto_tissue_od() if tissue_od is None else float(tissue_od)
    if tissue is None:
        rgb_view = img.arr3.reshape(*img.spatial_shape, img.full_channels)
        # the person's mask: excluded pixels do not vote (as NaN pixels, see tissue_mask)
        valid = None if img.mask is None else img.mask.reshape(img.spatial_shape)
        tissue = tissue_mask(rgb_view, white.white, t, valid=valid)
    tissue = np.asarray(tissue, bool).reshape(img.spatial_shape)
    if not tissue.any():
        raise ValueError(
            "No tissue found: every pixel is as bright as the glass (white level "
            f"{', '.join(f'{v:.4g}' for v in white.white)}). Check the image, or lower tissue_od "
            f"(now {t:.3g})."
        )
    # the person's mask (and a masked array's) stays: img.mask holds both
    keep = tissue if img.mask is None else tissue & img.mask.reshape(img.spatial_shape)
    masked = PixelImage(image, rgb=rgb, channel_axis=channel_axis, mask=keep)
    return SlidePlan(img, masked, white, t, tissue, value_range, notes)


def report(plan: SlidePlan, fs: FeatureSpace, thresholds, check=None) -> StainReport:
    """Counts of the slide's pixels: tissue, saturated tissue, DAB bins."""
    rgb = plan.rgb()
    valid = plan.valid()
    n, tissue_px, sat, bins = 0, 0, 0, np.zeros(4, np.int64)
    planes = rgb.reshape(-1, *rgb.shape[-3:])
    tissue = plan.tissue.reshape(-1, *plan.tissue.shape[-2:])
    vplanes = None if valid is None else valid.reshape(-1, *valid.shape[-2:])
    for i in range(planes.shape[0]):
        if check is not None:
            check()
        a, b, c, d = count_block(
            planes[i],
            tissue[i],
            plan.white.white,
            fs.stain_matrix,
            thresholds,
            plan.value_range,
            None if vplanes is None else vplanes[i],
        )
        n, tissue_px, sat, bins = n + a, tissue_px + b, sat + c, bins + d
    r = StainReport(
        pixels=n,
        tissue_px=tissue_px,
        saturated_px=sat,
        bins=tuple(int(v) for v in bins),  # type: ignore[arg-type]
        thresholds=tuple(float(v) for v in thresholds),  # type: ignore[arg-type]
        white=tuple(float(v) for v in plan.white.white),  # type: ignore[arg-type]
        white_source=plan.white.source,
        tissue_od=plan.tissue_od,
        warnings=tuple(plan.notes),
    )
    return r.with_warnings(saturation_warning(r))


def tissue_sample(plan: SlidePlan, labels_flat: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    flat, px = plan.img.sample(SPREAD_SAMPLE, rng)
    return plan.img.features_of(px), labels_flat[flat]


def spread(amounts: np.ndarray) -> list[float]:
    """99th percentile of each stain's amount (H, E, DAB) in the tissue."""
    if not amounts.shape[0]:
        return [0.0, 0.0, 0.0]
    return [float(v) for v in np.percentile(amounts, 99, axis=0)]


def stain_pair_warning(fitted, now) -> str:
    """A sentence when the slide shows a stain the model's slides did not (another stain pair)."""
    new = [
        STAINS[i]
        for i in range(3)
        if now[i] > STAIN_PRESENT and float(fitted[i]) < STAIN_PRESENT / 3 and now[i] > 3 * float(fitted[i])
    ]
    if not new:
        return ""
    seen = [STAINS[i] for i in range(3) if float(fitted[i]) >= STAIN_PRESENT]
    return (
        f"This slide shows {' and '.join(new)}, which the slides the model was fitted on did not "
        f"(they showed {' and '.join(seen) or 'little stain'}): another stain pair? Its clusters "
        "and positivity do not apply here; fit a model on slides of this stain."
    )


#: A cluster marked background is questioned when more of its pixels than this are tissue.
STAINED_BACKGROUND = 0.5
CHECK_PIXELS = 4_000_000  # larger images are checked on every n-th pixel


def stained_background(
    image, labels, background, names=None, *, white_level=None, tissue_od: float | None = None
) -> str:
    """A sentence when clusters marked background hold stained tissue; empty otherwise.

    Tissue is told from glass by optical density as in a fit (:mod:`.tissue`), whatever
    the clusters: a "background" cluster that is mostly tissue (pale stroma clustered with
    the glass) takes that tissue out of every share of tissue. Images that are not RGB, or
    show no glass to take the white level from (without ``white_level``), cannot be
    checked: empty.
    """
    from ..features.tissue import TISSUE_BOX, value_range_of, white_of

    background = [int(b) for b in background]
    arr = np.asarray(image)
    lab = np.asarray(labels)
    if not background or arr.ndim < 3 or arr.shape[-1] not in (3, 4) or arr.shape[:-1] != lab.shape:
        return ""
    if lab.size > CHECK_PIXELS:  # a share above one half does not need every pixel
        step = int(np.ceil(np.sqrt(lab.size / CHECK_PIXELS)))
        arr, lab = arr[..., ::step, ::step, :], lab[..., ::step, ::step]
    px = arr[..., :3].reshape(-1, 3)
    vr = value_range_of(px)
    try:
        white = white_of(px, vr, white_level)
    except ValueError:
        return ""
    t = white.auto_tissue_od() if tissue_od is None else float(tissue_od)
    tissue = tissue_mask(arr, white.white, t, box=TISSUE_BOX)
    names = names or {}
    found = []
    for b in background:
        sel = lab == b
        if sel.any():
            share = float(tissue[sel].mean())
            if share > STAINED_BACKGROUND:
                found.append(f"{b} ('{names.get(b, f'cluster {b}')}', {100 * share:.0f}% tissue)")
    if not found:
        return ""
    return (
        f"Cluster(s) {', '.join(found)} marked background hold stained tissue: their pixels absorb "
        "more light than the glass, so the share of tissue leaves that tissue out. Untick them, "
        "or let color_space='hed' tell tissue from glass (tissue detection), which keeps pale "
        "stroma in the tissue."
    )


def lazy_report(arr, tissue, white: WhiteLevel, tissue_od: float, thresholds, matrix, value_range: float):
    """``(tasks, finish)`` for the report of a slide held as a channels-last dask array:
    one delayed count per block (to compute with the blocks' other tasks, which share their
    reads), and ``finish(results)`` -> :class:`StainReport`."""
    import dask

    thresholds = check_thresholds(thresholds)
    blocks = arr.to_delayed(optimize_graph=False).reshape(tissue.numblocks)
    masks = tissue.to_delayed(optimize_graph=False)
    count = dask.delayed(_count_one, pure=True)
    tasks = [
        count(blocks[idx], masks[idx], white.white, matrix, thresholds, value_range)
        for idx in np.ndindex(*tissue.numblocks)
    ]

    def finish(results, notes=()) -> StainReport:
        total = np.sum(np.asarray(results, np.int64), axis=0)
        r = StainReport(
            pixels=int(total[0]),
            tissue_px=int(total[1]),
            saturated_px=int(total[2]),
            bins=tuple(int(v) for v in total[3:7]),  # type: ignore[arg-type]
            thresholds=thresholds,
            white=tuple(float(v) for v in white.white),  # type: ignore[arg-type]
            white_source=white.source,
            tissue_od=float(tissue_od),
            warnings=tuple(n for n in notes if n),
        )
        return r.with_warnings(saturation_warning(r))

    return tasks, finish


def _count_one(block, tissue, white, matrix, thresholds, value_range) -> np.ndarray:
    block, tissue = np.asarray(block), np.asarray(tissue)
    n, t, sat, bins = count_block(block, tissue, white, matrix, thresholds, value_range)
    return np.array([n, t, sat, *bins], np.int64)


def white_notes(white: WhiteLevel, value_range: float) -> list[str]:
    """The sentences a slide's white level calls for (no glass, clipped glass)."""
    notes = []
    if white.source == "model":
        notes.append(
            "No glass on this image to take its own white level from (its brightest pixels "
            f"do not form a narrow, uniform peak of {100 * MIN_GLASS:g}% of the image; pale "
            "tissue or a small lumen does not): its optical densities are measured against "
            f"the model's white level ({', '.join(f'{v:.4g}' for v in white.white)}); if this "
            "scan's exposure differs, give its white level."
        )
    if white.clipped and (np.asarray(white.white) >= value_range).all():
        notes.append(
            f"The glass is at full scale ({value_range:g}) in every channel: the exposure may be "
            "too high, so the palest tissue can read as glass and every optical density is low "
            "by an unknown amount. Lower the exposure, or give the white level."
        )
    elif white.full_scale:
        notes.append(
            f"The glass is at full scale: its brightness peaks at {value_range:g}, so much of it "
            f"is clipped, so the white level found ({', '.join(f'{v:.4g}' for v in white.white)}) "
            "can be below the true one and the optical densities underestimated: the palest "
            "tissue can read as glass. Lower the exposure, or give the white level."
        )
    return notes
