"""The project's own checks run with the tests: mypy and ruff report nothing on src/."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "napari_kmeans_segment"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _newest_annotations() -> bool:
    import qtpy

    return int(np.__version__.split(".")[0]) >= 2 and qtpy.API_NAME == "PyQt6"


@pytest.mark.skipif(
    not _newest_annotations(),
    reason="types are checked against numpy 2 and PyQt6, whose annotations differ from numpy 1.x "
    "and PyQt5's; the newest environment of .ci/run runs this check",
)
def test_mypy_is_clean_on_src():
    res = _run("mypy", str(SRC))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Success: no issues found" in res.stdout


def test_ruff_is_clean_on_src_and_tests():
    res = _run("ruff", "check", "src", "tests", "scripts", "benchmarks")
    assert res.returncode == 0, res.stdout + res.stderr


def test_code_is_ruff_formatted():
    res = _run("ruff", "format", "--check", "src", "tests", "scripts", "benchmarks")
    assert res.returncode == 0, res.stdout + res.stderr


def test_benchmark_and_helper_scripts_import():
    """Benchmarks and scripts are not run by the suite, but they must not rot: a module moved
    or renamed in src must not leave one of them importing a name that no longer exists."""
    import importlib.util

    for folder in ("benchmarks", "scripts"):
        for path in sorted((ROOT / folder).glob("*.py")):
            spec = importlib.util.spec_from_file_location(f"_check_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # each guards its work behind __main__
