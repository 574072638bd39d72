"""Hostile-input fuzzing of the core, run in a child process so a segfault is a finding.

Every case is drawn from its own seed: extreme finite values (up to +-1.8e308, values beyond
float32), inf/NaN mixes, tiny (1e-30) and huge scales, every numeric dtype (bool, int64/uint64
extremes, float16), ``np.ma`` masked arrays, shapes from one pixel to 4D, K from 2 to 6, and
damaged model files (random field edits of a real saved model). A case passes when it ends
in a result that passes the invariant checks (:func:`check_result`) or in a
ValueError/TypeError whose message says what to do (:func:`check_message`).

Command-line cases (``--cli``) build a folder per case: a damaged OME-Zarr store (random edits of
its OME metadata or array metadata, or a cut chunk file), a real model rewritten with hostile
cluster names and background labels, or images named like formulas, options, or with tabs and
line breaks; then run ``main()`` there. A case passes when it exits 0/1/2 without a traceback,
with every message on its own line, nothing written when refused, no live formula in any CSV
and no temporary or lock file left (:func:`check_cli_outcome`).

Run it
------
In the test suite (``tests/core/test_fuzz.py``) a few hundred cases run in a child process. A
longer profile::

    NKS_FUZZ_CASES=5000 PYTHONPATH=src python -m pytest tests/core/test_fuzz.py -q
    PYTHONPATH=src python tests/fuzz_cases.py --cases 5000 --seed 7     # the child alone

Replay one case (its seed is printed by the test on a crash, timeout or failed check)::

    PYTHONPATH=src python tests/fuzz_cases.py --case 123456789 -v
    PYTHONPATH=src python tests/fuzz_cases.py --cli --case 123456789 -v   # a command-line case

Protocol (child -> parent, one line each, flushed): ``CASE <seed> <kind>`` before a case,
``OK``, ``ERR <ExceptionType>`` or ``FAIL <why>`` after it, ``DONE <n>`` at the end. A case
that crashes or hangs leaves a ``CASE`` line without an answer; ``faulthandler`` ends a case
that runs longer than ``NKS_FUZZ_CASE_TIMEOUT`` seconds (default 60).
"""

from __future__ import annotations

import argparse
import copy
import csv
import faulthandler
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

DEFAULT_SEED = 20240611
ADVICE = re.compile(
    r"\b(choose|use|pass|convert|check|fill|refit|fit|save|apply|load|allow|pick|select|drop|"
    r"reshape|draw|give|set|try|rescale|remove|turn|keep|lower|increase|reduce|make|cast|"
    r"replace|segment|crop|split|scale)\b",
    re.IGNORECASE,
)
RAW = re.compile(
    r"Traceback|cv2\.error|OpenCV\(|C int|unhashable|out of bounds|could not broadcast|"
    r"object is not|has no attribute|invalid literal|index \d+ is out|cannot convert",
)

FLOAT_POOL = [
    -1.7976931348623157e308,
    1.7976931348623157e308,
    -1e308,
    1e308,
    -1e39,
    1e39,
    3.5e38,
    -3.5e38,
    1e20,
    -1e20,
    0.0,
    1.0,
    -1.0,
    0.5,
    1e-30,
    -1e-30,
    5e-324,
    1e-300,
    255.0,
    65535.0,
]
NONFINITE = [np.inf, -np.inf, np.nan]
DTYPES = [
    "bool",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float16",
    "float32",
    "float64",
]


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------
class CheckFailed(AssertionError):
    pass


def check_message(exc: BaseException) -> str | None:
    """None when ``exc`` is an acceptable refusal, else why it is not."""
    if not isinstance(exc, ValueError | TypeError):
        return f"{type(exc).__name__} is not a ValueError/TypeError: {exc}"
    msg = str(exc)
    if RAW.search(msg):
        return f"raw message: {msg[:200]!r}"
    if len(msg) < 30 or not ADVICE.search(msg):
        return f"message does not say what to do: {msg[:200]!r}"
    return None


def _spatial(image, rgb, channel_axis):
    """(values with channels last (n, C_full), spatial shape, has_alpha) like PixelImage."""
    arr = np.ma.getdata(image)
    if channel_axis is not None:
        arr = np.moveaxis(arr, channel_axis, -1)
    elif rgb:
        pass
    else:
        arr = arr[..., None]
    return arr, arr.shape[:-1]


def valid_pixels(image, rgb, channel_axis, mask) -> np.ndarray:
    """The pixels a run must label: finite, not transparent, not masked (mask= or np.ma)."""
    arr, shape = _spatial(image, rgb, channel_axis)
    has_alpha = bool(rgb) and channel_axis is None and arr.shape[-1] == 4
    color = arr[..., :3] if has_alpha else arr
    valid = np.ones(shape, bool)
    if color.dtype.kind == "f":
        valid &= np.isfinite(color).all(axis=-1)
    if has_alpha:
        valid &= arr[..., 3] != 0
    if mask is not None:
        valid &= np.asarray(mask) != 0
    if np.ma.isMaskedArray(image) and np.ma.getmask(image) is not np.ma.nomask:
        m = np.ma.getmaskarray(image)
        if channel_axis is not None:
            m = np.moveaxis(m, channel_axis, -1).any(axis=-1)
        elif rgb:
            m = m.any(axis=-1)
        valid &= ~m
    return valid


def check_result(seg, image, k, rgb, channel_axis, mask, max_label=None, in_range: bool = True) -> None:
    """Invariants every result must satisfy; raises CheckFailed.

    ``in_range``: recoloured pixels lie within the image's own value range (true for a fit,
    whose centres are means of the image's pixels; not for a model fitted elsewhere).
    """

    def need(cond, why):
        if not cond:
            raise CheckFailed(why)

    data = np.ma.getdata(image)
    if rgb is None:  # guessed by the run
        rgb = seg.params.get("rgb")
    valid = valid_pixels(image, rgb, channel_axis, mask)
    labels = seg.labels
    need(isinstance(labels, np.ndarray), f"labels are {type(labels).__name__}")
    need(labels.shape == valid.shape, f"labels shape {labels.shape} != spatial {valid.shape}")
    need(labels.dtype.kind == "u", f"labels dtype {labels.dtype}")
    top = k if max_label is None else max_label
    need(int(labels.max(initial=0)) <= top, f"label {labels.max()} > {top}")
    need(
        np.array_equal(labels != 0, valid),
        f"labels are 0 at {(labels == 0).sum()} pixels, {(~valid).sum()} are invalid",
    )
    rec = seg.recolored
    need(
        isinstance(rec, np.ndarray) and rec.shape == data.shape,
        f"recolored shape {getattr(rec, 'shape', None)} != {data.shape}",
    )
    need(rec.dtype == data.dtype, f"recolored dtype {rec.dtype} != {data.dtype}")
    centers = np.asarray(seg.centers, np.float64)
    need(np.isfinite(centers).all(), "centres are not finite")
    counts = np.asarray(seg.counts)
    need(counts.min(initial=0) >= 0, "negative counts")
    need(int(counts.sum()) == int(valid.sum()), f"counts sum {counts.sum()} != valid {valid.sum()}")
    need(np.isfinite(seg.compactness) and seg.compactness >= 0, f"compactness {seg.compactness}")
    # Recoloured pixels keep the image's value range (no wrap-around, no overflow).
    arr, _ = _spatial(data, rgb, channel_axis)
    rarr, _ = _spatial(rec, rgb, channel_axis)
    n_color = 3 if (rgb and channel_axis is None and arr.shape[-1] == 4) else arr.shape[-1]
    if in_range and valid.any() and data.dtype.kind != "b":
        v = arr[valid][:, :n_color].astype(np.float64)
        r = rarr[valid][:, :n_color].astype(np.float64)
        lo, hi = v.min(axis=0), v.max(axis=0)
        span = np.where(np.isfinite(hi - lo), hi - lo, np.inf)
        tol = 1e-3 * span + 1e-6 * np.maximum(np.abs(lo), np.abs(hi))
        if data.dtype.kind in "ui":
            tol = np.maximum(tol, 1.0) if data.dtype.itemsize < 8 else np.maximum(tol, 2048.0)
        need(np.isfinite(r).all(), "recoloured pixels are not finite")
        need(
            ((r >= lo - tol) & (r <= hi + tol)).all(),
            f"recoloured values outside the image's range [{lo}, {hi}]: {r.min(0)}..{r.max(0)}",
        )
    if not valid.all():
        keep = ~valid
        a, b = arr[keep], rarr[keep]
        same = (a == b) | ((a != a) & (b != b))
        need(same.all(), "pixels left out were changed in the recoloured image")


# ------------------------------------------------------------------------------------------
# Case generation
# ------------------------------------------------------------------------------------------
def _shape(rng, small=False):
    h, w = (
        (int(rng.integers(1, 7)), int(rng.integers(1, 7)))
        if small
        else (int(rng.integers(2, 24)), int(rng.integers(2, 24)))
    )
    r = rng.random()
    if r < 0.05:
        return (1, 1), None, None
    if r < 0.45:
        return (h, w), False, None
    if r < 0.65:
        return (max(h, 5), max(w, 5), 3), True, None
    if r < 0.72:
        return (max(h, 5), max(w, 5), 4), True, None
    if r < 0.82:
        return (int(rng.integers(2, 4)), h, w), False, None
    if r < 0.88:
        return (2, int(rng.integers(2, 4)), h, w), False, None
    if r < 0.94:
        return (2, max(h, 5), max(w, 5), 3), True, None
    return (2, h, w), None, 0  # two channels on axis 0


def _values(rng, kind, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        if kind == "extreme" or rng.random() < 0.4:
            pool = np.array(
                [info.min, info.max, info.min + 1, info.max - 1, 0, 1, info.max // 2, info.min // 2], dtype=dt
            )
            return rng.choice(pool, size=shape)
        lo = (
            int(
                rng.integers(
                    int(info.min), int(info.max) - 8, dtype=np.int64 if dt.kind == "i" else np.uint64
                )
            )
            if dt.itemsize == 8
            else int(rng.integers(int(info.min), int(info.max) - 8))
        )
        top = min(int(info.max), lo + int(rng.choice([8, 300, 70000])))
        return rng.integers(lo, top, size=shape, endpoint=True, dtype=dt)
    finfo = np.finfo(dt)
    if kind == "extreme":
        pool = [v for v in FLOAT_POOL] + [float(finfo.max), -float(finfo.max), float(finfo.tiny)]
        x = rng.choice(np.array(pool, np.float64), size=shape)
    else:
        center = float(rng.choice([0.0, 1e-30, -1e-30, 1.0, 1e6, 1e30, -1e30, 1e300, 1e-300]))
        scale = float(rng.choice([1e-30, 1e-20, 1e-6, 1.0, 1e6, 1e30, 1e300, 5e-324]))
        x = center + scale * rng.standard_normal(shape)
    if rng.random() < 0.3:
        bad = rng.random(shape) < rng.random() * 0.5
        x = np.where(bad, rng.choice(NONFINITE, size=shape), x)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dt)


def _groups(rng, shape, k):
    """K separated groups of values: the partition is known."""
    center = float(rng.choice([0.0, 1e-30, 1.0, 1e6, 1e30, -1e30, 1e300, -1e300, 1e-300]))
    step = float(rng.choice([1e-30, 1e-10, 1.0, 1e10, 1e30, 1e290]))
    step = max(step, abs(center) * 1e-5)
    truth = rng.integers(0, k, size=shape)
    truth.flat[:k] = np.arange(k)
    x = center + step * (truth + 0.01 * rng.standard_normal(shape))
    if not np.isfinite(x).all():
        return None, None
    return x, truth


def draw_case(seed: int) -> dict:
    """One case: the call to make and what to expect."""
    rng = np.random.default_rng(seed)
    kind = str(
        rng.choice(
            ["extreme", "scale", "dtype", "masked", "groups", "options", "model"],
            p=[0.16, 0.14, 0.18, 0.1, 0.14, 0.13, 0.15],
        )
    )
    k = int(rng.integers(2, 7))
    if kind == "model":
        return dict(kind=kind, seed=seed, k=k)
    shape, rgb, channel_axis = _shape(rng, small=rng.random() < 0.2)
    dtype = "float64"
    if kind == "dtype":
        dtype = str(rng.choice(DTYPES))
    elif kind in ("masked", "options"):
        dtype = str(rng.choice(["uint8", "float32", "float64", "int64", "uint16"]))
    truth = None
    if kind == "groups":
        k = int(rng.integers(2, 4))
        spatial = shape if not rgb else shape[:-1]
        image, truth = _groups(rng, spatial if channel_axis is None else shape, k)
        if image is None:
            image = _values(rng, "scale", shape, dtype)
            truth = None
        elif rgb:
            image = np.repeat(image[..., None], shape[-1], axis=-1)
            if shape[-1] == 4:
                image[..., 3] = 1.0
        elif channel_axis is not None:
            truth = None
    else:
        image = _values(rng, kind, shape, dtype)
    kwargs: dict = {"seed": int(rng.integers(0, 2**31)), "attempts": int(rng.integers(1, 4))}
    if kind == "groups":  # well separated groups: with these settings a miss is a bug
        kwargs.update(attempts=10, init="kmeans++")
    if rgb is not None:
        kwargs["rgb"] = rgb
    if channel_axis is not None:
        kwargs["channel_axis"] = channel_axis
    spatial = np.ma.getdata(image).shape
    if rgb:
        spatial = spatial[:-1]
    elif channel_axis is not None:
        spatial = spatial[1:]
    if kind == "masked":
        m = rng.random(np.shape(image)) < rng.choice([0.0, 0.2, 0.9, 1.0])
        image = np.ma.array(image, mask=m)
        if rng.random() < 0.3:
            image = np.ma.array(np.ma.getdata(image), mask=np.ma.nomask)
    if rng.random() < 0.25 or kind == "masked" and rng.random() < 0.5:
        kwargs["mask"] = rng.random(spatial) < 0.8
    kwargs["sample_size"] = [None, "auto", 10 * k][int(rng.choice(3, p=[0.4, 0.3, 0.3]))]
    if kind == "options" or rng.random() < 0.2:
        kwargs["normalize"] = bool(rng.random() < 0.5)
        if rgb and rng.random() < 0.5:
            kwargs["color_space"] = str(rng.choice(["lab", "hsv"]))
        if rng.random() < 0.3:
            kwargs["spatial_weight"] = float(rng.choice([0.5, 1.0, 1e6, 1e308, np.inf]))
        if rng.random() < 0.3:
            kwargs["texture_sigma"] = float(rng.choice([1.0, 2.5, 10.0, 1e6, np.inf]))
        if len(spatial) >= 3 and rng.random() < 0.3:
            kwargs["per_plane"] = True
        if rng.random() < 0.2:
            kwargs["init"] = str(rng.choice(["random", "kmeans++"]))
    return dict(kind=kind, seed=seed, k=k, image=image, kwargs=kwargs, truth=truth)


# ------------------------------------------------------------------------------------------
# Damaged models
# ------------------------------------------------------------------------------------------
_BASE_MODELS: list[tuple[dict, np.ndarray, dict]] = []


def base_models() -> list[tuple[dict, np.ndarray, dict]]:
    """A few real models (as saved dicts) with an image to apply them to."""
    if _BASE_MODELS:
        return _BASE_MODELS
    import napari_kmeans_segment as nks

    rng = np.random.default_rng(0)
    rgb = np.clip(
        rng.normal(0, 20, (24, 24, 3))
        + np.repeat(
            np.array([[30, 60, 200], [200, 40, 40], [40, 200, 60]])[np.arange(24) // 8][None], 24, axis=0
        ),
        0,
        255,
    ).astype(np.uint8)
    gray = rgb[..., 0].astype(np.float32) / 7.0
    stack = np.stack([gray, gray[::-1], gray.T])
    specs = [
        (rgb, dict(n_clusters=3)),
        (rgb, dict(n_clusters=4, normalize=True, color_space="lab")),
        (rgb, dict(n_clusters=3, color_space="hsv", texture_sigma=2.0)),
        (gray, dict(n_clusters=3, spatial_weight=0.5)),
        (stack, dict(n_clusters=3, per_plane=True)),
    ]
    for image, kw in specs:
        seg = nks.segment(image, seed=1, attempts=2, **kw)
        model = seg.model
        if kw["n_clusters"] == 4:
            model = model.merged([1, 2], seg.centers[0])
        d = json.loads(json.dumps(model.to_dict()))
        _BASE_MODELS.append((d, image, {}))
    return _BASE_MODELS


JUNK = [
    None,
    "x",
    True,
    -1,
    0,
    1,
    2.5,
    10**9,
    -(10**9),
    10**30,
    float("nan"),
    float("inf"),
    [],
    [1],
    [[1, 2], [3]],
    {"a": 1},
    [[float("nan")] * 3] * 3,
    2**63,
    -(2**63),
]


def _paths(d, prefix=()):
    if isinstance(d, dict):
        for key, v in d.items():
            yield (*prefix, key)
            yield from _paths(v, (*prefix, key))
    elif isinstance(d, list) and d and len(d) <= 64:
        for i, v in enumerate(d):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def damage(d: dict, rng) -> dict:
    """A copy of a model dict with 1-3 random field edits."""
    d = json.loads(json.dumps(d))
    for _ in range(int(rng.integers(1, 4))):
        paths = list(_paths(d))
        path = paths[int(rng.integers(len(paths)))]
        parent = d
        for p in path[:-1]:
            parent = parent[p]
        key = path[-1]
        old = parent[key]
        op = rng.random()
        if op < 0.15 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.3 and isinstance(old, list) and old:
            parent[key] = old[:-1] if rng.random() < 0.5 else old + [old[-1]]
        elif op < 0.45 and isinstance(old, int | float) and not isinstance(old, bool):
            parent[key] = (
                old * float(rng.choice([-1, 1e9, 1e300, 1e-300, 0]))
                if isinstance(old, float)
                else int(rng.choice([old + 1, old - 1, -old, old * 10**9, 0]))
            )
        elif op < 0.55 and key == "label_map" or (path and path[0] == "label_map" and op < 0.6):
            n = len(d.get("feature_centers") or [0, 0, 0])
            d["label_map"] = [
                int(v) for v in rng.choice([1, 2, 3, 0, -1, n, n + 1, 10**9, 2**40], size=max(n, 1))
            ]
        else:
            parent[key] = copy.deepcopy(JUNK[int(rng.integers(len(JUNK)))])
    return d


def run_model_case(case, rng) -> None:
    import napari_kmeans_segment as nks

    models = base_models()
    d, image, _ = models[int(rng.integers(len(models)))]
    bad = damage(d, rng)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_text(json.dumps(bad))
        model = nks.load_model(path)
        seg = model.apply(image)
    lm = model.label_map
    top = model.n_clusters if lm is None else int(np.max(lm))
    # the layout apply used (the damaged params may have changed it)
    rgb, axis = False, None
    if seg.labels.shape == image.shape[:-1]:
        rgb = True
    elif seg.labels.shape != image.shape:
        axis = seg.params.get("channel_axis")
    check_result(seg, image, model.n_clusters, rgb, axis, None, max_label=top, in_range=False)


def run_case(case: dict) -> None:
    """Run one case; raises CheckFailed on a broken invariant, re-raises refusals."""
    import napari_kmeans_segment as nks

    rng = np.random.default_rng(case["seed"] + 1)
    if case["kind"] == "model":
        return run_model_case(case, rng)
    kw = case["kwargs"]
    image = case["image"]
    seg = nks.segment(image, case["k"], **kw)
    check_result(seg, image, case["k"], kw.get("rgb"), kw.get("channel_axis"), kw.get("mask"))
    truth = case.get("truth")
    plain = not any(kw.get(name) for name in ("mask", "spatial_weight", "texture_sigma", "per_plane"))
    if (
        truth is not None
        and plain
        and kw.get("color_space", "rgb") == "rgb"
        and not np.ma.isMaskedArray(image)
    ):
        lab = seg.labels.ravel()
        pairs = {(int(a), int(b)) for a, b in zip(lab, np.asarray(truth).ravel())}
        if len(pairs) != len(set(lab.tolist())) or len(pairs) != len(set(np.ravel(truth).tolist())):
            raise CheckFailed(f"{case['k']} separated groups were not found: {sorted(pairs)[:12]}")


def describe(case: dict) -> str:
    if case["kind"] == "model":
        return f"model k={case['k']}"
    img = case["image"]
    kw = {k: v for k, v in case["kwargs"].items() if k != "mask"}
    if "mask" in case["kwargs"]:
        kw["mask"] = "..."
    return (
        f"{case['kind']} {type(img).__name__} {np.ma.getdata(img).dtype} {np.shape(img)} k={case['k']} {kw}"
    )


def case_seeds(base: int, n: int, start: int = 0) -> list[int]:
    ss = np.random.SeedSequence(base)
    return [int(s) for s in ss.generate_state(start + n, np.uint64)[start:]]


# ------------------------------------------------------------------------------------------
# Command-line cases: damaged stores, hostile model names, hostile file names
# ------------------------------------------------------------------------------------------
PROG = "napari-kmeans-segment:"
LIVE = ("=", "+", "-", "@", "\t", "\r", "\n")
HOSTILE_TEXT = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "=1+1",
    "\t=1+1",
    "a,b;c\"d'e",
    "background",
    "Background 2",
    "DAB",
    "\u202egnp.exe",
    "ü—漢字🙂",
    "x" * 200,
    "x" * 201,
    " ",
    "",
    "a\nb",
    "a\x00b",
    "\x1b[2J",
]
FILE_NAMES = [
    "=1+1",
    "@cmd",
    "+x",
    "-x",
    "-1",
    "a b",
    "a,b",
    'q"uote',
    "semi;colon",
    "\u202egnp",
    "ü漢字🙂",
    "tab\tname",
    "new\nline",
    "x" * 240,
    ".hidden",
    "summary",
]


def _small_png(path: Path, rng, rgb: bool = True) -> Path:
    import cv2

    shape = (int(rng.integers(8, 24)), int(rng.integers(8, 24)))
    img = rng.integers(0, 255, (*shape, 3) if rgb else shape, dtype=np.uint8)
    img[: shape[0] // 2] //= 4  # two groups of colours: K = 2 or 3 always finds clusters
    ok, buf = cv2.imencode(".png", img)
    path.write_bytes(buf.tobytes())
    return path


def _good_store(path: Path, rng) -> None:
    import zarr

    rgb = bool(rng.random() < 0.5)
    shape = (24, 24, 3) if rgb else (24, 24)
    g = zarr.open_group(str(path), mode="w", zarr_format=2)
    names = ["y", "x", "c"] if rgb else ["y", "x"]
    g.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": n, "type": "channel" if n == "c" else "space"} for n in names],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * len(shape)}]}
            ],
        }
    ]
    a = g.create_array(
        "0",
        shape=shape,
        chunks=(8, 8, 3) if rgb else (8, 8),
        dtype="u1",
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )
    a[...] = rng.integers(0, 255, shape, dtype=np.uint8)


def _damage_store(path: Path, rng) -> None:
    """Random edits of the store's OME metadata, its array metadata or its chunk files."""
    r = rng.random()
    if r < 0.55:
        meta = path / ".zattrs"
        meta.write_text(json.dumps(damage(json.loads(meta.read_text()), rng)))
    elif r < 0.8:
        meta = path / "0" / ".zarray"
        d = json.loads(meta.read_text())
        key = str(rng.choice(["shape", "chunks", "dtype", "fill_value", "compressor", "order"]))
        pool = [None, "x", 0, -1, [], [0, 0], [10**12, 10**12], [2.5, 3], {"id": "nope"}, "<f16", "|O"]
        d[key] = copy.deepcopy(pool[int(rng.integers(len(pool)))])
        meta.write_text(json.dumps(d))
    else:
        chunks = sorted(p for p in (path / "0").rglob("*") if p.is_file() and not p.name.startswith("."))
        victim = chunks[int(rng.integers(len(chunks)))]
        data = victim.read_bytes()
        victim.write_bytes(data[: int(rng.integers(0, max(len(data), 1)))])


def _hostile_model(path: Path, image: Path, rng) -> None:
    """A real model of ``image`` whose names (and background) are hostile, written as JSON
    directly (as an attacker would), so the loader meets names it never wrote."""
    import cv2

    import napari_kmeans_segment as nks

    img = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
    k = int(rng.integers(2, 4))
    d = nks.segment(img, k, seed=0).model.to_dict()
    names = {}
    for lab in range(1, k + 1):
        if rng.random() < 0.8:
            names[str(lab)] = HOSTILE_TEXT[int(rng.integers(len(HOSTILE_TEXT)))]
    if rng.random() < 0.15:
        names[str(rng.choice(["0", str(k + 1), "x", "1.5"]))] = "=1+1"
    d["names"] = names
    if rng.random() < 0.4:
        d["background"] = [int(v) for v in rng.integers(0, k + 2, size=int(rng.integers(0, 3)))]
    path.write_text(json.dumps(d))


def draw_cli_case(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["store", "model names", "file names"], p=[0.4, 0.3, 0.3]))
    return dict(kind=kind, seed=seed)


def build_cli_case(case: dict, folder: Path) -> list[str]:
    """Write the case's files into ``folder``; return the command line (paths relative to it)."""
    rng = np.random.default_rng(case["seed"] + 1)
    argv: list[str] = []
    if case["kind"] == "store":
        _good_store(folder / "s.zarr", rng)
        _damage_store(folder / "s.zarr", rng)
        argv = ["s.zarr", "-k", "2"]
        if rng.random() < 0.5:
            argv.insert(0, str(_small_png(folder / "good.png", rng).name))
    elif case["kind"] == "model names":
        image = _small_png(folder / "img.png", rng)
        _hostile_model(folder / "m.json", image, rng)
        argv = ["img.png", "--model", "m.json"]
    else:
        for _ in range(int(rng.integers(1, 3))):
            name = FILE_NAMES[int(rng.integers(len(FILE_NAMES)))] + str(rng.choice([".png", ".PNG", ".jpg"]))
            path = folder / name
            if path.exists():
                continue
            if path.suffix == ".jpg":
                import cv2

                cv2.imwrite(str(path), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
            else:
                _small_png(path, rng)
            argv.append("./" + name)  # as a shell completes it: never read as an option
        argv += ["-k", str(int(rng.integers(2, 4)))]
    if rng.random() < 0.3:
        argv += [
            "--background",
            ",".join(str(int(v)) for v in rng.integers(1, 4, size=int(rng.integers(1, 4)))),
        ]
    if rng.random() < 0.2:
        argv += ["--objects", "1"]
    if rng.random() < 0.3:
        argv.append("--skip-unreadable")
    return argv


def check_cli_outcome(rc, err: str, out: Path) -> None:
    """The invariants of any command-line run; raises CheckFailed."""

    def need(cond, why):
        if not cond:
            raise CheckFailed(why)

    need(rc in (0, 1, 2), f"exit status {rc!r}")
    need("Traceback" not in err and "Exception ignored" not in err, f"traceback: {err[-400:]!r}")
    for line in err.split("\n"):
        need(
            line == "" or line.startswith(PROG) or line.startswith("\r"),
            f"a message not on its own line: {line[:200]!r}",
        )
    left = [p.name for p in out.rglob("*")] if out.exists() else []
    need(not [n for n in left if n.endswith(".tmp") or n.endswith(".lock")], f"left behind: {left}")
    if rc == 2:
        need(not out.exists() or not left, f"refused, yet wrote {left}")
        return
    for table in out.glob("*.csv"):
        with open(table, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if cell.startswith(LIVE):
                        try:
                            float(cell)
                        except ValueError:
                            raise CheckFailed(f"a live formula in {table.name}: {cell[:80]!r}") from None
    if rc == 0:
        need((out / "summary.csv").exists(), "exit 0 without summary.csv")
        with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
            statuses = [r["status"] for r in csv.DictReader(fh)]
        need(statuses and all(s == "ok" for s in statuses), f"exit 0 with statuses {statuses}")


def run_cli_case(case: dict) -> int:
    """One command line in this process (stderr captured); returns its exit status."""
    import contextlib
    import io

    from napari_kmeans_segment._cli import main

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv = build_cli_case(case, folder) + ["-o", "out"]
        case["argv"] = argv
        err = io.StringIO()
        here = os.getcwd()
        os.chdir(folder)
        try:
            with contextlib.redirect_stderr(err):
                rc = main(argv)
        finally:
            os.chdir(here)
            case["err"] = err.getvalue()
        check_cli_outcome(rc, case["err"], folder / "out")
    return rc


# ------------------------------------------------------------------------------------------
# Child and parent
# ------------------------------------------------------------------------------------------
def child(seeds: list[int], verbose: bool = False, cli: bool = False) -> int:
    faulthandler.enable()
    timeout = float(os.environ.get("NKS_FUZZ_CASE_TIMEOUT", "60"))
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    for seed in seeds:
        case = draw_cli_case(seed) if cli else draw_case(seed)
        print(f"CASE {seed} {case['kind'].replace(' ', '_')}", flush=True)
        if verbose and not cli:
            print("  " + describe(case), flush=True)
        faulthandler.dump_traceback_later(timeout, exit=True)
        try:
            if cli:  # a refusal is a clean exit status; any exception escaping main() fails
                try:
                    rc = run_cli_case(case)
                except CheckFailed:
                    raise
                except BaseException as e:  # noqa: BLE001 - judged here, with the command line
                    raise CheckFailed(f"{type(e).__name__} escaped main(): {str(e)[:200]}") from None
                finally:
                    if verbose:
                        said = [ln for ln in case.get("err", "").split("\n") if ln.startswith(PROG)]
                        print(f"  {case.get('argv')}\n    " + "\n    ".join(said), flush=True)
                print("OK" if rc == 0 else f"ERR exit {rc}", flush=True)
                continue
            run_case(case)
            print("OK", flush=True)
        except CheckFailed as e:
            what = str(case.get("argv")) if cli else describe(case)
            print(f"FAIL {str(e)[:300]} :: {what[:300]}".replace("\n", " "), flush=True)
        except Exception as e:  # noqa: BLE001 - every exception is judged by check_message
            why = check_message(e)
            if why is None:
                print(f"ERR {type(e).__name__}", flush=True)
            else:
                print(f"FAIL {why} :: {describe(case)[:300]}".replace("\n", " "), flush=True)
        finally:
            faulthandler.cancel_dump_traceback_later()
    print(f"DONE {len(seeds)}", flush=True)
    return 0


def run_fuzz(
    n_cases: int,
    base_seed: int = DEFAULT_SEED,
    max_crashes: int = 10,
    timeout: float = 600.0,
    src: str | None = None,
    cli: bool = False,
) -> dict:
    """Run ``n_cases`` cases in child processes; a crash restarts the child after that case.

    Returns {"crashes": [(seed, kind, how, stderr tail)], "failures": [(seed, line)],
    "ok": n, "refused": n}.
    """
    seeds = case_seeds(base_seed, n_cases)
    env = dict(os.environ)
    src = src or str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = {"crashes": [], "failures": [], "ok": 0, "refused": 0}
    pos = 0
    while pos < len(seeds) and len(out["crashes"]) < max_crashes:
        with tempfile.NamedTemporaryFile("w+", suffix=".seeds") as f:
            f.write("\n".join(map(str, seeds[pos:])))
            f.flush()
            try:
                p = subprocess.run(
                    [sys.executable, __file__, "--seed-file", f.name, *(["--cli"] if cli else [])],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    env=env,
                )
                stdout, stderr, rc = p.stdout, p.stderr, p.returncode
            except subprocess.TimeoutExpired as e:
                stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
                rc = "timeout"
        current = None
        for line in stdout.splitlines():
            if line.startswith("CASE "):
                _, s, kind = line.split(" ", 2)
                current = (int(s), kind)
                pos += 1
            elif line.startswith("OK"):
                out["ok"] += 1
                current = None
            elif line.startswith("ERR "):
                out["refused"] += 1
                current = None
            elif line.startswith("FAIL ") and current:
                out["failures"].append((current[0], line[5:]))
                current = None
            elif line.startswith("DONE"):
                current = None
        if current is not None:
            how = "timed out" if rc == "timeout" or "Timeout" in stderr else f"exit code {rc}"
            out["crashes"].append((current[0], current[1], how, stderr[-1500:]))
        elif rc != 0:
            out["crashes"].append((None, "startup", f"exit code {rc}", stderr[-1500:]))
            break
        elif "DONE" in stdout:
            break
    return out


def run_python(code: str, timeout: float = 120.0, memory_limit: int | None = None):
    """Run ``code`` in a fresh interpreter with this tree's ``src`` first on the path.

    Returns (returncode, stdout, stderr); returncode is negative for a signal (-11: segfault)
    and "timeout" when the child ran out of time. ``memory_limit`` (bytes) caps the child's
    address space, so a runaway allocation ends as a MemoryError instead of exhausting the
    machine.
    """
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = (
        src + os.pathsep + str(Path(__file__).resolve().parent) + os.pathsep + env.get("PYTHONPATH", "")
    )
    pre = "import faulthandler; faulthandler.enable()\n"
    if memory_limit:
        pre += (
            "import resource; resource.setrlimit(resource.RLIMIT_AS, "
            f"({int(memory_limit)}, {int(memory_limit)}))\n"
        )
    try:
        p = subprocess.run(
            [sys.executable, "-c", pre + code], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as e:
        return "timeout", str(e.stdout or ""), str(e.stderr or "")
    return p.returncode, p.stdout, p.stderr


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=int(os.environ.get("NKS_FUZZ_CASES", 300)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("NKS_FUZZ_SEED", DEFAULT_SEED)))
    ap.add_argument("--case", type=int, action="append", help="replay the case with this seed")
    ap.add_argument("--seed-file", help="(child) run the case seeds listed in this file")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--cli", action="store_true", help="command-line cases (files, stores, model names)")
    a = ap.parse_args(argv)
    if a.seed_file:
        return child([int(s) for s in Path(a.seed_file).read_text().split()], a.verbose, a.cli)
    if a.case:
        return child(a.case, verbose=True, cli=a.cli)
    res = run_fuzz(a.cases, a.seed, cli=a.cli)
    for seed, kind, how, err in res["crashes"]:
        print(f"CRASH ({how}) case {seed} [{kind}]\n{err}")
    for seed, line in res["failures"]:
        print(f"FAIL case {seed}: {line}")
    print(
        f"{res['ok']} ok, {res['refused']} refused cleanly, {len(res['failures'])} failed, "
        f"{len(res['crashes'])} crashed"
    )
    return 1 if res["crashes"] or res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
