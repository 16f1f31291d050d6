"""Reading any common catalog file into string columns, keeping every row the reader could not
parse (bad bytes, wrong field count, broken JSON) as a reject with its line.

Formats: CSV (``,`` ``;`` tab ``|``; DuckDB's fast reader, falling back to the tolerant reader of
:mod:`workbench.catalog.tolerant_csv` when DuckDB's sniffer gives up), JSON lines, a JSON array of
objects, Parquet and Excel ``.xlsx``; gzip, bz2, xz or zip compressed; any text encoding (see
:mod:`workbench.catalog.sniff`), BOMs skipped. The bytes decide the format, not the extension.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from workbench.catalog import sniff
from workbench.catalog.json_reader import read_json_array, read_json_lines
from workbench.catalog.tolerant_csv import DELIMITERS, UNDECODABLE, header_width, read_tolerant
from workbench.errors import WorkbenchError

FORMATS = sniff.EXTENSIONS
#: above this many columns the tolerant reader is used (DuckDB's sniffer costs ~1 ms a column)
WIDE = 500


@dataclass
class ReadInfo:
    """How a file was read: format, encoding, compression, CSV delimiter, which reader."""

    format: str
    encoding: str | None = None
    compression: str | None = None
    delimiter: str | None = None
    reader: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class RawCatalog:
    """Parsed rows as strings (``None`` for empty), and the rows that failed to parse.

    ``columns`` lists every column of the file; ``frame`` holds all of them, or only those asked
    for, in which case ``extra`` holds, per row, a JSON object of the others.
    """

    frame: pd.DataFrame
    rejects: pd.DataFrame  # row_number, reason, raw
    columns: list[str] = field(default_factory=list)
    extra: list | None = None
    info: ReadInfo | None = None


#: names a delimiter may be given by (``--delimiter tab``: a literal tab does not survive copy and paste)
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


def delimiter_option(delimiter: str | None) -> str | None:
    """The one-character delimiter a ``--delimiter`` value stands for (``tab``, ``\\t``, ``;``);
    a one-line error for anything longer."""
    if delimiter is None or delimiter == "":
        return None
    named = DELIMITER_NAMES.get(delimiter.strip().lower()) if delimiter.strip() else None
    if named:
        return named
    if len(delimiter) != 1:
        raise WorkbenchError(f"--delimiter {delimiter!r} is not one character; give the character (';', '|') "
                             "or tab")
    return delimiter


def read_catalog(path: str | Path, fmt: str | None = None, delimiter: str | None = None, *,
                 encoding: str | None = None, columns: list[str] | None = None,
                 limit: int | None = None) -> RawCatalog:
    """Read a catalog file; every column as text.

    ``fmt`` (``csv``, ``jsonl``, ``json``, ``parquet``, ``xlsx``), ``delimiter`` and ``encoding``
    override detection. ``columns`` keeps only those columns in ``frame`` (the rest go to
    ``extra``), so a file with 100,000 columns costs what its cells cost. ``limit`` reads the first
    rows only.
    """
    path = Path(path)
    sniff.check_file(path)
    if fmt and fmt not in sniff.FORMATS:
        raise WorkbenchError(f"unknown format {fmt!r}; use {', '.join(sniff.FORMATS)}")
    delimiter = delimiter_option(delimiter)
    if encoding:
        try:
            encoding = __import__("codecs").lookup(encoding).name
        except LookupError:
            raise WorkbenchError(f"unknown encoding {encoding!r}; use e.g. utf-8, cp1252, latin-1, utf-16") from None
    with tempfile.TemporaryDirectory(prefix="workbench-read-") as tmp:
        folder = Path(tmp)
        info = ReadInfo(format="")
        info.compression = sniff.compression_of(path)
        source = sniff.decompress(path, info.compression, folder) if info.compression else path
        if info.compression and source.stat().st_size == 0:
            raise WorkbenchError(f"{path.name} is {info.compression}-compressed and holds an empty file; "
                                 "export the catalog again")
        kind = _format(source, fmt, encoding, info, path.name)
        info.format = kind
        if kind == "parquet":
            raw = _read_parquet(source, path.name)
        elif kind == "xlsx":
            from workbench.catalog.excel_reader import other_sheets_note, read_xlsx, sheet_rows

            sizes = sheet_rows(source)
            largest = max(sizes, key=lambda s: s[1])[0] if sizes and max(n for _, n in sizes) >= 2 else None
            raw = _finish(*read_xlsx(source, path.name, limit, largest))
            note = other_sheets_note(path.name, sizes, largest) if largest else None
            info.notes += [note] if note else []
        else:
            text = source
            if info.encoding not in ("utf-8", "utf-8-sig"):
                text = sniff.transcode(source, info.encoding, folder)
            if kind == "csv":
                raw = _read_csv(text, delimiter, columns, limit, info, path.name)
            elif kind == "json":
                raw = _finish(*read_json_array(text, path.name, limit))
            else:
                raw = _finish(*read_json_lines(text, path.name, limit))
        if kind == "parquet" and limit is not None:
            raw.frame = raw.frame.head(limit)
        if columns is not None and raw.extra is None:
            raw = _split_columns(raw, columns)
    raw.info = info
    return raw


def _format(source: Path, fmt: str | None, encoding: str | None, info: ReadInfo, name: str) -> str:
    """The format of the (decompressed) file, its text encoding into ``info``."""
    binary = sniff.content_format(source, "latin-1")
    if binary in ("parquet", "xlsx"):
        if fmt and fmt != binary:
            raise WorkbenchError(f"--format {fmt} given, but {name} is a{'n Excel' if binary == 'xlsx' else ' Parquet'} "
                                 f"file; drop --format or pass --format {binary}")
        return binary
    if fmt in ("parquet", "xlsx"):
        what = f"{info.compression}-compressed text" if info.compression else "a text file"
        raise WorkbenchError(f"--format {fmt} given, but {name} is {what}, not {fmt}; drop --format")
    info.encoding = encoding or sniff.detect_encoding(source)
    kind = sniff.content_format(source, info.encoding)
    if kind is None:
        raise WorkbenchError(f"{name} holds only blank lines; export the catalog again")
    suffix = FORMATS.get(Path(name).suffix.lower())
    if suffix in ("parquet", "xlsx") and not fmt:
        info.notes.append(f"{name} is {kind.upper()} text, not {suffix}; read as {kind}")
    if fmt:
        kind = "json" if fmt in ("json", "jsonl") and kind == "json" else fmt
    return kind


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({"row_number": pd.Series(dtype="int64"), "reason": pd.Series(dtype=object),
                         "raw": pd.Series(dtype=object)})


def _rejects(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["row_number", "reason", "raw"]).astype({"row_number": "int64"}) \
        if rows else _empty_rejects()


def _finish(names: list[str], data: dict[str, list], rejects: list) -> RawCatalog:
    frame = _as_text(pd.DataFrame({n: pd.Series(data[n], dtype=object) for n in names}, columns=names))
    return RawCatalog(frame, _rejects(rejects), list(names))


def _read_csv(path: Path, delimiter: str | None, columns: list[str] | None, limit: int | None,
              info: ReadInfo, name: str) -> RawCatalog:
    width, sniffed = header_width(path, delimiter)
    if width > WIDE:
        return _tolerant(path, delimiter or sniffed, columns, limit, info)
    con = duckdb.connect()
    try:
        # quoting as RFC 4180 writes it: left to the sniffer, one stray quote on a line made it choose
        # no quoting, and every quoted field of the file kept its quotes ('"Tee ""Classic"" Cotton"')
        # (a file that escapes quotes with a backslash, as MySQL and PHP exports do, keeps its own)
        escape = _escape_char(path)
        options = "all_varchar = true, store_rejects = true, header = true, quote = '\"', escape = ?"
        # with the quote fixed, DuckDB's sniffer can miss the delimiter: the records' own choice is given
        options += ", delim = ?"
        params: list = [str(path), escape, delimiter or sniffed]
        sql = f"SELECT * FROM read_csv(?, {options})" + (" LIMIT ?" if limit is not None else "")
        try:
            frame = con.execute(sql, params + ([limit] if limit is not None else [])).df()
        except duckdb.Error as exc:
            reason = str(exc).splitlines()[0].replace(str(path), name)
            info.notes.append(f"DuckDB's CSV reader gave up ({reason}); read with the tolerant reader")
            return _tolerant(path, delimiter, columns, limit, info)
        bad = con.execute(
            "SELECT line, first(error_type ORDER BY error_type) AS error_type, first(csv_line) AS csv_line "
            "FROM reject_errors GROUP BY line ORDER BY line").df()
        info.delimiter = delimiter or _delimiter_for(path, len(frame.columns), sniffed)
    finally:
        con.close()
    info.reader = "duckdb"
    reasons = {"INVALID ENCODING": UNDECODABLE, "INVALID UNICODE": UNDECODABLE}
    rejects = pd.DataFrame({
        "row_number": bad["line"].astype("int64"),
        "reason": [reasons.get(t, f"malformed line: {t.lower()}") for t in bad["error_type"]],
        "raw": bad["csv_line"].astype(str).str.strip("\r\n"),
    }) if len(bad) else _empty_rejects()
    frame.columns = [str(c) for c in frame.columns]
    return RawCatalog(_as_text(frame), rejects, list(frame.columns))


def _escape_char(path: Path, head: int = 1 << 20) -> str:
    """The character that escapes a quote inside a quoted field: a backslash when the file's first
    megabyte writes quotes as ``\\"`` more often than RFC 4180's ``""``, else the quote itself."""
    with open(path, "rb") as fh:
        sample = fh.read(head)
    backslashed = sample.count(b'\\"')
    return "\\" if backslashed and backslashed >= sample.count(b'""') else '"'


def _delimiter_for(path: Path, width: int, sniffed: str) -> str:
    """The delimiter that splits the header into the ``width`` columns DuckDB found."""
    for candidate in dict.fromkeys((sniffed,) + DELIMITERS):
        if header_width(path, candidate)[0] == width:
            return candidate
    return sniffed


def _tolerant(path: Path, delimiter: str | None, columns: list[str] | None, limit: int | None,
              info: ReadInfo) -> RawCatalog:
    names, data, extra, rejects, used = read_tolerant(path, delimiter, columns, limit)
    info.delimiter, info.reader = used, "tolerant"
    kept = [n for n in names if n in data]
    frame = _as_text(pd.DataFrame({n: pd.Series(data[n], dtype=object) for n in kept}, columns=kept))
    return RawCatalog(frame, _rejects(rejects), names, extra)


def _split_columns(raw: RawCatalog, columns: list[str]) -> RawCatalog:
    """Keep ``columns`` in the frame and put the others, per row, into ``extra`` (JSON)."""
    wanted = set(columns)  # a list here made a wide file quadratic
    keep = [c for c in raw.frame.columns if c in wanted]
    others = [c for c in raw.frame.columns if c not in wanted]
    extra = [None] * len(raw.frame)
    if others and len(raw.frame):
        # JSON escapes "\n" inside strings, so only "\n" ends a record: ``splitlines`` would also
        # split at U+2028, U+0085 or a form feed inside a seller's description
        lines = raw.frame[others].to_json(orient="records", lines=True, force_ascii=False).split("\n")
        extra = lines[:len(raw.frame)]
    return RawCatalog(raw.frame[keep], raw.rejects, raw.columns, extra, raw.info)


def _read_parquet(path: Path, name: str) -> RawCatalog:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise WorkbenchError(f"cannot read {name} as Parquet ({exc}); the file is damaged: export it again") from exc
    data = {str(c): pd.Series(table.column(c).to_pylist(), dtype=object) for c in table.column_names}
    frame = pd.DataFrame(data, columns=list(data))
    return RawCatalog(_as_text(frame), _empty_rejects(), list(data))


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as Python strings, empty and missing values as ``None``."""
    out = {}
    for col in frame.columns:
        series = frame[col]
        present = series.notna()
        if series.dtype != object:
            series = series.astype(str)
        elif not series[present].map(type).eq(str).all():
            series = series.map(_to_text)
        present &= series.astype(str).str.strip().ne("")
        out[str(col)] = series.astype(object).where(present, None)
    return pd.DataFrame(out, index=frame.index, columns=list(out)).reset_index(drop=True)


def _to_text(value) -> str | None:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return _to_text(value.item())
    return None if value is None else str(value)
