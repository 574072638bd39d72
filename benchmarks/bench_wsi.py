"""A gigapixel slide from the shell: time and peak memory of the CLI, end to end.

    python benchmarks/bench_wsi.py                 # 32768 x 32768 RGB (1.07 GP), made once
    python benchmarks/bench_wsi.py --size 8192     # a quick run
    python benchmarks/bench_wsi.py --cluster 2     # also on a LocalCluster of 2 processes
    python benchmarks/bench_wsi.py --apply         # also --model: the saved model applied
    python benchmarks/bench_wsi.py --hed           # an H-DAB slide with --color-space hed
                                                   # (tissue detection on) beside plain RGB

The image is written once to /tmp/nks_bench/ (not part of the repository): tiles of
scikit-image's photographs and slides, each chunk rolled, flipped, re-lit and lightly noisy,
so colours are varied like a real scan rather than random. Each run is
``napari-kmeans-segment slide.zarr -k K --seed 0 -o OUT`` in a fresh process: fit on
sampled blocks, then labels written block by block as OME-Zarr (with ``--apply``, the model
saved by that run is then applied with ``--model``: no fit, and the labels must be the
same). Peak memory is the largest
resident set of the CLI process and of the CLI plus any cluster (scheduler, workers),
sampled with psutil every 0.1 s (``getrusage`` of the children without psutil). CPU
seconds (user + system) are less sensitive to a busy machine than wall time.
Targets: <= 60 s and <= 2 GB for 1 GP.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path("/tmp/nks_bench")


def make_hdab_slide(path: Path, size: int, chunk: int) -> None:
    """Write a size x size x 3 uint8 zarr of a synthetic H-DAB slide (glass, pale stroma,
    nuclei, DAB cells; :mod:`napari_kmeans_segment._core.synthetic_slides`): one generated
    tile per chunk, rolled, flipped and lightly re-exposed."""
    import zarr

    from napari_kmeans_segment._core.synthetic_slides import make_slide as synthetic

    base = synthetic(0, "fragments", shape=(chunk, chunk), glass=0.25).image
    rng = np.random.default_rng(0)
    z = zarr.create_array(
        str(path), shape=(size, size, 3), chunks=(chunk, chunk, 3), dtype=np.uint8, overwrite=True
    )
    n = size // chunk
    for i in range(n):
        for j in range(n):
            t = np.roll(base, (int(rng.integers(chunk)), int(rng.integers(chunk))), axis=(0, 1))
            if rng.random() < 0.5:
                t = t[::-1]
            if rng.random() < 0.5:
                t = t[:, ::-1]
            noise = rng.normal(0, 1, (chunk, chunk, 1)).astype(np.float32)
            z[i * chunk : (i + 1) * chunk, j * chunk : (j + 1) * chunk] = np.clip(t + noise, 0, 255).astype(
                np.uint8
            )
        print(f"\rwriting the H-DAB test slide: row {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def make_slide(path: Path, size: int, chunk: int) -> None:
    """Write a size x size x 3 uint8 zarr of varied photographic tiles, chunk by chunk."""
    import zarr
    from skimage import data, transform

    photos = [
        data.astronaut(),
        data.coffee(),
        data.chelsea(),
        data.immunohistochemistry(),
        data.immunohistochemistry(),
        data.rocket(),
        data.retina()[::2, ::2, :3],
    ]
    base = np.zeros((chunk, chunk, 3), np.uint8)
    rng = np.random.default_rng(0)
    step = chunk // 4
    for y in range(0, chunk, step):
        for x in range(0, chunk, step):
            p = photos[rng.integers(len(photos))]
            t = (transform.resize(p, (step, step), anti_aliasing=True) * 255).astype(np.uint8)
            base[y : y + step, x : x + step] = t
    z = zarr.create_array(
        str(path), shape=(size, size, 3), chunks=(chunk, chunk, 3), dtype=np.uint8, overwrite=True
    )
    n = size // chunk
    for i in range(n):
        for j in range(n):
            t = np.roll(base, (int(rng.integers(chunk)), int(rng.integers(chunk))), axis=(0, 1))
            if rng.random() < 0.5:
                t = t[::-1]
            if rng.random() < 0.5:
                t = t[:, ::-1]
            gain = rng.uniform(0.85, 1.15, 3).astype(np.float32)
            noise = rng.normal(0, 2, (chunk, chunk, 1)).astype(np.float32)
            t = np.clip(t * gain + noise, 0, 255).astype(np.uint8)
            z[i * chunk : (i + 1) * chunk, j * chunk : (j + 1) * chunk] = t
        print(f"\rwriting the test slide: row {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


class TreeMemory:
    """Peak of the summed resident memory of a set of process trees, sampled every 0.1 s,
    and the CPU seconds its processes used (last sample of each)."""

    def __init__(self, pids: list[int], cli_pid: int):
        self.pids, self.peak, self._stop = pids, 0, threading.Event()
        self.cli_pid, self.cli_peak = cli_pid, 0
        self.cpu: dict[int, float] = {}
        self.cpu0: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for pid in self.pids:
                try:
                    p = psutil.Process(pid)
                    procs = [p, *p.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for q in procs:
                    try:
                        rss = q.memory_info().rss
                        total += rss
                        if q.pid == self.cli_pid:
                            self.cli_peak = max(self.cli_peak, rss)
                        t = q.cpu_times()
                        self.cpu[q.pid] = t.user + t.system
                        self.cpu0.setdefault(q.pid, self.cpu[q.pid])
                    except psutil.NoSuchProcess:
                        pass
            self.peak = max(self.peak, total)
            time.sleep(0.1)

    def __enter__(self):
        import psutil

        for pid in self.pids:  # CPU already spent by long-lived processes is not counted
            for q in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
                t = q.cpu_times()
                self.cpu0[q.pid] = t.user + t.system
        self._thread.start()
        return self

    def cpu_seconds(self) -> float:
        return sum(self.cpu[p] - self.cpu0.get(p, 0.0) for p in self.cpu)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_cli(slide: Path, out: Path, k: int, extra: list[str], whole_tree: bool) -> dict:
    """Run the CLI; memory of its process tree, or (``whole_tree``) of this process's whole
    tree: the CLI, and the cluster's scheduler and workers started here."""
    cmd = [
        sys.executable,
        "-m",
        "napari_kmeans_segment",
        str(slide),
        "-k",
        str(k),
        "--seed",
        "0",
        "-o",
        str(out),
        "--overwrite",
        *extra,
    ]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        import psutil  # noqa: F401

        mem = TreeMemory([os.getpid() if whole_tree else proc.pid], proc.pid)
    except ImportError:
        mem = None
    if mem is not None:
        with mem:
            _, err = proc.communicate()
    else:
        _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the CLI failed ({proc.returncode}):\n{err[-2000:]}")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    # ru_maxrss is the largest child so far, so it names this run only without psutil
    cli_rss = mem.cli_peak / 2**20 if mem is not None else ru.ru_maxrss / 1024
    return {
        "wall": wall,
        "cli_rss_mb": cli_rss,
        "tree_rss_mb": mem.peak / 2**20 if mem is not None else float("nan"),
        # the CLI's CPU (getrusage, exact); with a cluster, its workers' too (sampled)
        "cpu": mem.cpu_seconds() if whole_tree and mem is not None else cli_cpu,
    }


def same_labels(a: Path, b: Path) -> bool:
    import zarr

    za, zb = zarr.open_array(str(a / "0"), mode="r"), zarr.open_array(str(b / "0"), mode="r")
    if za.shape != zb.shape:
        return False
    step = za.chunks[0]
    return all(np.array_equal(za[y : y + step], zb[y : y + step]) for y in range(0, za.shape[0], step))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=32768)
    ap.add_argument("--store-chunk", type=int, default=2048)
    ap.add_argument("-k", type=int, default=4)
    ap.add_argument("--chunks", type=int, nargs="+", default=[2048], help="CLI --chunk values")
    ap.add_argument("--cluster", type=int, default=0, help="also run on a LocalCluster of N processes")
    ap.add_argument("--apply", action="store_true", help="also apply the saved model with --model")
    ap.add_argument(
        "--hed", action="store_true", help="an H-DAB slide: plain RGB and --color-space hed (tissue on)"
    )
    args = ap.parse_args()
    ROOT.mkdir(exist_ok=True)
    kind = "hdab" if args.hed else "slide"
    slide = ROOT / f"{kind}_{args.size}_{args.store_chunk}.zarr"
    if not slide.exists():
        t0 = time.perf_counter()
        (make_hdab_slide if args.hed else make_slide)(slide, args.size, args.store_chunk)
        print(f"made {slide} in {time.perf_counter() - t0:.0f} s")
    mp = args.size * args.size / 1e6
    rows = []
    model = ROOT / "model.json"
    for chunk in args.chunks:
        out = ROOT / f"out_threads_{chunk}"
        r = run_cli(slide, out, args.k, ["--chunk", str(chunk), "--save-model", str(model)], whole_tree=False)
        rows.append(("threads", chunk, r, None))
        if args.hed:  # the same slide measured as a slide: white level, tissue, DAB bins
            out = ROOT / f"out_hed_{chunk}"
            r = run_cli(slide, out, args.k, ["--chunk", str(chunk), "--color-space", "hed"], whole_tree=False)
            rows.append(("threads, hed + tissue", chunk, r, None))
            shutil.rmtree(out, ignore_errors=True)
    if args.apply:
        chunk = args.chunks[0]
        out = ROOT / f"out_model_{chunk}"
        r = run_cli(slide, out, args.k, ["--chunk", str(chunk), "--model", str(model)], whole_tree=False)
        ident = same_labels(
            ROOT / f"out_threads_{chunk}" / f"{slide.stem}_labels.ome.zarr",
            out / f"{slide.stem}_labels.ome.zarr",
        )
        rows.append(("threads, --model", chunk, r, ident))
        shutil.rmtree(out, ignore_errors=True)
    if args.cluster:
        from distributed import LocalCluster

        with LocalCluster(
            n_workers=args.cluster, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster:
            chunk = args.chunks[0]
            out = ROOT / f"out_cluster_{chunk}"
            r = run_cli(
                slide,
                out,
                args.k,
                ["--chunk", str(chunk), "--scheduler", cluster.scheduler_address],
                whole_tree=True,
            )
            ident = same_labels(
                ROOT / f"out_threads_{chunk}" / f"{slide.stem}_labels.ome.zarr",
                out / f"{slide.stem}_labels.ome.zarr",
            )
            rows.append((f"LocalCluster({args.cluster} procs)", chunk, r, ident))
    print(
        f"\n{args.size} x {args.size} RGB uint8 ({mp:.0f} MP), K={args.k}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (shared machine: noisy)"
    )
    print(
        f"{'scheduler':<24}{'chunk':>7}{'wall s':>9}{'MP/s':>8}{'CPU s':>8}{'CLI RSS MB':>12}"
        f"{'tree RSS MB':>13}  identical"
    )
    for name, chunk, r, ident in rows:
        print(
            f"{name:<24}{chunk:>7}{r['wall']:>9.1f}{mp / r['wall']:>8.1f}{r['cpu']:>8.1f}"
            f"{r['cli_rss_mb']:>12.0f}{r['tree_rss_mb']:>13.0f}  {'' if ident is None else ident}"
        )
    for chunk in args.chunks:
        shutil.rmtree(ROOT / f"out_threads_{chunk}", ignore_errors=True)


if __name__ == "__main__":
    main()
