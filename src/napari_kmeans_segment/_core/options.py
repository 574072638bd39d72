"""Options of a k-means fit: one frozen dataclass holding every tunable, its default and its
check. ``segment``, the lazy and multiscale paths, ``suggest_k``, saved models, the dock, the
command line and the Python the dock copies all take or produce an :class:`Options`.

Adding a tunable is one edit in each of these places (``tests/core/test_core_options.py`` fails
until every one is made):

1. a field of :class:`Options` with its default, and its check in :data:`CHECKS`;
2. the keyword of :func:`napari_kmeans_segment.segment` (the public, scikit-image-style
   signature and its docstring), passed on into ``Options``;
3. a control of the dock named as the field (``_qt/form.py``; ``run_options`` reads it);
4. a command-line flag whose ``dest`` is the field's name (``_cli/args.py``; ``fit_options``
   reads it);
5. a row of the parameter table in ``docs/parameters.md``.

The fit then reads the value from the ``Options`` it is given; models store it with the
others, and the dock's copied Python writes it when it differs from the default.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, cast

import numpy as np

from .features.features import COLOR_SPACES

#: The two ways of running k-means: "fast" fits a sample then refines on all pixels,
#: "exact" is the tutorial's cv2.kmeans on every pixel. ``params["method"]`` is one of
#: these, or "model" for a result made by applying a saved model.
MODES = ("fast", "exact")

#: Initialisations: canonical name -> cv2 flag name. "k-means++" is spelled as
#: scikit-learn spells it; "kmeans++" is accepted as an alias (see :data:`INIT_ALIASES`).
INITS = {"random": "KMEANS_RANDOM_CENTERS", "k-means++": "KMEANS_PP_CENTERS"}
INIT_ALIASES = {"kmeans++": "k-means++"}

MAX_CLUSTERS = 65535
#: "auto" runs the exact recipe on small images only up to this K (see Options.auto_exact).
AUTO_EXACT_MAX_K = 16
MIN_OBJECT_PIXELS = 20  # objects smaller than this are specks: the dock's and the CLI's default
#: Upper bounds, each with its reason in the error message.
MAX_ATTEMPTS = 1000  # attempts run one after another; past ~20 the best rarely changes
MAX_ITER = 100_000  # cv2.kmeans counts in a C int; Lloyd has long converged by then
MAX_SPATIAL_WEIGHT = 1e6  # position then outweighs colour a million times: colour is lost

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class Options:
    """Every tunable of a k-means fit, with its default.

    :func:`napari_kmeans_segment.segment` says what each one means (its keywords are these
    fields). Built as it is given (``Options(n_clusters=4, color_space="lab")``);
    :meth:`check` returns the validated copy the fit runs with. Read-only: derive another
    with :func:`dataclasses.replace` or :meth:`updated`.

    Examples
    --------
    >>> from napari_kmeans_segment import Options
    >>> options = Options(n_clusters=4, init="kmeans++")
    >>> options.check().init, options.mode
    ('k-means++', 'fast')
    >>> options.changed()
    {'n_clusters': 4, 'init': 'kmeans++'}
    """

    n_clusters: int = 3
    attempts: int = 10
    max_iter: int = 100
    epsilon: float = 0.2
    init: str = "random"
    seed: int | None = None
    sample_size: int | str | None = "auto"  # "auto"/an int: the fast path; None: the exact recipe
    color_space: str = "rgb"
    stain_vectors: str = "fixed"  # color_space="hed" only: "fixed" or "macenko"
    normalize: bool = False
    spatial_weight: float = 0.0
    texture_sigma: float = 0.0
    per_plane: bool = False
    smoothing: float = 0.0  # pixels (or the layer's units): 0 is pixel-wise clustering
    # color_space="hed" only: tissue and glass from optical density (glass = label 0), the
    # white level (None: estimated from the glass), the tissue threshold (mean OD; None: from
    # the glass's noise) and the DAB weak/moderate/strong thresholds (None: from the clusters)
    tissue: bool = True
    white_level: float | tuple[float, float, float] | None = None
    tissue_od: float | None = None
    dab_thresholds: tuple[float, float, float] | None = None

    # -- validation --------------------------------------------------------------------------
    def check(self) -> Options:
        """The validated copy: whole numbers as ``int``, ``init`` canonical, flags as ``bool``.

        Returns
        -------
        Options

        Raises
        ------
        TypeError
            For a value of the wrong type (``attempts=2.5``).
        ValueError
            For a value out of range or two that do not go together; the first problem.

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> Options(n_clusters=4, init="kmeans++").check().init
        'k-means++'
        >>> Options(n_clusters=1).check()
        Traceback (most recent call last):
        ...
        ValueError: n_clusters=1: choose at least 2 clusters (and at most 65535).
        >>> Options(attempts=2.5).check()
        Traceback (most recent call last):
        ...
        TypeError: attempts must be a whole number, not 2.5.
        """
        valid, errors = self._validate()
        if errors:
            raise errors[0]
        return Options(**valid)

    def problems(self) -> list[Exception]:
        """Every problem :meth:`check` would raise, in field order.

        The command line lists them all at once.

        Returns
        -------
        list of Exception
            TypeError and ValueError instances; empty when the options are valid.

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> [type(p).__name__ for p in Options(n_clusters=1, attempts=0).problems()]
        ['ValueError', 'ValueError']
        >>> Options().problems()
        []
        """
        return self._validate()[1]

    def _validate(self) -> tuple[dict[str, Any], list[Exception]]:
        valid: dict[str, Any] = {}  # the fields checked so far (later checks may read them)
        errors: list[Exception] = []
        for f in fields(self):
            try:
                valid[f.name] = CHECKS[f.name](getattr(self, f.name), valid)
            except (TypeError, ValueError) as e:
                errors.append(e)
        return valid, errors

    # -- conversions -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{field: value}`` of every field (JSON-ready once checked).

        Returns
        -------
        dict of str to value

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> d = Options(n_clusters=5).to_dict()
        >>> d["n_clusters"], d["color_space"], len(d)
        (5, 'rgb', 18)
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Options:
        """Options from a mapping of some fields; the others keep their defaults.

        Not yet checked (see :meth:`check`).

        Parameters
        ----------
        d : dict
            Option name -> value.

        Returns
        -------
        Options

        Raises
        ------
        ValueError
            For a ``d`` that is not a dict, or a key that is not an option (with the nearest
            option names).

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> Options.from_dict({"n_clusters": 4}).n_clusters
        4
        >>> Options.from_dict({"n_cluster": 4})
        Traceback (most recent call last):
        ...
        ValueError: Unknown option(s) n_cluster (did you mean n_clusters?); the options are ...
        """
        if not isinstance(d, dict):
            raise ValueError(f"Options are a mapping of option name to value, not {d!r:.60}.")
        unknown = sorted(set(d) - set(names()))
        if unknown:
            raise ValueError(unknown_message(unknown, names()))
        return cls(**d)

    def updated(self, keywords: dict[str, Any], *, where: str = "", allowed: Iterable[str] = ()) -> Options:
        """These options with ``keywords`` (option name -> value) replaced, not yet checked.

        Parameters
        ----------
        keywords : dict
            Option name -> value.
        where : str
            The name of the function the keywords were given to, for the message.
        allowed : iterable of str
            The option names accepted; default all.

        Returns
        -------
        Options
            A copy (``self`` when ``keywords`` is empty).

        Raises
        ------
        TypeError
            For a keyword that is not an option (or not among ``allowed``), as Python does
            for an unknown keyword argument; ``where`` names the function that was called.

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> Options().updated({"n_clusters": 6, "seed": 1}).changed()
        {'n_clusters': 6, 'seed': 1}
        >>> Options().updated({"colour_space": "lab"}, where="segment")
        Traceback (most recent call last):
        ...
        TypeError: segment got unknown option(s) colour_space (did you mean color_space?); ...
        """
        ok = list(allowed) or names()
        unknown = sorted(set(keywords) - set(ok))
        if unknown:
            raise TypeError(unknown_message(unknown, ok, where))
        return replace(self, **keywords) if keywords else self

    def changed(self) -> dict[str, Any]:
        """``{field: value}`` of the fields that differ from the defaults, in field order.

        Returns
        -------
        dict of str to value

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> Options(color_space="lab", n_clusters=3).changed()
        {'color_space': 'lab'}
        >>> Options(normalize=True).changed()
        {'normalize': True}
        """
        return {k: v for k, v in self.to_dict().items() if _differs(v, getattr(DEFAULTS, k))}

    # -- what the fit reads ------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """ "exact" (``sample_size=None``: the tutorial's recipe) or "fast"."""
        return "exact" if self.sample_size is None else "fast"

    def criteria(self):
        """The ``criteria`` argument of ``cv2.kmeans``: (EPS + MAX_ITER, max_iter, epsilon).

        Returns
        -------
        (int, int, float)

        Examples
        --------
        >>> import cv2
        >>> from napari_kmeans_segment import Options
        >>> kind, max_iter, epsilon = Options(max_iter=50).criteria()
        >>> kind == cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, max_iter, epsilon
        (True, 50, 0.2)
        """
        import cv2

        return (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, self.max_iter, self.epsilon)

    def flags(self) -> int:
        """The ``flags`` argument of ``cv2.kmeans`` for :attr:`init`.

        Returns
        -------
        int
            ``cv2.KMEANS_RANDOM_CENTERS`` or ``cv2.KMEANS_PP_CENTERS``.

        Examples
        --------
        >>> import cv2
        >>> from napari_kmeans_segment import Options
        >>> Options(init="k-means++").flags() == cv2.KMEANS_PP_CENTERS
        True
        """
        import cv2

        return getattr(cv2, INITS[self.init])

    def auto_sample(self) -> int:
        """The number of pixels ``sample_size="auto"`` stands for: 5,000, or 625 per cluster.

        Returns
        -------
        int

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> Options(n_clusters=3).auto_sample(), Options(n_clusters=16).auto_sample()
        (5000, 10000)
        """
        return max(5_000, 625 * self.n_clusters)

    def auto_exact(self, n_valid: int, is_float: bool = False) -> bool:
        """Whether ``sample_size="auto"`` runs the exact recipe on an image of ``n_valid`` pixels.

        Yes for small integer images (at most four samples' worth of pixels, see
        :meth:`auto_sample`) and K <= :data:`AUTO_EXACT_MAX_K`. cv2.kmeans costs pixels x K
        per iteration and cannot be cancelled mid-attempt: K=255 on 200x200 took ~8 s per
        attempt exact. Float images never: the recipe's epsilon (0.2, in image units) stops
        it after a step or two on values in 0..1.

        Parameters
        ----------
        n_valid : int
            The number of pixels to cluster.
        is_float : bool
            Whether the image holds floating-point values.

        Returns
        -------
        bool

        Examples
        --------
        >>> from napari_kmeans_segment import Options
        >>> options = Options(n_clusters=3)
        >>> options.auto_exact(20_000), options.auto_exact(20_001), options.auto_exact(600, is_float=True)
        (True, False, False)
        """
        return n_valid <= 4 * self.auto_sample() and self.n_clusters <= AUTO_EXACT_MAX_K and not is_float


#: The defaults, read-only (``DEFAULTS.attempts``).
DEFAULTS = Options()


def names() -> list[str]:
    """The option names, in field order."""
    return [f.name for f in fields(Options)]


def for_model(n_clusters: int) -> Options:
    """The options of a :class:`.fitting_run.Run` that only assigns pixels to saved centres."""
    return Options(n_clusters=n_clusters, attempts=1, max_iter=1, epsilon=0.0, sample_size=None).check()


def options_of(params: dict) -> Options:
    """The options recorded in a result's or a model's ``params`` (keys that are not options,
    such as ``seed_used`` or ``method``, are left aside; missing ones keep their defaults)."""
    return Options(**{k: params[k] for k in names() if k in params})


def unknown_message(unknown: list[str], known: list[str], where: str = "") -> str:
    hints = [m for u in unknown for m in difflib.get_close_matches(u, known, n=1)]
    said = f"{where} got unknown option(s)" if where else "Unknown option(s)"
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    return f"{said} {', '.join(unknown)}{hint}; the options are {', '.join(known)}."


def _differs(a, b) -> bool:
    return a != b or isinstance(a, bool) != isinstance(b, bool)  # 0 is 0.0, but 1 is not True


# -- one check per field ---------------------------------------------------------------------------
# Each takes the value and the fields checked before it (a field whose check failed is absent),
# returns the validated value or raises TypeError/ValueError with advice.


def _n_clusters(v, _: dict) -> int:
    v = _int("n_clusters", v)
    if not 2 <= v <= MAX_CLUSTERS:
        raise ValueError(f"n_clusters={v}: choose at least 2 clusters (and at most {MAX_CLUSTERS}).")
    return v


def _attempts(v, _: dict) -> int:
    v = _int("attempts", v)
    if v < 1:
        raise ValueError(f"attempts={v}: k-means needs at least 1 attempt ({DEFAULTS.attempts} is usual).")
    if v > MAX_ATTEMPTS:
        raise ValueError(
            f"attempts={v}: use at most {MAX_ATTEMPTS}. Attempts run one after "
            f"another, and beyond a few dozen the best of them rarely changes "
            f"({DEFAULTS.attempts} is usual)."
        )
    return v


def _max_iter(v, _: dict) -> int:
    v = _int("max_iter", v)
    if v < 1:
        raise ValueError(f"max_iter={v}: allow at least 1 iteration ({DEFAULTS.max_iter} is usual).")
    if v > MAX_ITER:
        raise ValueError(
            f"max_iter={v}: use at most {MAX_ITER}. k-means settles long before "
            f"that; raise the precision with a smaller epsilon instead "
            f"({DEFAULTS.max_iter} is usual)."
        )
    return v


def _epsilon(v, _: dict) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise TypeError(f"epsilon must be a number, not {type(v).__name__}.")
    v = float(v)
    if not v >= 0 or not np.isfinite(v):
        raise ValueError(f"epsilon={v}: use a finite value >= 0 ({DEFAULTS.epsilon} is the tutorial's).")
    return v


def _seed(v, _: dict) -> int | None:
    if v is None:
        return None
    v = _int("seed", v)
    if not 0 <= v < 2**63:
        raise ValueError(f"seed={v}: use a non-negative integer (or None).")
    return v


def _sample_size(v, valid: dict) -> int | str | None:
    if v is None or (isinstance(v, str) and v == "auto"):
        return v
    v = _int("sample_size", v)
    k = valid.get("n_clusters")
    if k is not None and v < k:
        raise ValueError(
            f"sample_size={v} is smaller than n_clusters={k}; use "
            "'auto', None (exact recipe) or a sample of at least K pixels."
        )
    return v


def _color_space(v, _: dict) -> str:
    if not isinstance(v, str) or v not in COLOR_SPACES:
        raise ValueError(f"color_space={v!r}: choose one of {COLOR_SPACES}.")
    return v


def _stain_vectors(v, valid: dict) -> str:
    # an unknown color_space is reported by its own check: only the name is checked then
    check_stain_vectors(v, valid.get("color_space", "hed"))
    return str(v)


def _weight(name: str) -> Callable[[Any, dict], float]:
    def check(v, _: dict) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not v >= 0:
            raise ValueError(f"{name}={v!r}: use a finite number >= 0 (0 turns it off).")
        if not np.isfinite(v):
            raise ValueError(f"{name}={v!r}: use a finite number >= 0 (0 turns it off).")
        if name == "spatial_weight" and v > MAX_SPATIAL_WEIGHT:
            raise ValueError(
                f"spatial_weight={v!r}: use at most {MAX_SPATIAL_WEIGHT:g}; 1 gives "
                "position as much weight as colour, and far above that colour no longer counts."
            )
        return float(v)

    return check


def _smoothing(v, _: dict) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise TypeError(f"smoothing must be a number (0 turns it off), not {v!r}.")
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"smoothing={v!r}: use a finite number >= 0 (0 turns it off).")
    return float(v)


def _flag(name: str) -> Callable[[Any, dict], bool]:
    def check(v, _: dict) -> bool:
        # bool("no") is True: text or numbers would turn an option on by accident
        if not isinstance(v, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, not {v!r:.40}.")
        return bool(v)

    return check


def _slide(name: str) -> Callable[[Any, dict], Any]:
    """The check of a stain-measurement option (:mod:`.slide_stains`): its value, and that
    it is only set with color_space="hed" and tissue detection on."""

    def check(v, valid: dict):
        from .measure.slide_stains import check_slide_option

        return check_slide_option(name, v, valid.get("color_space", "hed"), valid.get("tissue", True))

    return check


CHECKS: dict[str, Callable[[Any, dict], Any]] = {
    "n_clusters": _n_clusters,
    "attempts": _attempts,
    "max_iter": _max_iter,
    "epsilon": _epsilon,
    "init": lambda v, _: canonical_init(v),
    "seed": _seed,
    "sample_size": _sample_size,
    "color_space": _color_space,
    "stain_vectors": _stain_vectors,
    "normalize": _flag("normalize"),
    "spatial_weight": _weight("spatial_weight"),
    "texture_sigma": _weight("texture_sigma"),
    "per_plane": _flag("per_plane"),
    "smoothing": _smoothing,
    "tissue": _flag("tissue"),
    "white_level": _slide("white_level"),
    "tissue_od": _slide("tissue_od"),
    "dab_thresholds": _slide("dab_thresholds"),
}


# -- checks that need the image, and helpers ------------------------------------------------------
def sample_size_for_mode(mode: str) -> int | str | None:
    """``sample_size`` that runs ``mode``: "auto" for "fast", None for "exact"."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose one of {MODES}.")
    return DEFAULTS.sample_size if mode == "fast" else None


def canonical_init(init) -> str:
    """The canonical spelling of ``init`` ("kmeans++" -> "k-means++"); ValueError if unknown."""
    if not isinstance(init, str):
        raise TypeError(f"init must be a string, one of {list(INITS)}, not {init!r}.")
    name = INIT_ALIASES.get(init, init)
    if name not in INITS:
        raise ValueError(f"init={init!r}: choose one of {list(INITS)}.")
    return name


def check_color_space(color_space: str, rgb: bool, n_channels: int) -> None:
    """ValueError unless ``color_space`` is known and usable on this image."""
    _color_space(color_space, {})
    if color_space != "rgb" and not (rgb and n_channels == 3):
        raise ValueError(
            f"color_space={color_space!r} needs an RGB(A) image; this one has "
            f"{n_channels} channel(s). Use color_space='rgb' (plain channel values), "
            "perhaps with normalize=True."
        )


def check_texture_sigma(texture_sigma, spatial_shape) -> None:
    """ValueError when the texture window is wider than the image (the texture would be
    flat, and the blur would run for minutes)."""
    top = max(spatial_shape[-2:])
    if texture_sigma > top:
        raise ValueError(
            f"texture_sigma={texture_sigma!r} is wider than the image ({top} pixels along its "
            f"largest axis), so the texture would be the same everywhere; use at most {top}."
        )


def check_stain_vectors(stain_vectors: str, color_space: str) -> None:
    """ValueError unless ``stain_vectors`` is known (and only non-default with "hed")."""
    from .features.stains import STAIN_VECTORS

    if stain_vectors not in STAIN_VECTORS:
        raise ValueError(f"stain_vectors={stain_vectors!r}: choose one of {STAIN_VECTORS}.")
    if stain_vectors != "fixed" and color_space != "hed":
        raise ValueError(
            f"stain_vectors={stain_vectors!r} needs color_space='hed' (stain densities); "
            f"this run uses color_space={color_space!r}."
        )


def _int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a whole number, not {value!r}.")
    return int(value)


def new_seed() -> int:
    """A fresh seed, recorded so an unseeded run can be reproduced from its parameters."""
    entropy = cast(int, np.random.SeedSequence().entropy)  # an int when drawn afresh
    return int(entropy % (2**31 - 1))
