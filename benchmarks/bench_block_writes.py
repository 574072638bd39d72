"""The command line's block-by-block writes: one delayed call per block (a graph layer per
block, which dask culls in time quadratic in the layers) against the single map_blocks layer
the CLI builds (``_cli/wsi.block_writes``), for inputs of 1 000 to 10 000 blocks, beside dask's
own floor (a map_blocks that only sums each block). Both write with the same function (a
bincount and a zarr write of an 8 x 8 block), so the difference is the graph's overhead.
Prints wall times (the machine may be shared: numbers are noisy).

    PYTHONPATH=src python benchmarks/bench_block_writes.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def per_block_delayed(arr, path: str, nbins: int) -> list:
    """The former construction: a delayed call per block."""
    import dask

    from napari_kmeans_segment._cli.wsi import _write_block

    starts = tuple(tuple(int(v) for v in np.cumsum((0, *c))) for c in arr.chunks)

    def write(block, idx):
        return _write_block(block, path, nbins, starts, block_id=idx)

    blocks = arr.to_delayed(optimize_graph=False)
    task = dask.delayed(write, pure=True)
    return [task(blocks[idx], idx, dask_key_name=f"write-{idx}") for idx in np.ndindex(*arr.numblocks)]


def main() -> None:
    import dask
    import dask.array as da
    import zarr

    from napari_kmeans_segment._cli.wsi import block_writes

    print(f"{'blocks':>8} {'delayed per block':>18} {'one layer (CLI)':>16} {'dask floor':>11}")
    for n in (1000, 4000, 10000):
        side = int(np.sqrt(n)) * 8
        values = (np.arange(side * side) % 3 + 1).astype(np.uint8).reshape(side, side)
        arr = da.from_array(values, chunks=8)
        times = []
        with tempfile.TemporaryDirectory() as tmp:
            for build in (per_block_delayed, block_writes):
                path = str(Path(tmp) / f"{build.__name__}.zarr")
                zarr.open_array(path, mode="w", shape=values.shape, chunks=(8, 8), dtype="u1")
                t = time.perf_counter()
                dask.compute(build(arr, path, 4), scheduler="threads")
                times.append(time.perf_counter() - t)
        t = time.perf_counter()
        arr.map_blocks(lambda b: b.sum(keepdims=True), chunks=(1, 1)).compute(scheduler="threads")
        floor = time.perf_counter() - t
        print(f"{arr.npartitions:>8} {times[0]:>17.2f}s {times[1]:>15.2f}s {floor:>10.2f}s")


if __name__ == "__main__":
    main()
