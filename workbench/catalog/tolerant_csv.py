"""The tolerant CSV reader (Python's ``csv`` module): the fallback when DuckDB's sniffer gives up
(mixed line endings, odd quoting) and the reader of very wide files, whose cost is one pass over
the cells whatever the number of columns.

It keeps DuckDB's reject accounting: a record with too many or missing fields, undecodable
bytes or a broken quote is a reject with its line, counted as DuckDB counts lines (the header
is line 1, a blank line counts, a quoted line break does not).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter, deque
from pathlib import Path

from workbench.errors import WorkbenchError

DELIMITERS = (",", ";", "\t", "|")
UNDECODABLE = "undecodable bytes (not valid UTF-8; pass --encoding if the file uses another encoding)"

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


_LINE_BREAK = re.compile(r"\r?\n|\r")


def _swallowed_rows(record: list[str], delimiter: str, width: int) -> int:
    """How many lines inside the fields of ``record`` look like whole rows of the file (a
    delimiter per column, at least two): what an unclosed quote makes of the lines after it."""
    need = max(width - 1, 2)
    return sum(line.count(delimiter) >= need
               for value in record if "\n" in value or "\r" in value for line in _LINE_BREAK.split(value)[1:])


class _Lines:
    """The file's lines for :mod:`csv`, remembering the lines of the current record (``taken``) and
    able to hand lines back to be read again (after a quote that was never closed)."""

    def __init__(self, fh) -> None:
        self.fh, self.back, self.taken = fh, deque(), []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        text = self.back.popleft() if self.back else next(self.fh)
        self.taken.append(text)
        return text

    def push_back(self, texts: list[str]) -> None:
        """Read ``texts`` again, before the rest of the file."""
        self.back.extendleft(reversed(texts))


def _records(text_lines, delimiter: str):
    return csv.reader(text_lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)


def sniff_delimiter(sample: str) -> str:
    """The delimiter among ``, ; tab |`` that splits the first records into the most consistent
    number of fields (more than one); ``,`` when none does."""
    lines = sample.splitlines(keepends=True)[:-1] or sample.splitlines(keepends=True)
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(r) for r in _records(lines[:200], delim) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        width, n = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = (n / len(counts), width if counts[0] == width else 0)
        if score > best_score:
            best, best_score = delim, score
    return best


def header_width(path: Path, delimiter: str | None) -> tuple[int, str]:
    """Number of fields in the header and the delimiter (given or sniffed)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(1 << 16)
    delimiter = delimiter or sniff_delimiter(sample)
    for record in _records(sample.splitlines(keepends=True)[:50], delimiter):
        if record:
            return len(record), delimiter
    return 0, delimiter


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique (``name``, ``name_1``, ...); an empty one becomes ``columnNN``."""
    seen: Counter = Counter()
    out = []
    for i, name in enumerate(names):
        name = name.strip() or f"column{i:02d}"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name] - 1}")
    return out


def _blank(value: str) -> str | None:
    return value if value.strip() else None


def read_tolerant(path: Path, delimiter: str | None = None, columns: list[str] | None = None,
                  limit: int | None = None):
    """Read a UTF-8 CSV record by record.

    Returns ``(names, data, extra, rejects, delimiter)``: every column name, ``{column: values}``
    for the kept columns (all, or those of ``columns`` present), one JSON object per row of the
    other columns (``None`` when all are kept), and ``[(line, reason, raw)]``.
    """
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        sample = fh.read(1 << 16)
        fh.seek(0)
        delimiter = delimiter or sniff_delimiter(sample)
        lines = _Lines(fh)
        reader = _records(lines, delimiter)
        line = 0
        names: list[str] | None = None
        rejects: list[tuple[int, str, str]] = []
        rows: list[list[str]] = []
        while True:
            lines.taken = []
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line += 1
                rejects.append((line, f"malformed line: {exc}", ""))
                continue
            line += 1
            spanned = len(lines.taken)
            if names is None:
                if record and any(v.strip() for v in record):
                    names = unique_names([v.lstrip("\ufeff") for v in record])
                continue
            if not record:
                continue  # a blank line: counted as a line, not a row
            raw = delimiter.join(record)
            if any("\udc80" <= ch <= "\udcff" for ch in raw):
                rejects.append((line, UNDECODABLE, raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")))
                continue
            swallowed = _swallowed_rows(record, delimiter, len(names)) if spanned > 1 else 0
            if swallowed and (len(record) != len(names) or swallowed >= 2):
                # a quote opened on this line and closed lines later (or never): this line alone is
                # rejected, the lines after it are read again as the rows they are
                lines.push_back(lines.taken[1:])
                first = lines.taken[0].rstrip("\r\n")
                rejects.append((line, "malformed line: a quote opened on this line is not closed on it (close or "
                                      "remove that quote; the lines after it were read as rows of their own)", first))
                continue
            if len(record) != len(names):
                kind = "too many columns" if len(record) > len(names) else "missing columns"
                rejects.append((line, f"malformed line: {kind}", raw))
                continue
            rows.append(record)
            if limit is not None and len(rows) >= limit:
                break
    if names is None:
        raise WorkbenchError(f"{path.name} has no header row (only blank lines); export the catalog with its header")
    wanted = None if columns is None else set(columns)
    keep = [i for i, n in enumerate(names) if wanted is None or n in wanted]
    kept = set(keep)  # built once: a set per column made a wide header quadratic (issue 28)
    rest = [i for i in range(len(names)) if i not in kept]
    data = {names[i]: [_blank(r[i]) for r in rows] for i in keep}
    extra = None
    if columns is not None:
        rest_names = [names[i] for i in rest]
        extra = [json.dumps(dict(zip(rest_names, (_blank(r[i]) for i in rest))), ensure_ascii=False)
                 if rest else None for r in rows]
    return names, data, extra, rejects, delimiter
