"""The one CSV writer of the project: every table it writes is safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line
feed is read by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``,
``+cmd|' /C calc'!A0``). Following OWASP's CSV-injection guidance such a cell is written with
a leading single quote, which spreadsheets show as text, so the name keeps its characters
visibly. Numbers stay numbers (a negative number is not a formula), NaN and None become an
empty cell.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMULA_START", "safe_cell", "write_csv"]

#: First characters that make a spreadsheet evaluate a cell (OWASP, plus the line feed).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# Text that is a plain number ("-3", "+1.5e-3") is left alone: a spreadsheet reads it as that
# number, never as a formula.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that a spreadsheet cannot run.

    Parameters
    ----------
    value : Any
        A table value: text, a Python or numpy number, a bool, None or NaN.

    Returns
    -------
    Any
        Numbers and bools unchanged (numpy scalars as Python ones); NaN and None as ``""``;
        any other value as text, with a leading ``'`` when it starts with a formula character.

    Examples
    --------
    >>> safe_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> safe_cell(-0.5), safe_cell("DAB")
    (-0.5, 'DAB')
    """
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return "" if math.isnan(value) else value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(path: str | Path, table: Any, columns: Sequence[str] | None = None) -> Path:
    """Write ``table`` as CSV at ``path`` with every cell passed through :func:`safe_cell`.

    Parameters
    ----------
    path : str or Path
        The file to write (replaced if it exists).
    table : pandas.DataFrame, mapping of columns, or sequence of row mappings
        A DataFrame; a dict of equal-length columns (``Segmentation.table()``); or rows as
        dicts (a summary), whose missing keys become empty cells.
    columns : sequence of str, optional
        The columns, in order (default: the table's own; for rows, the keys in order of
        first appearance).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        When the columns of a mapping have different lengths.
    """
    path = Path(path)
    header, rows = _header_and_rows(table, columns)
    # file names can hold bytes that are not UTF-8 (undecodable names): written as \x.. escapes
    with open(path, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
        w = csv.writer(fh)
        w.writerow([safe_cell(c) for c in header])
        for row in rows:
            w.writerow([safe_cell(v) for v in row])
    return path


def _header_and_rows(table: Any, columns: Sequence[str] | None) -> tuple[list, Iterable[Sequence]]:
    if hasattr(table, "itertuples") and hasattr(table, "columns"):  # a pandas DataFrame
        header = list(table.columns) if columns is None else list(columns)
        frame = table if columns is None else table[header]
        return header, frame.itertuples(index=False, name=None)
    if isinstance(table, Mapping):
        header = list(table) if columns is None else list(columns)
        lengths = {len(table[c]) for c in header}
        if len(lengths) > 1:
            raise ValueError(
                f"The table's columns have different lengths {sorted(lengths)}; give one value per row."
            )
        n = lengths.pop() if lengths else 0
        return header, ([table[c][i] for c in header] for i in range(n))
    rows = list(table)
    if columns is None:
        header = list(dict.fromkeys(k for r in rows for k in r))
    else:
        header = list(columns)
    return header, ([r.get(c, "") for c in header] for r in rows)
