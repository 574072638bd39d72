"""Make the README images: napari with the K-means widget docked, after Suggest K and a Run on
a sample, in napari's small default window (650x590, what it opens at under a plain X
server) and in a 1280x800 one, a laptop's screen (docs/screenshot-650x590.png,
docs/screenshot-1280x800.png, and docs/screenshot.png, a copy of the 1280x800 one).

Needs a display; on a headless machine give Xvfb a screen as large as the larger window:

    xvfb-run -a -s "-screen 0 1280x800x24" python scripts/screenshot.py

The recipes' images: a stained slide with colour space hed, and nuclei counted with
smoothing and 'count objects' (the measure section open), each one 1280x800 window
written as docs/NAME.png:

    xvfb-run -a -s "-screen 0 1280x800x24" python scripts/screenshot.py --sample \
        immunohistochemistry --color-space hed -k 3 --no-suggest --measure --name recipe-dab
    xvfb-run -a -s "-screen 0 1280x800x24" python scripts/screenshot.py --image \
        tests/data/dsb2018_nuclei_2d.npz -k 3 --smoothing 1 --no-suggest --count-objects \
        --name recipe-nuclei

Only public napari API and the dock's stable surface are used (``widget["n_clusters"]``,
``widget.run()``, ``widget.suggest_k()`` when it exists, the output layer names
"<image> clusters"), so the script keeps working
while the dock's insides change. It prints each window's final size: a window taller than
asked for means the dock's minimum height pushed it past the screen.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

PLUGIN = "napari-kmeans-segment"
WIDGET = "K-means segmentation"
DOCS = Path(__file__).resolve().parents[1] / "docs"
SIZES = ((650, 590), (1280, 800))


def settle(app, seconds: float = 0.5) -> None:
    """Let Qt lay out and paint for a moment."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def wait_for(app, ready, timeout: float, what: str) -> float:
    """Process Qt events until ``ready()``; returns the seconds waited."""
    start = time.perf_counter()
    while not ready():
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{what} took more than {timeout:.0f} s.")
    return time.perf_counter() - start


def suggest(app, widget, timeout: float) -> float | None:
    """Press Suggest K if this dock has it (it returns its worker); None when skipped."""
    start_suggest = getattr(widget, "suggest_k", None)
    if start_suggest is None:
        return None
    if start_suggest() is None:
        return None
    # the dock is busy until the job's answer is shown (a worker's own finished signal can
    # come before a connection made here)
    return wait_for(app, lambda: not widget.busy, timeout, "Suggest K")


def open_source(viewer, sample: str, image: Path | None) -> str:
    """Open the plugin's sample, or the array of a .npy/.npz file (its 'image' array);
    returns the layer's name."""
    if image is None:
        viewer.open_sample(PLUGIN, sample)
        return sample
    import numpy as np

    data = np.load(image)
    if not isinstance(data, np.ndarray):  # an .npz archive
        data = data["image"] if "image" in data else data[data.files[0]]
    viewer.add_image(data, name=image.stem)
    return image.stem


def shoot(
    size: tuple[int, int],
    sample: str,
    k: int,
    out: Path,
    with_suggest: bool = True,
    timeout: float = 120.0,
    image: Path | None = None,
    options: dict | None = None,
    measure: bool = False,
    count_objects: bool = False,
) -> dict:
    """Open napari at ``size``, (Suggest K and) run K-means on ``sample`` (or ``image``) with
    the dock's ``options`` set, optionally open the measure section and count objects, save a
    window screenshot."""
    import napari
    from napari.qt import get_qapp

    app = get_qapp()
    viewer = napari.Viewer(show=True)
    try:
        viewer.window.resize(*size)
        sample = open_source(viewer, sample, image)
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
        settle(app)
        try:  # a fixed seed makes the picture reproducible; not every dock version has one
            widget["seed"].value = 0
        except (KeyError, AttributeError, ValueError):
            pass
        for name, value in (options or {}).items():  # the dock's controls, by option name
            widget[name].value = value
        suggest_s = suggest(app, widget, timeout) if with_suggest else None
        settle(app)
        widget["n_clusters"].value = k
        start = time.perf_counter()
        if widget.run() is None:
            raise RuntimeError("The widget did not start a run; see napari's notifications.")
        # the run's result is written on the GUI thread: keep Qt going until it is done
        wait_for(app, lambda: not widget.busy, timeout, f"The run on {sample}")
        run_s = time.perf_counter() - start
        if f"{sample} clusters" not in viewer.layers:
            raise RuntimeError(f"No '{sample} clusters' layer after the run.")
        viewer.layers.selection.active = viewer.layers[f"{sample} clusters"]
        if measure or count_objects:
            widget.panel.measure.set_expanded(True)
        if count_objects:  # the measure section's button, with its defaults
            widget.panel.measure.count_btn.click()
            widget.wait(timeout)
        viewer.reset_view()
        settle(app, 1.0)
        img = viewer.screenshot(str(out), canvas_only=False, flash=False)
        _, _, width, height = viewer.window.geometry()
        return {
            "file": out.name,
            "asked": size,
            "window": (width, height),
            "image": (img.shape[1], img.shape[0]),
            "run_s": run_s,
            "suggest_s": suggest_s,
        }
    finally:
        viewer.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", default="coffee", choices=["coffee", "immunohistochemistry", "chelsea"])
    p.add_argument("-k", type=int, default=5, help="number of clusters (default 5)")
    p.add_argument("--outdir", type=Path, default=DOCS)
    p.add_argument("--no-suggest", action="store_true", help="skip Suggest K before the Run")
    p.add_argument("--image", type=Path, help="a .npy/.npz file to open instead of the sample")
    p.add_argument("--color-space", choices=["rgb", "lab", "hsv", "hed"], help="the dock's colour space")
    p.add_argument("--smoothing", type=float, help="the dock's smoothing")
    p.add_argument("--measure", action="store_true", help="open the measure section after the Run")
    p.add_argument("--count-objects", action="store_true", help="press 'count objects' after the Run")
    p.add_argument(
        "--name", help="write one 1280x800 window as OUTDIR/NAME.png (default: both sizes as screenshot*)"
    )
    args = p.parse_args(argv)
    options = {
        name: value
        for name, value in (("color_space", args.color_space), ("smoothing", args.smoothing))
        if value is not None
    }
    from napari.qt import get_qapp

    app = get_qapp()
    screen = app.primaryScreen().size()
    args.outdir.mkdir(parents=True, exist_ok=True)
    results = []
    for w, h in SIZES[-1:] if args.name else SIZES:  # a recipe: the laptop-sized window
        if w > screen.width() or h > screen.height():
            print(
                f"skipping {w}x{h}: the screen is {screen.width()}x{screen.height()} "
                '(run under xvfb-run -a -s "-screen 0 1280x800x24")'
            )
            continue
        r = shoot(
            (w, h),
            args.sample,
            args.k,
            args.outdir / (f"{args.name}.png" if args.name else f"screenshot-{w}x{h}.png"),
            with_suggest=not args.no_suggest,
            image=args.image,
            options=options,
            measure=args.measure,
            count_objects=args.count_objects,
        )
        results.append(r)
        grown = "" if r["window"] == (w, h) else "  <- the window did not keep the size asked for"
        print(
            f"wrote {r['file']}: window {r['window'][0]}x{r['window'][1]}, image "
            f"{r['image'][0]}x{r['image'][1]}, run {r['run_s']:.1f} s, Suggest K "
            f"{'skipped' if r['suggest_s'] is None else format(r['suggest_s'], '.1f') + ' s'}"
            f"{grown}"
        )
    if results and not args.name:
        main_shot = results[-1]["file"]  # the laptop-sized one
        shutil.copyfile(args.outdir / main_shot, args.outdir / "screenshot.png")
        print(f"copied {main_shot} to screenshot.png")
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
