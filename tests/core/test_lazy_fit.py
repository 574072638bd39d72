"""Lazy images: fitted as in memory, and the same on a dask.distributed cluster."""

import dask.array as da
import numpy as np
import pytest
from skimage import data

import napari_kmeans_segment as nks
from napari_kmeans_segment._core import lazy


def test_lazy_fit_reads_every_block_of_a_small_image_and_fits_as_in_memory():
    img = data.astronaut()
    arr = da.from_array(img, chunks=(100, 128, 3))
    seg = nks.segment(arr, 6, seed=3)
    mem = nks.segment(img, 6, seed=3)
    assert seg.params["sample_blocks"] == arr.npartitions  # before: 8 of 24 blocks
    np.testing.assert_array_equal(seg.centers, mem.centers)
    np.testing.assert_array_equal(seg.labels.compute(), mem.labels)


def test_lazy_fit_reads_blocks_up_to_the_byte_budget(monkeypatch):
    arr = da.from_array(data.astronaut(), chunks=(64, 64, 3))  # 64 blocks of 12 kB
    monkeypatch.setattr(lazy, "FIT_BYTES", 100_000)
    seg = nks.segment(arr, 4, seed=0)
    assert seg.params["sample_blocks"] == 9  # the first 9 random blocks hold >= 100 kB
    assert nks.segment_lazy(arr, 4, seed=0, sample_blocks=3).params["sample_blocks"] == 3


@pytest.mark.parametrize(
    "image, options",
    [
        (data.coffee(), dict(normalize=True)),
        (data.coffee(), dict(color_space="hed", tissue=False)),
        (data.immunohistochemistry(), dict(color_space="hed")),
        (data.coffee().astype(np.uint16) * 257, {}),
    ],
    ids=["normalize", "hed-every-pixel", "hed-tissue", "uint16-rgb"],
)
def test_every_block_read_gives_the_in_memory_result_with_odd_chunks(image, options):
    """Blocks were concatenated in block order, so samples drawn from them (feature scaling,
    16-bit summaries) were not the in-memory ones: 0.03-0.15% of labels differed."""
    mem = nks.segment(image, 4, seed=3, **options)
    seg = nks.segment(da.from_array(image, chunks=(77, 131, 3)), 4, seed=3, **options)
    np.testing.assert_array_equal(seg.centers, mem.centers)
    np.testing.assert_array_equal(seg.labels.compute(), mem.labels)
    if mem.stains is not None:  # the glass (label 0) is the in-memory glass, block edges too
        assert (mem.labels == 0).any()
        assert seg.params["positivity_thresholds"] == mem.params["positivity_thresholds"]


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_a_masked_dask_array_leaves_its_masked_pixels_out_as_in_memory(name):
    """A dask array of np.ma blocks: the mask was dropped, so masked pixels were fitted and
    labelled (the in-memory path leaves them out: label 0, recoloured image unchanged)."""
    img = getattr(data, name)()[::2, ::2]
    m = np.zeros(img.shape[:2], bool)
    m[:, :64] = True
    m[100:120] = True
    ma = np.ma.array(img, mask=np.broadcast_to(m[..., None], img.shape) if img.ndim == 3 else m)
    mem = nks.segment(ma, 3, seed=0)
    seg = nks.segment(da.from_array(ma, chunks=(64, 64) + img.shape[2:]), 3, seed=0)
    labels, recolored = seg.labels.compute(), np.asarray(seg.recolored.compute())
    assert (labels[m] == 0).all() and (labels[~m] > 0).all()
    np.testing.assert_array_equal(recolored[m], img[m])
    np.testing.assert_array_equal(seg.centers, mem.centers)
    np.testing.assert_array_equal(labels, mem.labels)
    np.testing.assert_array_equal(recolored, mem.recolored)
    assert seg.counts.sum() == pytest.approx((~m).sum(), rel=0.01)


def test_a_distributed_cluster_gives_the_threaded_result():
    distributed = pytest.importorskip("distributed")
    img = np.tile(data.astronaut(), (2, 2, 1))  # 1 MP: labelled through the colour table
    arr = da.from_array(img, chunks=(256, 256, 3))
    threaded = nks.segment(arr, 5, seed=0)
    labels = threaded.labels.compute(scheduler="threads")
    recolored = threaded.recolored.compute(scheduler="threads")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        seg = nks.segment(arr, 5, seed=0)  # the fit reads its blocks on the workers
        got, got_recolored = da.compute(seg.labels, seg.recolored)
    np.testing.assert_array_equal(seg.centers, threaded.centers)
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_array_equal(got_recolored, recolored)
