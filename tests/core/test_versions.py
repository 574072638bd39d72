"""The installed versions: the default path works on every OpenCV the project declares, and a
combination that cannot work is named in one sentence instead of failing inside OpenCV."""

import subprocess
import sys

import numpy as np
import pytest

from napari_kmeans_segment import segment
from napari_kmeans_segment._core import versions
from napari_kmeans_segment._core.versions import problems, version_tuple


@pytest.mark.parametrize("shape", [(300, 400), (2100, 2100)], ids=["one chunk", "several chunks"])
def test_default_run_on_8bit_rgb_counts_every_pixel_of_each_color(shape):
    """The default run counts 8-bit RGB colours with cv2.calcHist (OpenCV 5.1's binding refused
    the 256x256x256 output buffer the histogram was once written into, and every Run failed)."""
    rng = np.random.default_rng(1)
    truth = np.zeros(shape, np.int64)
    truth[:, shape[1] // 3 :] = 1
    truth[shape[0] // 2 :, 2 * shape[1] // 3 :] = 2
    colors = np.array([[200, 40, 40], [30, 190, 60], [20, 30, 200]])
    image = np.clip(colors[truth] + rng.integers(-3, 4, (*shape, 3)), 0, 255).astype(np.uint8)
    mask = np.ones(shape, bool)
    mask[:, :7] = False  # the masked histogram too
    result = segment(image, 3, seed=0, mask=mask)
    labels = np.asarray(result.labels)
    assert (labels[~mask] == 0).all()
    inside = labels[mask]
    # each true region is one cluster, and the counts are the regions' sizes
    for t in range(3):
        got = np.unique(inside[truth[mask] == t])
        assert got.size == 1 and got[0] != 0
        assert result.counts[got[0] - 1] == (truth[mask] == t).sum()


def test_version_numbers_parse_release_parts_only():
    assert version_tuple("4.8.0.76") == (4, 8, 0, 76)
    assert version_tuple("2.1.0rc1") == (2, 1, 0)
    assert version_tuple("0.5.0a1") == (0, 5, 0)
    assert version_tuple("1.25") == (1, 25)


def test_opencv_built_for_numpy1_beside_numpy2_is_named_with_the_fix():
    (sentence,) = problems("2.1.0", "4.8.0.76")
    assert "OpenCV 4.8.0.76" in sentence and "numpy 2.1.0" in sentence
    assert 'pip install -U "opencv-python-headless>=4.10"' in sentence
    assert problems("2.1.0", "4.10.0.84") == []
    assert problems("1.26.4", "4.8.0.76") == []


def test_too_old_opencv_numpy_and_napari_are_each_named():
    found = problems("1.21.0", "4.5.5.64", "0.4.19")
    assert len(found) == 3
    assert "numpy 1.21.0" in found[0] and "OpenCV 4.5.5.64" in found[1] and "napari 0.4.19" in found[2]


def test_the_installed_versions_work_together():
    assert (
        problems(versions.installed("numpy"), versions.installed_opencv(), versions.installed("napari")) == []
    )
    versions.check_installed(with_napari=True)


def test_an_unsupported_combination_stops_a_run_with_one_sentence(monkeypatch):
    monkeypatch.setattr(versions, "installed_opencv", lambda: "4.8.0.76")
    monkeypatch.setattr(versions, "installed", lambda name: {"numpy": "2.2.0"}.get(name, None))
    versions.require_working_versions.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"OpenCV 4\.8\.0\.76 was built for numpy 1\.x"):
            segment(np.zeros((4, 4, 3), np.uint8), 2)
    finally:
        versions.require_working_versions.cache_clear()


def test_cli_names_an_unsupported_combination_in_one_line_and_exits_2(tmp_path):
    """The command line says what to install instead of a traceback from inside OpenCV."""
    code = (
        "import sys\n"
        "from napari_kmeans_segment._core import versions\n"
        "versions.installed_opencv = lambda: '4.8.0.76'\n"
        "real = versions.installed\n"
        "versions.installed = lambda n: '2.2.0' if n == 'numpy' else real(n)\n"
        "from napari_kmeans_segment._cli import main\n"
        "sys.exit(main(['x.png', '-k', '2', '-o', sys.argv[1]]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2, res.stderr
    out = (res.stdout + res.stderr).strip()
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1 and "opencv-python-headless>=4.10" in out
    assert not (tmp_path / "out").exists()
