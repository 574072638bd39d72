"""How a block-by-block input (a tiled TIFF, a zarr store) is cut into blocks: aligned with
its stored chunks, about ``--chunk`` pixels a side, and few enough for dask to schedule."""

from __future__ import annotations

import math

from .console import Console
from .inputs import Source

# Blocks an input is processed in, at most (while blocks can grow to MAX_BLOCK_SIDE): dask
# spends about a millisecond per task building and ordering the graph, and each block pays
# the model's setup, so 160,000 blocks of --chunk 64 took minutes before the first was written.
MAX_BLOCKS = 4096
MAX_BLOCK_SIDE = 8192


def fewer_blocks(src: Source, shape, store_chunks, target: int, console: Console | None):
    """:func:`block_chunks` for ``target``, doubled until there are at most MAX_BLOCKS blocks."""
    dim = channel_dim_of(src)
    chunks = block_chunks(shape, store_chunks, dim, target)
    n = n_blocks(shape, chunks)
    side = target
    while n_blocks(shape, chunks) > MAX_BLOCKS and side * 2 <= MAX_BLOCK_SIDE:
        side *= 2
        chunks = block_chunks(shape, store_chunks, dim, side)
    if side != target and console is not None:
        console.say(
            f"{src.path}: --chunk {target} would make {n:,} blocks; using blocks of about {side} "
            f"pixels a side ({n_blocks(shape, chunks):,} blocks), which dask handles much faster."
        )
    return chunks


def n_blocks(shape, chunks) -> int:
    return math.prod(-(-int(s) // int(c)) for s, c in zip(shape, chunks))


def channel_dim_of(src: Source) -> int | None:
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
