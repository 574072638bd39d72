"""Options of a k-means run: the one definition of every default, and their validation.

Every caller (``segment``, the lazy path, the widget, the CLI) reads its defaults from
:data:`DEFAULTS`, so changing a default here changes it everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import cast

import numpy as np

from .features import COLOR_SPACES

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
class Defaults:
    """Default options. Read as attributes (typed) or as a mapping (``DEFAULTS["attempts"]``,
    ``dict(DEFAULTS)``)."""

    n_clusters: int = 3
    attempts: int = 10
    max_iter: int = 100
    epsilon: float = 0.2
    init: str = "random"
    seed: int | None = None
    mode: str = "fast"
    sample_size: int | str | None = "auto"  # what mode "fast" means; None is "exact"
    color_space: str = "rgb"
    stain_vectors: str = "fixed"  # color_space="hed" only: "fixed" or "macenko"
    normalize: bool = False
    spatial_weight: float = 0.0
    texture_sigma: float = 0.0
    per_plane: bool = False
    # color_space="hed" only: tissue and glass from optical density (glass = label 0), the
    # white level (None: estimated from the glass), the tissue threshold (mean OD; None: from
    # the glass's noise) and the DAB weak/moderate/strong thresholds (None: from the clusters)
    tissue: bool = True
    white_level: float | tuple[float, float, float] | None = None
    tissue_od: float | None = None
    dab_thresholds: tuple[float, float, float] | None = None

    def __getitem__(self, name: str):
        if name not in self.keys():
            raise KeyError(name)
        return getattr(self, name)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULTS = Defaults()


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


@dataclass(frozen=True)
class Options:
    """Validated k-means options (see :func:`napari_kmeans_segment.segment`)."""

    n_clusters: int
    attempts: int
    max_iter: int
    epsilon: float
    init: str
    seed: int | None
    sample_size: int | str | None

    @classmethod
    def check(cls, n_clusters, attempts, max_iter, epsilon, init, seed, sample_size) -> Options:
        n_clusters = _int("n_clusters", n_clusters)
        if not 2 <= n_clusters <= MAX_CLUSTERS:
            raise ValueError(
                f"n_clusters={n_clusters}: choose at least 2 clusters (and at most {MAX_CLUSTERS})."
            )
        attempts = _int("attempts", attempts)
        if attempts < 1:
            raise ValueError(
                f"attempts={attempts}: k-means needs at least 1 attempt ({DEFAULTS.attempts} is usual)."
            )
        if attempts > MAX_ATTEMPTS:
            raise ValueError(
                f"attempts={attempts}: use at most {MAX_ATTEMPTS}. Attempts run one after "
                f"another, and beyond a few dozen the best of them rarely changes "
                f"({DEFAULTS.attempts} is usual)."
            )
        max_iter = _int("max_iter", max_iter)
        if max_iter < 1:
            raise ValueError(
                f"max_iter={max_iter}: allow at least 1 iteration ({DEFAULTS.max_iter} is usual)."
            )
        if max_iter > MAX_ITER:
            raise ValueError(
                f"max_iter={max_iter}: use at most {MAX_ITER}. k-means settles long before "
                f"that; raise the precision with a smaller epsilon instead "
                f"({DEFAULTS.max_iter} is usual)."
            )
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float | np.number):
            raise TypeError(f"epsilon must be a number, not {type(epsilon).__name__}.")
        epsilon = float(epsilon)
        if not epsilon >= 0 or not np.isfinite(epsilon):
            raise ValueError(
                f"epsilon={epsilon}: use a finite value >= 0 ({DEFAULTS.epsilon} is the tutorial's)."
            )
        init = canonical_init(init)
        if seed is not None:
            seed = _int("seed", seed)
            if not 0 <= seed < 2**63:
                raise ValueError(f"seed={seed}: use a non-negative integer (or None).")
        if sample_size is not None and sample_size != "auto":
            sample_size = _int("sample_size", sample_size)
            if sample_size < n_clusters:
                raise ValueError(
                    f"sample_size={sample_size} is smaller than n_clusters={n_clusters}; use "
                    "'auto', None (exact recipe) or a sample of at least K pixels."
                )
        return cls(n_clusters, attempts, max_iter, epsilon, init, seed, sample_size)

    def criteria(self):
        import cv2

        return (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, self.max_iter, self.epsilon)

    def flags(self) -> int:
        import cv2

        return getattr(cv2, INITS[self.init])

    def auto_sample(self) -> int:
        return max(5_000, 625 * self.n_clusters)

    def auto_exact(self, n_valid: int, is_float: bool = False) -> bool:
        """Whether ``sample_size="auto"`` runs the exact recipe: small integer images (at
        most four samples' worth of pixels) and K <= :data:`AUTO_EXACT_MAX_K`. cv2.kmeans
        costs pixels x K per iteration and cannot be cancelled mid-attempt: K=255 on 200x200
        took ~8 s per attempt exact. Float images never: the recipe's epsilon (0.2, in image
        units) stops it after a step or two on values in 0..1."""
        return n_valid <= 4 * self.auto_sample() and self.n_clusters <= AUTO_EXACT_MAX_K and not is_float


def check_color_space(color_space: str, rgb: bool, n_channels: int) -> None:
    """ValueError unless ``color_space`` is known and usable on this image."""
    if color_space not in COLOR_SPACES:
        raise ValueError(f"color_space={color_space!r}: choose one of {COLOR_SPACES}.")
    if color_space != "rgb" and not (rgb and n_channels == 3):
        raise ValueError(
            f"color_space={color_space!r} needs an RGB(A) image; this one has "
            f"{n_channels} channel(s). Use color_space='rgb' (plain channel values), "
            "perhaps with normalize=True."
        )


def check_weights(spatial_weight, texture_sigma) -> None:
    """ValueError unless both are finite numbers >= 0 (and the weight is not absurd)."""
    for name, v in (("spatial_weight", spatial_weight), ("texture_sigma", texture_sigma)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not v >= 0:
            raise ValueError(f"{name}={v!r}: use a finite number >= 0 (0 turns it off).")
        if not np.isfinite(v):
            raise ValueError(f"{name}={v!r}: use a finite number >= 0 (0 turns it off).")
    if spatial_weight > MAX_SPATIAL_WEIGHT:
        raise ValueError(
            f"spatial_weight={spatial_weight!r}: use at most {MAX_SPATIAL_WEIGHT:g}; 1 gives "
            "position as much weight as colour, and far above that colour no longer counts."
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
    from .stains import STAIN_VECTORS

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
