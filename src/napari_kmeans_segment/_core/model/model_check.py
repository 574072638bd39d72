"""Field-by-field validation of a model file (JSON dict) before anything is built from it.

A model file is data from outside: every field is checked for type, shape, range and
consistency with the others, so a damaged file is refused on load with the name of the
field, and nothing is ever allocated in proportion to a number the file states (memory
stays O(K x channels) plus the file's own size).
"""

from __future__ import annotations

import numpy as np

from ..features.features import COLOR_SPACES, WORK_LIMIT, FeatureSpace
from ..options import MAX_CLUSTERS, MAX_SPATIAL_WEIGHT, Options

# params key written at fit time (:func:`~.measure.uncertainty.fit_reference`): the 99th
# percentile of the fitted pixels' distances to their centre (feature units)
DISTANCE_KEY = "distance_p99"


class Damaged(ValueError):
    def __init__(self, what: str):
        super().__init__(f"This model file is damaged ({what}); save the model again.")


def _matrix(
    d: dict, name: str, rows: int | None = None, cols: int | None = None, limit: float = np.inf
) -> np.ndarray:
    v = d.get(name)
    try:
        a = np.asarray(v, np.float64)
    except (TypeError, ValueError):
        raise Damaged(f"{name} is not a table of numbers") from None
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise Damaged(f"{name} is not a table of numbers (one row per cluster)")
    if rows is not None and a.shape[0] != rows:
        raise Damaged(f"{name} has {a.shape[0]} rows, not one per cluster ({rows})")
    if cols is not None and a.shape[1] != cols:
        raise Damaged(f"{name} has {a.shape[1]} columns, expected {cols}")
    if not np.isfinite(a).all():
        raise Damaged(f"{name} holds NaN or infinite values")
    if not (np.abs(a) <= limit).all():
        raise Damaged(f"{name} holds values beyond {limit:.3g}, outside any feature space")
    return a


def _vector(d: dict, name: str, length: int, positive: bool = False, limit: float = np.inf) -> np.ndarray:
    try:
        a = np.asarray(d.get(name), np.float64)
    except (TypeError, ValueError):
        raise Damaged(f"{name} is not a list of numbers") from None
    if (
        a.shape != (length,)
        or not np.isfinite(a).all()
        or (positive and not (a > 0).all())
        or not (np.abs(a) <= limit).all()
    ):
        raise Damaged(
            f"{name} should be {length} finite{' positive' if positive else ''} "
            f"number(s), not {d.get(name)!r:.80}"
        )
    return a


def _number(d: dict, name: str, lo: float, hi: float = np.inf, low_open: bool = False, default=None) -> float:
    v = d.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Damaged(f"{name} is not a number: {v!r:.80}")
    v = float(v)
    if not (np.isfinite(v) and (v > lo if low_open else v >= lo) and v <= hi):
        raise Damaged(f"{name}={v!r} is out of range")
    return v


def check_feature_space(d, n_channels: int, width: int, where: str = "feature_space"):
    """A :class:`FeatureSpace` from its dict, checked against the model's widths."""
    if not isinstance(d, dict):
        raise Damaged(f"{where} is missing")
    cs = d.get("color_space")
    if cs not in COLOR_SPACES:
        raise Damaged(f"{where}.color_space {cs!r:.40} is not one of {COLOR_SPACES}")
    if not isinstance(d.get("normalize"), bool):
        raise Damaged(f"{where}.normalize is not true/false")
    sw = _number(d, "spatial_weight", 0.0, MAX_SPATIAL_WEIGHT)
    ts = _number(d, "texture_sigma", 0.0, 1e6)
    _number(d, "value_range", 0.0, low_open=True)
    n_color = n_channels if cs == "rgb" else 3
    if cs != "rgb" and n_channels != 3:
        raise Damaged(f"{where}.color_space {cs!r} needs 3 channels, the model has {n_channels}")
    n_space = 0
    if sw > 0:
        scale = d.get("spatial_scale")
        n_space = len(scale) if isinstance(scale, list) else 0
        if not 1 <= n_space <= 32:
            raise Damaged(f"{where}.spatial_scale is missing for spatial_weight={sw}")
        _vector(d, "spatial_scale", n_space, limit=WORK_LIMIT)
    expect = n_color + (ts > 0) + n_space
    if width != expect:
        raise Damaged(
            f"feature_centers have {width} columns, but the feature space makes {expect} "
            f"({n_color} colour, {int(ts > 0)} texture, {n_space} position)"
        )
    for name in ("mean", "std"):
        if d.get(name) is not None or d["normalize"]:
            _vector(d, name, n_color, positive=name == "std", limit=WORK_LIMIT)
    _number(d, "texture_mean", -np.inf, default=0.0)
    _number(d, "texture_std", 0.0, low_open=True, default=1.0)
    if d.get("white") is not None:
        if cs != "hed":
            raise Damaged(f"{where}.white is set for color_space {cs!r} (only 'hed' measures stains)")
        _vector(d, "white", 3, positive=True, limit=WORK_LIMIT)
    if d.get("tissue_od") is not None:
        if d.get("white") is None:
            raise Damaged(f"{where}.tissue_od needs the white level it is relative to")
        _number(d, "tissue_od", 0.0, 5.0, low_open=True)
    check_stain_fields(d, cs, where)
    if (d.get("offset") is None) != (d.get("scale_exp") is None):
        raise Damaged(f"{where}.offset and scale_exp come together")
    if d.get("offset") is not None:
        _vector(d, "offset", n_channels)
        e = _vector(d, "scale_exp", n_channels)
        if not (np.abs(e) <= 1100).all() or not (e == np.round(e)).all():
            raise Damaged(f"{where}.scale_exp is out of range")
    try:
        return FeatureSpace.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise Damaged(f"{where}: {e}") from None


#: Largest condition number of a stain matrix: Macenko's and the fixed matrices are near 1-10;
#: beyond this the densities are noise amplified (a singular matrix cannot be applied at all).
MAX_STAIN_CONDITION = 1e6


def check_stain_fields(d: dict, cs: str, where: str = "feature_space") -> None:
    """The stain matrix (3 x 3, finite, invertible) and per-stain divisors (3 finite numbers
    > 0) of a feature space: a damaged one made every stain density wrong or crashed apply."""
    m = d.get("stain_matrix")
    if m is not None:
        try:
            a = np.asarray(m, np.float64)
        except (TypeError, ValueError):
            a = np.zeros(0)
        if a.shape != (3, 3) or not np.isfinite(a).all():
            raise Damaged(f"{where}.stain_matrix should be a 3 x 3 table of finite numbers, not {m!r:.80}")
        if not np.linalg.cond(a) <= MAX_STAIN_CONDITION:
            raise Damaged(f"{where}.stain_matrix is singular (its stains cannot be told apart)")
    if cs == "hed" or d.get("stain_scale") is not None:
        # every "hed" fit stores its divisors; without them one stain dominates k-means
        _vector(d, "stain_scale", 3, positive=True, limit=WORK_LIMIT)


def check_params(params, n_channels: int) -> dict:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise Damaged("params is not a mapping")
    if params.get("rgb") is not None and not isinstance(params["rgb"], bool):
        raise Damaged(f"params.rgb is not true/false: {params['rgb']!r:.40}")
    ca = params.get("channel_axis")
    if ca is not None and (isinstance(ca, bool) or not isinstance(ca, int) or abs(ca) > 32):
        raise Damaged(f"params.channel_axis is not an axis: {ca!r:.40}")
    shape = params.get("spatial_shape")
    if shape is not None and not (
        isinstance(shape, list)
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        raise Damaged("params.spatial_shape is not a list of sizes")
    rng = params.get("image_range")
    if rng is not None:
        try:
            a = np.asarray(rng, np.float64)
        except (TypeError, ValueError):
            a = np.zeros(0)
        if a.shape != (2, n_channels) or np.isnan(a).any():
            raise Damaged("params.image_range is not (min, max) per channel")
        if not (a[0] <= a[1]).all():
            raise Damaged("params.image_range has a minimum above its maximum")
    if params.get("image_dtype") is not None:
        kind: str = ""
        try:
            kind = np.dtype(str(params["image_dtype"])).kind
        except (TypeError, ValueError):
            pass
        if kind not in ("b", "i", "u", "f"):
            raise Damaged(f"params.image_dtype is not an image's number type: {params['image_dtype']!r:.40}")
    # The outliers' reference (outlier_fraction): a negative or NaN distance made every image
    # read as 100% or 0% outliers. 0 is legitimate: a fit on an image of exactly K colours.
    dist = params.get(DISTANCE_KEY)
    if dist is not None and (
        isinstance(dist, bool) or not isinstance(dist, int | float) or not (np.isfinite(dist) and dist >= 0)
    ):
        raise Damaged(f"params.{DISTANCE_KEY}={dist!r:.40} is not a finite distance >= 0")
    for flag in ("per_plane", "normalize"):
        if params.get(flag) is not None and not isinstance(params[flag], bool):
            raise Damaged(f"params.{flag} is not true/false: {params[flag]!r:.40}")
    check_smoothing_params(params)
    return dict(params)


def check_smoothing_params(params: dict) -> None:
    """A smoothing model's width, sigmas (pixels per axis) and temperature are numbers it
    can smooth with: finite, >= 0 (the temperature > 0)."""

    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))

    s = params.get("smoothing")
    if s is not None and not (number(s) and s >= 0):
        raise Damaged(f"params.smoothing is not a width >= 0: {s!r:.40}")
    sig = params.get("smoothing_sigma")
    if sig is not None and not (isinstance(sig, list) and sig and all(number(v) and v >= 0 for v in sig)):
        raise Damaged("params.smoothing_sigma is not a list of widths >= 0")
    t = params.get("smoothing_temperature")
    if t is not None and not (number(t) and t > 0):
        raise Damaged(f"params.smoothing_temperature is not a number > 0: {t!r:.40}")


def check_label_map(v, k: int) -> np.ndarray | None:
    if v is None:
        return None
    try:
        a = np.asarray(v, np.float64)
    except (TypeError, ValueError):
        raise Damaged("label_map is not a list of labels") from None
    if a.shape != (k,):
        raise Damaged(f"label_map has shape {a.shape}, not one label per cluster ({k})")
    if not (np.isfinite(a).all() and (a == np.round(a)).all() and (a >= 1).all() and (a <= k).all()):
        raise Damaged(f"label_map holds labels outside 1..{k}")
    return a.astype(np.int64)


def check_model_dict(d: dict):
    """(feature_centers, centers, feature_space, params, label_map) of a model dict."""
    fc = _matrix(d, "feature_centers", limit=WORK_LIMIT)
    k = fc.shape[0]
    if not 2 <= k <= MAX_CLUSTERS:
        raise Damaged(f"{k} cluster(s); a model has 2 to {MAX_CLUSTERS}")
    if "n_clusters" in d and d["n_clusters"] != k:
        raise Damaged(f"n_clusters={d['n_clusters']!r:.40} but there are {k} centres")
    c = _matrix(d, "centers", rows=k)
    if "n_channels" in d and d["n_channels"] != c.shape[1]:
        raise Damaged(f"n_channels={d['n_channels']!r:.40} but centers have {c.shape[1]} columns")
    fs = check_feature_space(d.get("feature_space"), c.shape[1], fc.shape[1])
    params = check_params(d.get("params"), c.shape[1])
    if params.get("per_plane") and params.get("planes") is not None:
        planes = params["planes"]
        if not isinstance(planes, list) or not planes or not all(isinstance(p, dict) for p in planes):
            raise Damaged("params.planes is not a list of plane models")
        for i, p in enumerate(planes):
            pfc = _matrix(p, "feature_centers", rows=k, limit=WORK_LIMIT)
            check_feature_space(
                p.get("feature_space"), c.shape[1], pfc.shape[1], f"params.planes[{i}].feature_space"
            )
    if d.get("options") is not None:  # files written before it keep the options in params only
        params.update(check_options(d["options"], k).to_dict())
    check_tissue_recorded(fs, params)
    return fc, c, fs, params, check_label_map(d.get("label_map"), k)


def check_tissue_recorded(fs: FeatureSpace, params: dict) -> None:
    """A "hed" model fitted with tissue detection keeps its threshold (``tissue_od``):
    without it the model would silently cluster the glass with the tissue. A file that does
    not record the ``tissue`` option predates tissue detection: it is applied as it was
    fitted (glass clustered), with a warning."""
    if fs.color_space != "hed" or fs.tissue_od is not None:
        return
    tissue = params.get("tissue")
    if tissue is True:
        raise Damaged("feature_space.tissue_od is missing, but the model was fitted with tissue detection")
    if tissue is None:
        import warnings

        warnings.warn(
            "This model file predates tissue detection: its glass is clustered with the tissue "
            "(no label 0, no stain measurements). Fit and save the model again to detect tissue.",
            UserWarning,
            stacklevel=3,
        )


def check_options(v, k: int) -> Options:
    """The fit's :class:`Options` stored in a model file, checked."""
    try:
        opts = Options.from_dict(v).check()
    except (TypeError, ValueError) as e:
        raise Damaged(f"options: {e}") from None
    if opts.n_clusters != k:
        raise Damaged(f"options.n_clusters={opts.n_clusters} but there are {k} centres")
    return opts


MAX_NAME_LENGTH = 200  # characters in a cluster name: a table heading, not a document


def names_problem(v, labels) -> str | None:
    """What is wrong with ``v`` as the names of ``labels`` (a mapping label -> name, JSON
    keys being strings), or None. Not every label needs a name."""
    if not isinstance(v, dict):
        return f"names is not a mapping of label to name: {v!r:.60}"
    for key, name in v.items():
        try:
            label = int(key)
        except (TypeError, ValueError):
            return f"names has the key {key!r:.40}, not a label"
        if isinstance(key, bool) or (isinstance(key, float | str) and str(label) != str(key).strip()):
            return f"names has the key {key!r:.40}, not a label"
        if label not in labels:
            return f"names has a name for label {label}, which is not one of the labels {sorted(labels)}"
        if not isinstance(name, str):
            return f"names[{label}] is not text: {name!r:.40}"
        if not name.strip() or len(name) > MAX_NAME_LENGTH:
            return f"names[{label}] has {len(name)} characters; give 1 to {MAX_NAME_LENGTH}"
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            return f"names[{label}] holds control characters (line breaks, tabs)"
    return None


def background_problem(v, labels) -> str | None:
    """What is wrong with ``v`` as the background labels among ``labels``, or None."""
    if not isinstance(v, list | tuple) or not all(isinstance(b, int) and not isinstance(b, bool) for b in v):
        return f"background is not a list of labels: {v!r:.60}"
    if len(set(v)) != len(v):
        return "background lists a label twice"
    bad = [b for b in v if b not in labels]
    if bad:
        return f"background holds {bad[:5]}, not among the labels {sorted(labels)}"
    return None


def check_names(d: dict, label_map: np.ndarray | None, k: int):
    """(names, background) of a model dict; both None when the file has none (older files)."""
    labels = set(range(1, k + 1)) if label_map is None else {int(v) for v in label_map}
    names = d.get("names")
    background = d.get("background")
    if names is not None:
        problem = names_problem(names, labels)
        if problem:
            raise Damaged(problem)
        names = {int(key): str(v) for key, v in names.items()}
    if background is not None:
        problem = background_problem(background, labels)
        if problem:
            raise Damaged(problem)
        background = tuple(sorted(int(b) for b in background))
    return names, background
