"""Large images from the shell: zarr/OME-Zarr stores and pyramidal or big TIFF/SVS files are
read block by block (level 0), segmented with the core's lazy path, and written block by
block as OME-Zarr, never holding the image in memory."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._core.lazy import lazy_labels
from .args import fit_options
from .console import CliError, Console, bar
from .inputs import Source
from .ome import create_ome_array, ome_axes
from .outputs import write_table
from .plan import ImagePlan
from .summary import image_row


class LazyEnv:
    """The dask scheduler large inputs run on: local threads or processes, or a
    dask.distributed scheduler at an address."""

    def __init__(self, scheduler: str, console: Console):
        self.scheduler, self.console, self.client = scheduler, console, None
        if scheduler not in ("threads", "processes", "synchronous"):
            try:
                from distributed import Client
            except ImportError:
                raise CliError(
                    f"--scheduler {scheduler}: connecting to a dask scheduler needs "
                    "dask.distributed (pip install distributed)."
                ) from None
            try:
                self.client = Client(scheduler, timeout="5s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as e:
                raise CliError(
                    f"--scheduler {scheduler}: could not connect to a dask scheduler there ({e})."
                ) from None

    @contextmanager
    def active(self):
        import dask

        with dask.config.set(scheduler=self.client if self.client is not None else self.scheduler):
            yield

    def compute(self, tasks: list, tick) -> list:
        """Compute ``tasks`` (dask delayed), calling ``tick()`` as each one finishes."""
        if self.client is not None:
            from distributed import as_completed

            futures = self.client.compute(tasks)
            for _ in as_completed(futures, loop=self.client.loop):
                tick()
            return self.client.gather(futures)
        import dask
        from dask.callbacks import Callback

        keys = {t.key for t in tasks}

        class Count(Callback):
            def _posttask(self, key, result, dsk, state, id):  # noqa: A002 - dask's name
                if key in keys:
                    tick()

        with Count():
            return list(dask.compute(*tasks, scheduler=self.scheduler))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class TiffLevel:
    """Level 0 of a TIFF through tifffile's zarr interface, opened on first read in each
    process (tifffile's store holds a file handle and a lock, which cannot be pickled)."""

    def __init__(self, path: Path):

        self.path = str(path)
        self._z = None
        z = self._open()
        self.shape, self.dtype, self.ndim = z.shape, z.dtype, z.ndim
        self.chunks = z.chunks

    def _open(self):
        import tifffile
        import zarr

        if self._z is None:
            node = zarr.open(tifffile.imread(self.path, aszarr=True, level=0), mode="r")
            self._z = node["0"] if isinstance(node, zarr.Group) else node
        return self._z

    def __getitem__(self, key):
        return self._open()[key]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_z"} | {"_z": None}


def open_lazy(src: Source, target: int):
    """A dask array of level 0 in blocks of about ``target`` x ``target`` pixels."""
    import dask.array as da

    if src.kind == "zarr":
        import zarr

        z = zarr.open_array(src.zarr_path, mode="r")
        return da.from_zarr(z, chunks=block_chunks(z.shape, z.chunks, _channel_dim(src), target))
    level = TiffLevel(src.path)
    chunks = block_chunks(level.shape, level.chunks, _channel_dim(src), target)
    return da.from_array(
        level,
        chunks=chunks,
        lock=False,
        asarray=True,
        fancy=False,
        name=f"tiff-{abs(hash((level.path, chunks)))}",
    )


def _channel_dim(src: Source) -> int | None:
    if src.channel_axis is not None:
        return src.channel_axis
    return len(src.shape or ()) - 1 if src.rgb else None


def block_chunks(shape, store_chunks, channel_dim, target: int) -> tuple[int, ...]:
    """Blocks aligned with the stored chunks: the channel axis whole, the last two spatial
    axes about ``target`` pixels, other (stack) axes as many planes as fit one block."""
    n = len(shape)
    spatial = [d for d in range(n) if d != channel_dim]
    chunks = [1] * n
    for d in spatial[-2:]:
        c = max(1, min(store_chunks[d], shape[d]))
        chunks[d] = min(shape[d], c * max(1, round(target / c)))
    plane = math.prod(chunks[d] for d in spatial[-2:])
    room = max(1, target * target // plane)
    for d in spatial[:-2]:
        chunks[d] = min(shape[d], room)
        room = max(1, room // chunks[d])
    if channel_dim is not None:
        chunks[channel_dim] = shape[channel_dim]
    return tuple(chunks)


def process_lazy(item: ImagePlan, model, args, tx, console: Console, env: LazyEnv, prefix: str):
    """Fit (or apply ``model``), write labels (and the recoloured image) block by block.
    Returns (model, summary row); the clusters table has exact counts of every pixel."""
    import napari_kmeans_segment as nks

    src = item.source
    arr = open_lazy(src, args.chunk)
    with env.active():
        if model is None:

            def fit_progress(fraction, message):
                console.progress(f"{prefix}: fitting {int(100 * fraction)}% {message}")

            seg = nks.segment(
                arr,
                rgb=src.rgb,
                channel_axis=src.channel_axis,
                progress=fit_progress,
                **fit_options(args).to_dict(),
            )
            model, labels, recolored = seg.model, seg.labels, seg.recolored
        else:
            # the core's lazy apply (the label table of every colour), without its estimated
            # counts: the blocks are counted exactly as they are written
            labels, recolored = lazy_labels(model, arr, bool(src.rgb), src.channel_axis)
    index = model.labels
    nbins = index[-1] + 1
    channel_dim = _channel_dim(src)
    spatial_axes, scale = ome_axes(src, channel_dim)
    tasks = block_writes(
        labels,
        create_ome_array(
            tx.temp(item.outputs["labels"]),
            src.stem + " labels",
            labels,
            spatial_axes,
            scale,
            colors=_label_colors(model, index, src),
        ),
        nbins,
    )
    if "recolored" in item.outputs:
        rec = recolored if channel_dim is None else _channels_first(recolored, channel_dim)
        axes = spatial_axes if channel_dim is None else [{"name": "c", "type": "channel"}, *spatial_axes]
        rscale = scale if channel_dim is None or scale is None else [1.0, *scale]
        tasks += block_writes(
            rec,
            create_ome_array(tx.temp(item.outputs["recolored"]), src.stem + " recolored", rec, axes, rscale),
            0,
        )
    done = [0]

    def tick():
        done[0] += 1
        console.progress(f"{prefix}: writing {bar(done[0], len(tasks))} {done[0]}/{len(tasks)} blocks")

    results = env.compute(tasks, tick)
    counts = np.sum([r for r in results if r is not None], axis=0)
    centers = _centers(model, index)
    from .._core import cluster_table

    names = model.label_names()  # the model's names (as in memory), else stain names for "hed"
    table = cluster_table(np.asarray(index), counts[index], centers, names)
    write_table(tx.temp(item.outputs["clusters"]), table)
    return model, image_row(str(src.path), counts, None, args, model.default_background())


def _channels_first(arr, channel_dim: int):
    import dask.array as da

    return da.moveaxis(arr, channel_dim, 0)


def block_writes(arr, path: str, nbins: int) -> list:
    """One delayed task per block of ``arr``: write it into the zarr array at ``path`` (same
    chunks, so blocks never share a stored chunk) and return its label counts."""
    import dask

    blocks = arr.to_delayed(optimize_graph=False)
    starts = [np.cumsum((0, *c)) for c in arr.chunks]
    write = dask.delayed(_write_block, pure=True)
    tasks = []
    for idx in np.ndindex(*arr.numblocks):
        loc = tuple(slice(int(starts[d][i]), int(starts[d][i + 1])) for d, i in enumerate(idx))
        tasks.append(write(blocks[idx], path, loc, nbins, dask_key_name=f"write-{path}-{idx}"))
    return tasks


def _write_block(block, path: str, loc, nbins: int):
    import zarr

    zarr.open_array(path, mode="r+")[loc] = block
    if nbins:
        return np.bincount(np.asarray(block).ravel(), minlength=nbins)
    return None


def _centers(model, index) -> np.ndarray:
    """Image-unit centre of each label (members of a merged cluster share one)."""
    if model.label_map is None:
        return np.asarray(model.centers)
    lm = np.asarray(model.label_map)
    return np.asarray([model.centers[np.flatnonzero(lm == lab)[0]] for lab in index])


def _label_colors(model, index, src: Source):
    """OME-Zarr label colours: the cluster centres, for 8-bit RGB images."""
    if not (src.rgb and np.dtype(src.dtype) == np.uint8):
        return None
    centers = np.clip(np.rint(_centers(model, index)), 0, 255).astype(int)
    return [{"label-value": int(lab), "rgba": [*map(int, c[:3]), 255]} for lab, c in zip(index, centers)]
