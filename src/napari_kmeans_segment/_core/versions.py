"""Which versions of OpenCV, numpy and napari work together, checked before they are used.

The declared ranges cannot say everything: pip will install OpenCV 4.8 (built for numpy 1.x)
beside numpy 2, and importing cv2 then fails deep inside OpenCV with "numpy.core.multiarray
failed to import". These checks read the installed distributions' metadata (cheap: nothing
is imported) and turn such a combination into one sentence naming the versions and the fix.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata

#: The oldest releases tested (the "minimum" environment of .ci/run).
MIN_OPENCV = (4, 8)
MIN_NUMPY = (1, 25)
MIN_NAPARI = (0, 5)
#: OpenCV's wheels are built for numpy 2 from 4.10 on; older ones fail to import beside numpy 2.
OPENCV_FOR_NUMPY2 = (4, 10)
#: The wheels that provide ``cv2``: the headless one is ours; the others bundle Qt plugins.
OPENCV_DISTRIBUTIONS = (
    "opencv-python-headless",
    "opencv-contrib-python-headless",
    "opencv-python",
    "opencv-contrib-python",
)
_QT_OPENCV = ("opencv-python", "opencv-contrib-python")


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading release numbers of a version string: "4.8.0.76" -> (4, 8, 0, 76)."""
    numbers = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group()))
        if match.group() != part:
            break
    return tuple(numbers)


def _show(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def problems(numpy: str | None, opencv: str | None, napari: str | None = None) -> list[str]:
    """Sentences about an unsupported combination of installed versions (empty when fine).

    Parameters
    ----------
    numpy, opencv, napari : str or None
        Installed version strings; None when the package is not installed (or not known).

    Examples
    --------
    >>> problems("2.1.0", "4.8.0.76")[0][:44]
    'OpenCV 4.8.0.76 was built for numpy 1.x and '
    >>> problems("2.1.0", "4.10.0.84")
    []
    """
    found: list[str] = []
    fix_cv = 'pip install -U "opencv-python-headless>=4.10"'
    if numpy is not None and version_tuple(numpy) < MIN_NUMPY:
        found.append(
            f"numpy {numpy} is older than napari-kmeans-segment supports (numpy >= "
            f'{_show(MIN_NUMPY)}): run pip install -U "numpy>={_show(MIN_NUMPY)}".'
        )
    if opencv is not None:
        cv = version_tuple(opencv)
        if cv < MIN_OPENCV:
            found.append(
                f"OpenCV {opencv} is older than napari-kmeans-segment supports (OpenCV >= "
                f"{_show(MIN_OPENCV)}): run {fix_cv}."
            )
        elif numpy is not None and version_tuple(numpy) >= (2,) and cv < OPENCV_FOR_NUMPY2:
            found.append(
                f"OpenCV {opencv} was built for numpy 1.x and cannot be imported beside numpy "
                f"{numpy}: run {fix_cv} (or install numpy<2)."
            )
    if napari is not None and version_tuple(napari) < MIN_NAPARI:
        found.append(
            f"napari {napari} is older than napari-kmeans-segment supports (napari >= "
            f'{_show(MIN_NAPARI)}): run pip install -U "napari[all]>={_show(MIN_NAPARI)}".'
        )
    return found


def installed(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_opencv() -> str | None:
    """The version of the first OpenCV wheel found (None for a build without pip metadata)."""
    for name in OPENCV_DISTRIBUTIONS:
        version = installed(name)
        if version is not None:
            return version
    return None


def check_installed(with_napari: bool = False) -> None:
    """Raise ImportError with one sentence when the installed versions cannot work together.

    Reads metadata only; a cv2 built from source (no pip metadata) is not judged here.
    """
    found = problems(installed("numpy"), installed_opencv(), installed("napari") if with_napari else None)
    if found:
        raise ImportError(" ".join(found))


def qt_opencv_warning() -> str | None:
    """A sentence when an OpenCV wheel with bundled Qt plugins is installed (it can abort
    napari's window), else None."""
    for name in _QT_OPENCV:
        version = installed(name)
        if version is not None:
            return (
                f"{name} {version} is installed; its bundled Qt plugins can abort napari. "
                f"Run: pip uninstall {name} && pip install opencv-python-headless"
            )
    return None


@cache
def require_working_versions() -> None:
    """:func:`check_installed` once per process (the core calls it before it first needs cv2)."""
    check_installed()
