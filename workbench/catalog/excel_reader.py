"""Excel ``.xlsx`` workbooks (openpyxl, read-only): the first sheet that has data, its first
non-empty row as the header. The sheet with the most rows is read (a cover sheet before the
products is passed over); other sheets holding rows are named in a note (they are not read). A
row with more cells than the header is a reject (its row)."""

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


def _data_rows(sheet) -> int:
    """Rows holding a value in a sheet (its header included)."""
    return sum(1 for row in sheet.iter_rows(values_only=True) if any(_cell(v) is not None for v in row))


def sheet_rows(path: Path) -> list[tuple[str, int]]:
    """``(title, rows)`` of every sheet of a workbook, in order: the rows its dimension records
    (counted only where the file records none); ``[]`` for a workbook that cannot be opened."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - read_xlsx names the damage
        return []
    try:
        out = []
        for sheet in book.worksheets:
            rows = sheet.max_row if sheet.max_row is not None else None
            out.append((sheet.title, _data_rows(sheet) if rows is None or rows <= 2 else rows))
        return out
    finally:
        book.close()


def other_sheets_note(name: str, sizes: list[tuple[str, int]], read: str) -> str | None:
    """A note naming the sheets besides ``read`` that hold rows too (they are not read), or ``None``."""
    rest = [t for t, n in sizes if n >= 2 and t != read]
    if not rest:
        return None
    shown = ", ".join(repr(t) for t in rest[:3]) + (f" and {len(rest) - 3} more" if len(rest) > 3 else "")
    return (f"{name}: only sheet {read!r} (the one with the most rows) was read; sheet(s) {shown} hold rows too: "
            "save each sheet as a file of its own (or move the rows into one sheet) and ingest it")


def read_xlsx(path: Path, name: str, limit: int | None = None, sheet_title: str | None = None):
    """``(names, data, rejects)`` of one sheet of an Excel workbook: ``sheet_title``, else the first
    non-empty one."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a damaged workbook
        raise WorkbenchError(f"cannot read {name} as an Excel workbook ({exc}); save it again as .xlsx or CSV") from exc
    try:
        for sheet in book.worksheets:
            if sheet_title is not None and sheet.title != sheet_title:
                continue
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
