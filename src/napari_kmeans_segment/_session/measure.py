"""Numbers from a session's clusters: background and tissue, measured objects, uncertainty.

Qt-free, like :mod:`.session`, which composes one :class:`SessionMeasure` per source
(``session.measure``). Which clusters are background lives in the clusters layer's
``features["background"]`` (beside the names), so napari's features table and the console
see it; the area columns (``area_px``, ``area``, ``area_unit``, ``share``, ``tissue_share``)
are recomputed whenever it changes. Physical areas use the layer's ``scale`` and ``units``.

Long computations (the uncertainty map) come as a ``(compute, done)`` pair: ``compute`` runs
in a worker and touches no layer, ``done`` writes on the GUI thread; the synchronous method
of the same name runs both, for the console and scripts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from napari.utils.notifications import show_info, show_warning

from .layers import MARK, Output, output_name

if TYPE_CHECKING:
    import pandas as pd
    from napari.layers import Labels, Layer

    from .._core import KMeansModel, Segmentation
    from .._core.measure.positivity import StainReport
    from .layers import LayerSlots, Source

LENGTH_UNITS = ("nm", "µm", "mm", "cm", "m")  # offered for a pixel size (any pint length works)
# The columns napari's status bar shows first when the pointer is over a label (it lists a
# layer's features in their order and is cut at the window's edge): what the person reads.
FIRST_COLUMNS = {
    "clusters": ("name", "share", "tissue_share", "area", "area_unit", "background"),
    "objects": ("area", "area_unit", "cluster_name", "cluster"),
}
# kind -> (what it is, how to read it)
UNCERTAINTY_KINDS = {
    "distance": ("distance to centre", "bright = unlike its cluster"),
    "margin": ("margin to the next cluster", "dark = nearly in another cluster"),
}


# -- tables (pure functions) ------------------------------------------------------------------
def physical(
    scale: Iterable[float], units: Iterable[Any] | None, ndim: int, channel_axis: int | None = None
) -> tuple[tuple[float, ...] | None, str | None]:
    """``(scale, unit)`` for the area columns, from a layer's ``scale`` and ``units``.

    Every axis is converted to the first axis' unit (pint), so 0.5 µm by 500 nm pixels give
    0.25 µm^2. napari's default unit is "pixel": with a scale of 1 that gives areas in
    pixels (unit None, shown as "px"), with another scale areas in the scale's own
    "unit^2". Units that cannot be converted into one another (pixels and µm) give areas
    in pixels, and so does a scale that does not match the labels' ``ndim`` axes.
    """
    s = [abs(float(v)) for v in scale]  # a negative scale flips its axis: same pixel size
    u = list(units) if units else []
    if len(s) == ndim + 1 and channel_axis is not None:  # one layer holding the channels
        del s[channel_axis]
        if u:
            del u[channel_axis]
    if len(s) != ndim or (u and len(u) != ndim):
        return None, None
    if not u or all(str(x) == "pixel" for x in u):
        return (None, None) if all(v == 1 for v in s) else (tuple(s), "unit")
    try:
        s = [float((v * x).to(u[0]).magnitude) for v, x in zip(s, u)]
    except Exception:  # pint's DimensionalityError: pixels mixed with lengths
        return None, None
    # pint abbreviates micro as the Greek mu (U+03BC) in newer releases, the micro sign (U+00B5)
    # in older ones: one spelling, so tables and CSV columns do not change with pint's version
    return tuple(s), f"{u[0]:~}".replace("\u03bc", "\u00b5")


def _ndim(seg: Segmentation) -> int:
    level = seg.labels[0] if seg.multiscale else seg.labels
    return len(seg.params.get("spatial_shape") or np.shape(level))


def cluster_features(
    seg: Segmentation, src: Source, names: Mapping[int, str], background: Iterable[int] = ()
) -> pd.DataFrame:
    """The clusters layer's ``features``: the cluster table with names, the background
    marks and the areas (pixels, physical, share of all pixels, share of tissue)."""
    import pandas as pd

    index = [int(i) for i in seg.index]
    scale, unit = physical(src.scale, src.units, _ndim(seg), src.channel_axis)
    table = seg.table(
        names=[names.get(i, f"cluster {i}") for i in index],
        channel_names=src.channel_names,
        background=[b for b in background if int(b) in index],
        scale=scale,
        unit=unit,
    )
    return important_first(pd.DataFrame(table), "clusters")


def important_first(features: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``features`` with :data:`FIRST_COLUMNS` of ``kind`` first ("index" stays first; the
    mean colour columns follow the objects' first columns), so napari's status bar shows
    them before it runs out of width. A copy; the other columns keep their order."""
    features = whole_areas(features)
    cols = list(features.columns)
    first = [c for c in FIRST_COLUMNS[kind] if c in cols]
    if "area_px" in cols and "area_unit" in first and not _in_pixels(features):
        # a calibrated area is a float, which napari prints with 3 digits: the pixels beside it
        first.insert(first.index("area_unit") + 1, "area_px")
    if kind == "objects":
        first += [c for c in cols if c.startswith("mean_")]
    lead = [c for c in ("index",) if c in cols]
    return features[lead + first + [c for c in cols if c not in first and c not in lead]]


def whole_areas(features: pd.DataFrame) -> pd.DataFrame:
    """``features`` with its "area" as integers when every area is a whole number (pixels,
    or whole units per pixel). napari's status bar prints a float feature with three
    significant digits ("area: 8.52e+04") and an integer in full ("area: 85187"). A copy
    when changed; no value changes."""
    if "area" not in features.columns or not len(features):
        return features
    area = features["area"].to_numpy()
    if area.dtype.kind != "f" or not np.isfinite(area).all() or np.abs(area).max() >= 2**53:
        return features
    if not (area == np.round(area)).all():
        return features
    f = features.copy()
    f["area"] = area.astype(np.int64)
    return f


OBJECT_COLORS = 48  # distinct colours before they repeat (neighbours rarely share one)
MIN_LUMINANCE = 0.4  # relative luminance (0 black .. 1 white) of every object colour


def object_colors(n: int = OBJECT_COLORS) -> np.ndarray:
    """``n`` light, distinct RGBA colours for objects drawn over the clusters overlay.

    napari's default label colours include dark ones (deep blue, brown, purple) that vanish
    over a dark cluster colour at the overlay's opacity; these step the hue by the golden
    ratio and lighten each towards white until its relative luminance is at least
    :data:`MIN_LUMINANCE`.
    """
    import colorsys

    out = np.ones((n, 4))
    for i in range(n):
        rgb = np.array(colorsys.hsv_to_rgb((0.1 + i * 0.618034) % 1.0, 0.85, 1.0))
        while relative_luminance(rgb) < MIN_LUMINANCE:
            rgb += (1.0 - rgb) * 0.08
        out[i, :3] = rgb
    return out


def relative_luminance(rgb: Any) -> Any:
    """WCAG relative luminance of sRGB colours (the last axis: R, G, B in 0..1)."""
    c = np.asarray(rgb, float)[..., :3]
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def object_colormap() -> Any:
    """The objects layer's colormap: :func:`object_colors`, repeating; 0 is transparent."""
    from napari.utils.colormaps import CyclicLabelColormap

    colors = np.vstack([np.zeros((1, 4)), object_colors()])  # napari's layout: 0 first
    return CyclicLabelColormap(colors=colors, name="light objects")


def _in_pixels(features: pd.DataFrame) -> bool:
    return "area_unit" not in features.columns or all(str(u) == "px" for u in features["area_unit"])


def with_background(features: pd.DataFrame, background: Iterable[int]) -> pd.DataFrame:
    """A copy of ``features`` with new background marks and shares of tissue."""
    from .._core.measure.measure import area_table

    f = features.copy()
    areas = area_table(
        f["index"].to_numpy(), f["area_px"].to_numpy(), background=[int(b) for b in background]
    )
    f["background"] = areas["background"]
    f["tissue_share"] = areas["tissue_share"]
    return f


def marked(features: pd.DataFrame) -> list[int]:
    """Labels marked as background in a clusters layer's ``features``."""
    if "background" not in features.columns:
        return []
    return sorted(int(i) for i, b in zip(features["index"], features["background"]) if bool(b))


def write_csv(features: pd.DataFrame, path: str | Path) -> Path:
    """``features`` as CSV (numbers as numbers, NaN as an empty cell, text that a spreadsheet
    would run as a formula quoted: :func:`.._core.csv_safe.write_csv`)."""
    from .._core.csv_safe import write_csv as safe_write

    return safe_write(path, features)


def count_line(features: Any, name: str, ndim: int = 2) -> str:
    """ "112 objects, median area 231 px, mean 245 px, in 'cells objects'." (count first: a
    long layer name is what gets cut). Objects of a 3-D (``ndim`` 3) layer have a volume, in
    voxels when there is no pixel size."""
    n = len(features)
    if n == 0:
        return f"No objects in '{name}'."
    area = np.asarray(features["area"], np.float64)
    unit = str(features["area_unit"].iloc[0]) if "area_unit" in features else "px"
    size = "volume" if ndim >= 3 else "area"
    if ndim >= 3 and unit == "px":
        unit = "voxels"
    return (
        f"{n} object{'s' if n != 1 else ''}, median {size} {_g(np.median(area))} {unit}, "
        f"mean {_g(area.mean())} {unit}, in '{name}'."
    )


def _g(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def check_outliers(model: KMeansModel, src: Source, progress: Any = None, cancel: Any = None) -> float | None:
    """Warn (``warnings.warn``; the dock shows it) when many of the image's pixels are far
    from every centre of ``model``. Returns the share, or None when it cannot be told (a
    lazy image, or a model saved without the reference distance)."""
    from .._core.measure.uncertainty import unlike_model

    if not isinstance(src.data, np.ndarray):
        return None
    layout = dict(rgb=src.rgb, channel_axis=src.channel_axis)
    frac, note = unlike_model(model, src.data, src.name, **layout, progress=progress, cancel=cancel)
    if note:
        warnings.warn(note, UserWarning, stacklevel=2)
    return frac


class Session(Protocol):
    """What :class:`SessionMeasure` uses of its session (:class:`~.session.ClusterSession`):
    its public state and methods, so the measure part never reaches into the session."""

    viewer: Any
    slots: LayerSlots
    seg: Segmentation | None
    src: Source | None
    changed: Any  # psygnal's SignalInstance: ``changed.emit(what)``

    @property
    def clusters(self) -> Labels | None: ...
    def require(self) -> tuple[Labels, Segmentation]: ...
    def check_labels(self, labels: Iterable[int]) -> list[int]: ...
    def names(self) -> dict[int, str]: ...
    def hidden(self) -> list[int]: ...
    def with_see_through(
        self, colormap: Any, seg: Segmentation | None = None, background: Iterable[int] | None = None
    ) -> Any: ...
    def writing(self) -> AbstractContextManager[None]: ...
    def write(self, seg: Segmentation, src: Source, outputs: list[Output], what: str) -> list[Layer]: ...
    def reveal(self, layer: Layer | None = None) -> None: ...
    def show_new(self, layer: Layer) -> None: ...


# -- actions on a session -------------------------------------------------------------------------
class SessionMeasure:
    """Background marks, measured objects and the uncertainty map of one session."""

    def __init__(self, session: Session):
        self.session = session
        self._objects: list[str] = []  # slots of the objects layers, latest last

    def _state(self) -> tuple[Labels, Segmentation, Source]:
        layer, seg = self.session.require()
        assert self.session.src is not None
        return layer, seg, self.session.src

    # -- background -----------------------------------------------------------------------------
    def background(self) -> list[int]:
        """The clusters marked as background (left out of the share of tissue)."""
        return marked(self._state()[0].features)

    def set_background(self, labels: Iterable[int]) -> None:
        """Mark exactly ``labels`` as background (``[]`` clears every mark); a napari warning
        when a marked cluster holds stained tissue."""
        from .colors import assign_colormap

        layer, seg, _ = self._state()
        labels = self.session.check_labels(labels)
        added = set(labels) - set(self.background())
        cmap = self.session.with_see_through(layer.colormap, seg, labels)  # see-through follows
        with self.session.writing():
            layer.features = with_background(layer.features, labels)
            if cmap is not layer.colormap:
                assign_colormap(layer, cmap)
        self.session.reveal()
        self.session.changed.emit("background")
        if added:
            note = self.stained_background(sorted(added))
            if note:
                show_warning(note)

    # -- stains ---------------------------------------------------------------------------------
    def stains(self) -> StainReport | None:
        """The slide's report of the current result (``color_space="hed"`` with tissue
        detection): tissue and glass, DAB bins, H-score, saturated pixels, warnings."""
        seg = self.session.seg
        return None if seg is None else seg.stains

    def stained_background(self, labels: Iterable[int] | None = None) -> str:
        """A sentence when clusters marked background (or ``labels``) hold stained tissue:
        their pixels absorb more light than the glass. Empty when they do not, or when it
        cannot be told (not an RGB image held in memory)."""
        from .._core.measure.slide_stains import stained_background

        layer, seg, src = self._state()
        labels = self.background() if labels is None else list(labels)
        if not labels or not src.rgb or src.multiscale or not isinstance(seg.labels, np.ndarray):
            return ""
        white = None if seg.stains is None else seg.stains.white
        return stained_background(src.data, seg.labels, labels, self.session.names(), white_level=white)

    def announce(self) -> None:
        """Show the current result's warnings as napari warnings: the slide's (no glass,
        clipped glass, saturation, another stain pair) and background marks on tissue."""
        _, _, src = self._state()
        report = self.stains()
        for note in () if report is None else report.warnings:
            show_warning(f"'{src.name}': {note}")
        note = self.stained_background()
        if note:
            show_warning(f"'{src.name}': {note}")

    def follow_features(self) -> bool:
        """The features were replaced from outside (the console): recompute the shares of
        tissue if the background column no longer matches them. True if rewritten."""
        layer = self.session.clusters
        if layer is None or not {"background", "tissue_share", "area_px"} <= set(layer.features):
            return False
        f = layer.features
        bg = f["background"].to_numpy(bool)
        if np.array_equal(bg, np.isnan(f["tissue_share"].to_numpy(float))):
            return False
        self.set_background(marked(f))
        return True

    # -- objects ---------------------------------------------------------------------------------
    def objects_table(
        self, labels: str | Iterable[int], min_size: int = 0, split: bool = False
    ) -> tuple[np.ndarray, Any]:
        """Connected objects of the clusters ``labels`` and their measurements
        (:func:`~.._core.measure.measure.extract_objects`, with the cluster's name added)."""
        compute, _ = self.objects_job(labels, min_size, split)
        objects, f = compute()
        return objects, self._named(f)

    def objects_job(
        self, labels: str | int | Iterable[int], min_size: int = 0, split: bool = False
    ) -> tuple[Callable[..., Any], Callable[[Any], Labels | None]]:
        """``(compute(progress, cancel), done(result))`` for :meth:`extract_objects`: compute
        reads only the (frozen) result and the source data; done writes the layer.
        ``labels``: cluster labels, or "all but darkest" / "all but brightest"."""
        from .._core import extract_objects, foreground_labels

        _, seg, src = self._state()
        if isinstance(labels, str):
            labels = foreground_labels(seg, labels)
        labels = [labels] if isinstance(labels, int | np.integer) else list(labels)
        if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer) or min_size < 0:
            raise ValueError(f"min_size={min_size!r}: use a whole number of pixels >= 0.")
        labels = self.session.check_labels(labels)
        lab = seg.labels[0] if seg.multiscale else seg.labels
        image = src.data[0] if src.multiscale else src.data
        scale, unit = physical(src.scale, src.units, np.ndim(lab), src.channel_axis)

        def compute(progress: Any = None, cancel: Any = None) -> tuple[np.ndarray, Any]:
            import pandas as pd

            objects, table = extract_objects(
                lab,
                labels,
                image,
                min_size=int(min_size),
                scale=scale,
                unit=unit,
                rgb=src.rgb,
                channel_axis=src.channel_axis,
                channel_names=src.channel_names,
                split=bool(split),
                progress=progress,
                cancel=cancel,
            )
            return objects, pd.DataFrame(table)

        def done(result: tuple[np.ndarray, Any]) -> Labels | None:
            if self.session.seg is not seg:
                show_info("The clusters changed while their objects were measured; extract them again.")
                return None
            objects, f = result
            return self._write_objects(labels, int(min_size), objects, self._named(f), bool(split))

        return compute, done

    def _named(self, f: pd.DataFrame) -> pd.DataFrame:
        """The cluster's name added, and the columns a person reads on hover first (napari's
        status line shows them in order and cuts the rest): number, area, cluster, means."""
        names = self.session.names()  # at write time: a rename during the job is kept
        f["cluster_name"] = [names.get(int(c), "") for c in f["cluster"]]
        first = ["index", "area", "area_unit", "cluster_name"] + [
            c for c in f.columns if c.startswith("mean_")
        ]
        return f[[c for c in first if c in f.columns] + [c for c in f.columns if c not in first]]

    def extract_objects(
        self, labels: str | int | Iterable[int], min_size: int = 0, split: bool = False
    ) -> Labels:
        """Add the connected objects of one or more clusters (or "all but darkest" / "all but
        brightest") as a Labels layer whose ``features`` measure each object (napari shows
        them on hover); ``split`` cuts touching objects apart. Blocking; the dock runs
        :meth:`objects_job` in a worker."""
        compute, done = self.objects_job(labels, min_size, split)
        new = done(compute())
        assert new is not None  # nothing can change the clusters between the two calls
        return new

    def objects_summary(self) -> str:
        """One line counting the latest objects layer: how many, median and mean area."""
        try:
            layer = self.objects_layer()
        except ValueError:
            return ""
        return count_line(layer.features, layer.name, layer.data.ndim)

    def _write_objects(
        self, labels: list[int], min_size: int, objects: np.ndarray, features: Any, split: bool = False
    ) -> Labels:
        layer, seg, src = self._state()
        kind = "cluster " + "+".join(str(v) for v in sorted(set(labels))) + " objects"
        out = Output(
            kind,
            objects,
            dict(
                name=output_name(src.name, kind),
                scale=tuple(layer.scale),
                translate=tuple(layer.translate),
                features=important_first(features, "objects"),  # the status bar shows them
                colormap=object_colormap(),
                metadata={
                    MARK: {
                        "kind": "objects",
                        "source": src.name,
                        "labels": sorted(set(labels)),
                        "min_size": int(min_size),
                        "split": bool(split),
                    }
                },
            ),
            "labels",
        )
        (new,) = self.session.write(seg, src, [out], "extract")
        self.session.show_new(new)
        new.features = important_first(new.features, "objects")  # as napari keeps them
        self._objects = [s for s in self._objects if s != kind] + [kind]
        self.session.changed.emit("objects")  # the count in the measure section
        if len(features):
            line = count_line(features, new.name, objects.ndim)
            show_info(f"{line} Hover over one to see its measurements.")
        else:
            show_warning(
                f"No object of cluster(s) {sorted(set(labels))} has {min_size} "
                "pixels or more; lower 'min size'."
            )
        return new

    def objects_layer(self, prefer: Any = None) -> Labels:
        """``prefer`` if it is an objects layer the plugin wrote, else the latest one."""
        from .layers import unwrap

        prefer = unwrap(prefer)
        mine = [self.session.slots.get(s) for s in self._objects]
        mine = [ly for ly in mine if ly is not None]
        if prefer is not None and any(prefer is ly for ly in mine):
            return prefer
        if not mine:
            raise ValueError(
                "No objects layer yet: select a cluster, tick 'as objects' and press 'extract selected'."
            )
        return mine[-1]

    def export_objects(self, path: str | Path, layer: Any = None) -> Path:
        """Write an objects layer's table (default: the latest) as CSV."""
        return write_csv(self.objects_layer(layer).features, path)

    # -- pixel size ------------------------------------------------------------------------------
    def pixel_size(self) -> tuple[float, str] | None:
        """The in-plane pixel size and its unit when the image has physical units (from its
        layer's scale and units), else None: areas are then in pixels."""
        _, seg, src = self._state()
        scale, unit = physical(src.scale, src.units, _ndim(seg), src.channel_axis)
        if scale is None or unit in (None, "unit"):
            return None
        return float(scale[-1]), str(unit)

    def set_pixel_size(self, size: float, unit: str) -> None:
        """Give the image a pixel size: ``size`` ``unit`` (a length, e.g. 0.5 "µm") along
        its two in-plane axes, written to the scale and units of the image layer(s) and of
        every layer the plugin made from them (so they stay aligned and napari's scale bar
        agrees); areas are measured in ``unit``^2 from then on.

        Raises
        ------
        ValueError
            If ``size`` is not a positive number or ``unit`` is not a length.
        """
        import dataclasses

        import pint

        from .._core.measure.measure import area_unit, pixel_size

        layer, seg, src = self._state()
        try:
            size = float(size)
        except (TypeError, ValueError):
            raise ValueError(f"Pixel size {size!r}: type a number such as 0.5.") from None
        if not np.isfinite(size) or size <= 0:
            raise ValueError(f"Pixel size {size!r}: it must be a positive number.")
        registry = pint.get_application_registry()
        try:
            length = registry.Unit(str(unit).strip())
        except Exception:  # pint's UndefinedUnitError and parse errors
            raise ValueError(f"Unit {unit!r}: use a length such as {', '.join(LENGTH_UNITS)}.") from None
        if length.dimensionality != registry.Unit("m").dimensionality:
            raise ValueError(f"Unit {unit!r} is not a length; use one of {', '.join(LENGTH_UNITS)}.")
        name = f"{length:~}"
        new = dataclasses.replace(src, scale=_in_plane(src, size), units=(name,) * len(src.scale))
        mine = [self.session.slots.get(s) for s in self.session.slots.slots()]
        for ly in [*src.layers, *(m for m in mine if m is not None)]:
            n = len(ly.scale)
            scale = (
                new.scale
                if n == len(new.scale)
                else new.label_scale
                if n == len(new.label_scale)
                else tuple(new.scale)[-n:]
            )
            ly.scale = scale
            ly.units = (name,) * n
        _scale_bar_unit(self.session.viewer, name)
        # napari's own units (pint), as a run reads them from the layer
        new = dataclasses.replace(new, units=tuple(getattr(src.layers[0], "units", None) or ()) or None)
        self.session.src = new
        ndim = _ndim(seg)
        with self.session.writing():
            layer.features = cluster_features(seg, new, self.session.names(), self.background())
            for slot in self._objects:
                objects = self.session.slots.get(slot)
                if objects is not None and "area_px" in objects.features:
                    f = objects.features.copy()
                    axes, u = physical(new.scale, new.units, ndim, new.channel_axis)
                    f["area"] = f["area_px"] * pixel_size(axes, ndim)
                    f["area_unit"] = area_unit(u, ndim)
                    objects.features = important_first(f, "objects")
        self.session.viewer.reset_view()  # the image's size in the canvas changed
        self.session.changed.emit("scale")

    # -- the cluster table -------------------------------------------------------------------------
    def export_table(self, path: str | Path) -> Path:
        """The clusters layer's table with a 'visible' column, as CSV; on a stain measurement
        the slide's numbers follow on every row, named as in the command line's summary.csv
        (``tissue_px``, ``glass_px``, ``tissue_pct``, ``positive_pct_of_tissue``, weak /
        moderate / strong ``_pct_of_tissue``, ``h_score``, ``saturated_px``, ``white``,
        ``dab_thresholds``, ``warning``)."""
        layer, seg, _ = self._state()
        f = layer.features.copy()
        hidden = set(self.session.hidden())
        f["visible"] = [int(i) not in hidden for i in f["index"]]
        report = seg.stains
        if report is not None:
            for key, value in report.row().items():
                f[key] = value
            f["warning"] = " | ".join(" ".join(w.split()) for w in report.warnings)
        return write_csv(f, path)

    # -- uncertainty -------------------------------------------------------------------------------
    def uncertainty_job(
        self, kind: str = "distance"
    ) -> tuple[Callable[..., Any], Callable[[Any], Layer | None]]:
        """``(compute(progress, cancel), done(map))`` for the uncertainty map of the result."""
        from .._core import distance_map

        if kind not in UNCERTAINTY_KINDS:
            raise ValueError(f"kind={kind!r}: choose one of {list(UNCERTAINTY_KINDS)}.")
        _, seg, src = self._state()
        if src.multiscale or not isinstance(seg.labels, np.ndarray):
            raise ValueError(
                "The uncertainty map works on images held in memory (not multiscale or lazily loaded ones)."
            )
        model, labels = seg.model, seg.labels

        def compute(progress: Any = None, cancel: Any = None) -> np.ndarray:
            d = distance_map(
                model,
                src.data,
                kind=kind,
                rgb=src.rgb,
                channel_axis=src.channel_axis,
                progress=progress,
                cancel=cancel,
            )
            d[labels == 0] = np.nan  # left out of the run (mask): no cluster to be sure of
            return d

        def done(d: np.ndarray) -> Layer | None:
            if self.session.seg is not seg:
                show_info(
                    "The clusters changed while the uncertainty map was computed; press the button again."
                )
                return None
            return self._write_uncertainty(d, kind, seg, src)

        return compute, done

    def uncertainty(self, kind: str = "distance") -> Layer | None:
        """Compute and add the uncertainty map now (blocking; the dock runs it in a worker)."""
        compute, done = self.uncertainty_job(kind)
        return done(compute())

    def _write_uncertainty(self, d: np.ndarray, kind: str, seg: Segmentation, src: Source) -> Layer:
        top = float(np.nanpercentile(d, 99.5)) if np.isfinite(d).any() else 1.0
        nd = d.ndim
        out = Output(
            "uncertainty",
            d,
            dict(
                name=output_name(src.name, "uncertainty"),
                scale=tuple(src.scale)[-nd:],
                translate=tuple(src.translate)[-nd:],
                colormap="magma",
                contrast_limits=[0.0, max(top, 1e-6)],
                metadata={MARK: {"kind": "uncertainty", "source": src.name, "measure": kind}},
            ),
            "image",
        )
        (layer,) = self.session.write(seg, src, [out], "uncertainty")
        self.session.show_new(layer)  # on top (a new layer), shown and selected
        what, how = UNCERTAINTY_KINDS[kind]
        show_info(f"'{layer.name}': {what} ({how}). Untick its eye to see the clusters again.")
        return layer


def _in_plane(src: Source, size: float) -> tuple:
    """``src``'s scale with its last two spatial axes (rows and columns) ``size``; a channel
    axis and the other axes (z, time) keep theirs."""
    scale = [float(v) for v in src.scale]
    spatial = list(range(len(scale)))
    if src.channel_axis is not None and not src.rgb and not src.split_channels:
        spatial.remove(src.channel_axis % len(scale))
    for i in spatial[-2:]:
        scale[i] = size
    return tuple(scale)


def _scale_bar_unit(viewer: Any, unit: str) -> None:
    """napari before layer units (0.5) labels its scale bar with its own ``unit``; newer
    napari reads the layers' units (and deprecates that field)."""
    if not hasattr(viewer.layers, "units"):
        viewer.scale_bar.unit = unit
