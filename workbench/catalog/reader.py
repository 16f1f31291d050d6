"""Reading a catalog file (CSV, Parquet, JSON lines) into string columns, keeping every row
the reader could not parse (bad encoding, wrong field count, broken JSON) as a reject."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass
class RawCatalog:
    """All parsed rows as strings (``None`` for empty), and the rows that failed to parse."""

    frame: pd.DataFrame
    rejects: pd.DataFrame  # row_number, reason, raw


def detect_format(path: Path, fmt: str | None = None) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the argument or the file extension."""
    if fmt:
        if fmt not in ("csv", "parquet", "jsonl"):
            raise WorkbenchError(f"unknown format {fmt!r}; use csv, parquet or jsonl")
        return fmt
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise WorkbenchError(
            f"cannot tell the format of {path.name}; rename it to .csv/.parquet/.jsonl or pass --format") from None


def read_catalog(path: str | Path, fmt: str | None = None, delimiter: str | None = None) -> RawCatalog:
    """Read a catalog file; every column as text."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"catalog file {path} does not exist; check the path")
    if path.stat().st_size == 0:
        raise WorkbenchError(f"catalog file {path} is empty; export the catalog again")
    kind = detect_format(path, fmt)
    if kind == "csv":
        return _read_csv(path, delimiter)
    if kind == "parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({"row_number": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object),
                         "raw": pd.Series(dtype=object)})


def _read_csv(path: Path, delimiter: str | None) -> RawCatalog:
    con = duckdb.connect()
    try:
        options = "all_varchar = true, store_rejects = true, header = true"
        params: list = [str(path)]
        if delimiter:
            options += ", delim = ?"
            params.append(delimiter)
        try:
            frame = con.execute(f"SELECT * FROM read_csv(?, {options})", params).df()
        except duckdb.Error as exc:
            raise WorkbenchError(f"cannot read {path.name} as CSV ({str(exc).splitlines()[0]}); "
                                 "check the delimiter (--delimiter) and the header row") from exc
        bad = con.execute(
            "SELECT line, first(error_type ORDER BY error_type) AS error_type, first(csv_line) AS csv_line "
            "FROM reject_errors GROUP BY line ORDER BY line").df()
    finally:
        con.close()
    reasons = {"INVALID ENCODING": "undecodable bytes (file is not UTF-8)"}
    rejects = pd.DataFrame({
        "row_number": bad["line"].astype("int64"),
        "reason": [reasons.get(t, f"malformed line: {t.lower()}") for t in bad["error_type"]],
        "raw": bad["csv_line"].astype(str),
    }) if len(bad) else _empty_rejects()
    return RawCatalog(_as_text(frame), rejects)


def _read_parquet(path: Path) -> RawCatalog:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise WorkbenchError(f"cannot read {path.name} as Parquet ({exc}); check the file") from exc
    return RawCatalog(_as_text(frame), _empty_rejects())


def _read_jsonl(path: Path) -> RawCatalog:
    records, rejects = [], []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                rejects.append((number, "undecodable bytes (file is not UTF-8)", line.decode("utf-8", "replace")))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                rejects.append((number, f"malformed line: invalid JSON ({exc.msg})", text.rstrip("\n")))
                continue
            if not isinstance(value, dict):
                rejects.append((number, "malformed line: not a JSON object", text.rstrip("\n")))
                continue
            records.append(value)
    frame = pd.DataFrame.from_records(records)
    rej = pd.DataFrame(rejects, columns=["row_number", "reason", "raw"]) if rejects else _empty_rejects()
    return RawCatalog(_as_text(frame), rej)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as Python strings, empty and missing values as ``None``."""
    out = {}
    for col in frame.columns:
        series = frame[col]
        present = series.notna()
        if series.dtype != object:
            series = series.astype(str)
        elif not series[present].map(type).eq(str).all():
            series = series.map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else str(v))
        present &= series.astype(str).str.strip().ne("")
        out[str(col)] = series.astype(object).where(present, None)
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)
