"""Excel ``.xlsx`` workbooks (openpyxl, read-only): the first sheet that has data, its first
non-empty row as the header. A row with more cells than the header is a reject (its row)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

from workbench.catalog.tolerant_csv import unique_names
from workbench.errors import WorkbenchError


def _cell(value):
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, str) and not value.strip():
        return None
    return value


def read_xlsx(path: Path, name: str, limit: int | None = None):
    """``(names, data, rejects)`` of the first non-empty sheet of an Excel workbook."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a damaged workbook
        raise WorkbenchError(f"cannot read {name} as an Excel workbook ({exc}); save it again as .xlsx or CSV") from exc
    try:
        for sheet in book.worksheets:
            names: list[str] | None = None
            data: dict[str, list] = {}
            rejects = []
            for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
                values = [_cell(v) for v in row]
                while values and values[-1] is None:
                    values.pop()
                if not values:
                    continue
                if names is None:
                    names = unique_names(["" if v is None else str(v) for v in values])
                    data = {n: [] for n in names}
                    continue
                if len(values) > len(names):
                    rejects.append((number, "malformed line: too many columns", "\t".join(map(str, values))))
                    continue
                values += [None] * (len(names) - len(values))
                for n, v in zip(names, values):
                    data[n].append(v)
                if limit is not None and len(data[names[0]]) >= limit:
                    break
            if names is not None:
                return names, data, rejects
    finally:
        book.close()
    raise WorkbenchError(f"{name} is an Excel workbook with no data in any sheet; export the catalog again")
