"""Large images from the shell: zarr/OME-Zarr stores and pyramidal or big TIFF/SVS files are
read block by block (level 0), segmented with the core's lazy path, and written block by
block as OME-Zarr, never holding the image in memory."""

from __future__ import annotations

import functools
import math
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._core.lazy import lazy_labels
from .args import fit_options
from .blocks import channel_dim_of, fewer_blocks
from .console import CliError, Console, bar
from .inputs import Source
from .ome import create_ome_array, ome_axes
from .outputs import write_table
from .plan import ImagePlan
from .summary import image_row

# seconds to reach a dask scheduler and hear it answer as one
SCHEDULER_TIMEOUT = 10.0


def check_scheduler(address: str, timeout: float) -> None:
    """CliError unless a dask scheduler answers at ``address`` within ``timeout`` seconds.

    dask.distributed's Client waited minutes on a peer that accepts the connection and says
    nothing, and read a garbage length prefix as a 3 EiB message; here the whole exchange
    (connect, handshake, one "identity" request) has one deadline, and the answer must come
    from a Scheduler.
    """
    import asyncio

    from distributed.comm import connect

    async def ask():
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    what = f"--scheduler {address}"
    try:
        reply = asyncio.run(asyncio.wait_for(ask(), timeout))
    except TimeoutError:
        raise CliError(
            f"{what}: no dask scheduler answered within {timeout:.0f} s; check the address "
            "and that the scheduler is running."
        ) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - a peer speaking another protocol: any error
        from .inputs import one_line

        raise CliError(
            f"{what}: what answers there is not a dask scheduler, or could not be reached ({one_line(e)})."
        ) from None
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise CliError(f"{what}: what answers there is not a dask scheduler (it says it is {kind!r:.40}).")


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
            check_scheduler(scheduler, SCHEDULER_TIMEOUT)
            try:
                self.client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as e:
                raise CliError(
                    f"--scheduler {scheduler}: could not connect to a dask scheduler there ({e})."
                ) from None

    @contextmanager
    def active(self):
        import dask

        with dask.config.set(scheduler=self.client if self.client is not None else self.scheduler):
            yield

    def compute(self, arrays: list, tick) -> list:
        """Compute the dask ``arrays`` (or delayed values), calling ``tick()`` as each of their
        blocks finishes."""
        if self.client is not None:
            from distributed import as_completed, futures_of

            persisted = self.client.persist(arrays)
            for _ in as_completed(futures_of(persisted), loop=self.client.loop):
                tick()
            return list(self.client.compute(persisted, sync=True))
        import dask
        from dask.callbacks import Callback
        from dask.core import flatten

        keys = {k for a in arrays for k in flatten(a.__dask_keys__())}

        class Count(Callback):
            def _posttask(self, key, result, dsk, state, id):  # noqa: A002 - dask's name
                if key in keys:
                    tick()

        if self.scheduler != "threads":
            with Count():
                return list(dask.compute(*arrays, scheduler=self.scheduler))
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        try:
            with Count():
                return list(dask.compute(*arrays, scheduler="threads", pool=pool))
        finally:
            # A failing block ends compute() while other threads still write theirs: wait for
            # them, or a late write recreates the temporary folder the clean-up just removed.
            pool.shutdown(wait=True, cancel_futures=True)

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


def open_lazy(src: Source, target: int, console: Console | None = None):
    """A dask array of level 0 in blocks of about ``target`` x ``target`` pixels (larger
    when that would make more than :data:`MAX_BLOCKS` blocks, with a note)."""
    import dask.array as da

    if src.kind == "zarr":
        import zarr

        z = zarr.open_array(src.zarr_path, mode="r")
        chunks = fewer_blocks(src, z.shape, z.chunks, target, console)
        return da.from_zarr(z, chunks=chunks)
    level = TiffLevel(src.path)
    chunks = fewer_blocks(src, level.shape, level.chunks, target, console)
    return da.from_array(
        level,
        chunks=chunks,
        lock=False,
        asarray=True,
        fancy=False,
        name=f"tiff-{abs(hash((level.path, chunks)))}",
    )


def process_lazy(item: ImagePlan, model, args, tx, console: Console, env: LazyEnv, prefix: str):
    """Fit (or apply ``model``), write labels (and the recoloured image) block by block.
    Returns (model, summary row); the clusters table has exact counts of every pixel."""
    import napari_kmeans_segment as nks

    src = item.source
    arr = open_lazy(src, args.chunk, console)
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
            white = None
            if model.measures_stains:
                from .._core.features.tissue import WhiteLevel

                w = seg.params["white"]
                white = WhiteLevel(np.asarray(w["white"], np.float64), w["source"], clipped=w["clipped"])
        else:
            white = None
            if model.measures_stains:  # every block against this slide's own white level
                from .._core.lazy import slide_white

                white = slide_white(_rgb_last(arr, src), fallback=model.feature_space.white)
                model = model.on_white(white.white)
            # the core's lazy apply (the label table of every colour), without its estimated
            # counts: the blocks are counted exactly as they are written
            labels, recolored = lazy_labels(model, arr, bool(src.rgb), src.channel_axis)
    index = model.labels
    nbins = index[-1] + 1
    channel_dim = channel_dim_of(src)
    spatial_axes, scale = ome_axes(src, channel_dim)
    labels_path = create_ome_array(
        tx.temp(item.outputs["labels"]),
        src.stem + " labels",
        labels,
        spatial_axes,
        scale,
        colors=_label_colors(model, index, src),
    )
    writes = [block_writes(labels, labels_path, nbins)]
    if "recolored" in item.outputs:
        rec = recolored if channel_dim is None else _channels_first(recolored, channel_dim)
        axes = spatial_axes if channel_dim is None else [{"name": "c", "type": "channel"}, *spatial_axes]
        rscale = scale if channel_dim is None or scale is None else [1.0, *scale]
        rec_path = create_ome_array(
            tx.temp(item.outputs["recolored"]), src.stem + " recolored", rec, axes, rscale
        )
        writes.append(block_writes(rec, rec_path, 0))
    n_writes = len(writes)
    finish = None
    work: list = list(writes)  # dask arrays of block writes, then the stain report's tasks
    if white is not None:  # the slide's report, block by block with the writes (shared reads)
        from .._core.measure.slide_stains import lazy_report

        fs = model.feature_space
        stain_tasks, finish = lazy_report(
            _rgb_last(arr, src),
            labels > 0,  # the tissue: a stain model's glass is label 0
            white,
            fs.tissue_od,
            model.params["positivity_thresholds"],
            fs.stain_matrix,
            fs.value_range,
        )
        work += stain_tasks
    # a block of each write, and one delayed stain count per block
    total = sum(math.prod(w.numblocks) for w in writes) + len(work) - n_writes
    done = [0]

    def tick():
        done[0] += 1
        console.progress(f"{prefix}: writing {bar(done[0], total)} {done[0]}/{total} blocks")

    console.progress(f"{prefix}: writing {bar(0, total)} 0/{total} blocks")
    results = env.compute(work, tick)
    stains = None
    if finish is not None and white is not None:
        from .._core.measure.slide_stains import white_notes

        stains = finish(results[n_writes:], white_notes(white, model.feature_space.value_range))
    counts = results[0].reshape(-1, nbins).sum(axis=0)
    centers = _centers(model, index)
    from .._core import cluster_table

    names = model.label_names()  # the model's names (as in memory), else stain names for "hed"
    table = cluster_table(np.asarray(index), counts[index], centers, names)
    write_table(tx.temp(item.outputs["clusters"]), table)
    label_names = dict(zip(index, names))
    row = image_row(
        str(src.path),
        counts,
        None,
        args,
        model.default_background(),
        names=label_names,
        stains=stains,
        index=model.labels,
    )
    return model, row


def _rgb_last(arr, src: Source):
    """The image with its channels last and whole (as the tissue is decided on)."""
    import dask.array as da

    channel_dim = channel_dim_of(src)
    if channel_dim is not None and channel_dim != arr.ndim - 1:
        arr = da.moveaxis(arr, channel_dim, -1)
    return arr.rechunk({arr.ndim - 1: -1})


def _channels_first(arr, channel_dim: int):
    import dask.array as da

    return da.moveaxis(arr, channel_dim, 0)


def block_writes(arr, path: str, nbins: int):
    """A dask array with one block per block of ``arr``: computing it writes that block into
    the zarr array at ``path`` (same chunks, so blocks never share a stored chunk) and gives
    its label counts, shape ``(1,) * arr.ndim + (nbins,)`` (one 0 when ``nbins`` is 0).

    One graph layer for all blocks: a delayed call per block made a layer each, and dask's
    graph culling then took minutes, without a word and deaf to Ctrl-C, for 100k blocks.
    """
    width = max(nbins, 1)
    chunks = tuple((1,) * n for n in arr.numblocks) + ((width,),)
    # where each block starts, per axis: block_id indexes it (dask's block_info builds a
    # dictionary per block, a graph layer of its own)
    starts = tuple(tuple(int(v) for v in np.cumsum((0, *c))) for c in arr.chunks)
    return arr.map_blocks(
        _write_block,
        path,
        nbins,
        starts,
        chunks=chunks,
        new_axis=arr.ndim,
        dtype=np.int64,
        meta=np.empty((0,) * (arr.ndim + 1), np.int64),
        name=f"write-{path}",
    )


def _write_block(block, path: str, nbins: int, starts, block_id=None):
    loc = tuple(slice(starts[d][i], starts[d][i + 1]) for d, i in enumerate(block_id[: len(starts)]))
    block = np.asarray(block)
    _open_for_writing(path)[loc] = block
    shape = (1,) * block.ndim + (max(nbins, 1),)
    if nbins:
        return np.bincount(block.ravel(), minlength=nbins).reshape(shape)
    return np.zeros(shape, np.int64)


@functools.lru_cache(maxsize=8)
def _open_for_writing(path: str):
    """The zarr array at ``path``, opened once per process (opening reads its metadata: as
    long as writing a small block)."""
    import zarr

    return zarr.open_array(path, mode="r+")


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
