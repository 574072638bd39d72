"""Every exported name documents itself in numpydoc, and its Examples run as doctests.

Each example is self-contained (its own imports) and runs on a small synthetic array whose
answer is known, so the printed output is the same on every supported OpenCV and numpy.
"""

from __future__ import annotations

import doctest
import inspect

import pytest

import napari_kmeans_segment as nks

EXPORTED = sorted(nks.__all__)
CLASSES = [n for n in EXPORTED if inspect.isclass(getattr(nks, n))]

#: Exported functions and public methods that raise on bad input: their docstrings say
#: what and when in a Raises section.
RAISES = {
    "area_table",
    "distance_map",
    "estimate_white_level",
    "extract_cluster",
    "extract_objects",
    "foreground_labels",
    "load_model",
    "mask_clusters",
    "merge_clusters",
    "outlier_fraction",
    "segment",
    "segment_lazy",
    "segment_multiscale",
    "stain_names",
    "suggest_k",
    "KMeansModel.apply",
    "KMeansModel.from_dict",
    "KMeansModel.merged",
    "KMeansModel.named",
    "KMeansModel.save",
    "Options.check",
    "Options.from_dict",
    "Options.updated",
    "Segmentation.extract",
    "Segmentation.masked",
    "Segmentation.merge",
    "Segmentation.save",
}

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def public_methods(cls) -> dict[str, object]:
    """The methods a class defines itself (not inherited, not private, not properties)."""
    out = {}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, classmethod | staticmethod):
            value = value.__func__
        if inspect.isfunction(value):
            out[name] = value
    return out


def doctests_of(name: str) -> list[doctest.DocTest]:
    """The doctests of an exported name and (for a class) of its methods and properties,
    with empty globals: an example imports what it uses."""
    finder = doctest.DocTestFinder(recurse=True, exclude_empty=False)
    obj = getattr(nks, name)
    return finder.find(obj, name, module=inspect.getmodule(obj), globs={})


def sections(doc: str | None) -> set[str]:
    """The numpydoc section headers of a docstring (a title underlined by dashes)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    return {
        a.strip()
        for a, b in zip(lines, lines[1:])
        if a.strip() and set(b.strip()) == {"-"} and len(b.strip()) == len(a.strip())
    }


def documented() -> list[tuple[str, object]]:
    """Every exported function, class and public method of an exported class."""
    out: list[tuple[str, object]] = [(n, getattr(nks, n)) for n in EXPORTED]
    for c in CLASSES:
        out += [(f"{c}.{m}", f) for m, f in public_methods(getattr(nks, c)).items()]
    return out


@pytest.mark.parametrize("name", EXPORTED)
def test_examples_run(name):
    tests = doctests_of(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
    obj = getattr(nks, name)
    wanted = {name} if not inspect.isclass(obj) else {name} | {f"{name}.{m}" for m in public_methods(obj)}
    # DocTestFinder names a test by the object's path from the name it was given
    found = {t.name for t in tests if t.examples}
    missing = sorted(wanted - found)
    assert not missing, f"No example in the docstring of {missing}"


@pytest.mark.parametrize(("name", "obj"), documented(), ids=[n for n, _ in documented()])
def test_numpydoc_sections(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    lines = doc.splitlines()
    assert lines[0].strip().endswith("."), f"{name}: the summary is not one sentence on one line"
    assert len(lines) == 1 or not lines[1].strip(), f"{name}: the summary runs over one line"
    have = sections(doc)
    wanted = {"Examples"}
    if inspect.isfunction(obj):
        wanted.add("Returns")
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
        if params:
            wanted.add("Parameters")
    if name in RAISES:
        wanted.add("Raises")
    missing = sorted(wanted - have)
    assert not missing, f"{name}: no {missing} section(s); it has {sorted(have)}"


def test_raises_list_names_documented_objects():
    names = {n for n, _ in documented()}
    assert RAISES <= names, sorted(RAISES - names)
