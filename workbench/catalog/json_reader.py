"""JSON lines and JSON arrays of objects, record by record: a broken record is a reject with its
line, the records after it are still read. Input is UTF-8 (a BOM is skipped)."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.catalog.tolerant_csv import UNDECODABLE
from workbench.errors import WorkbenchError


def _columns(records: list[dict]) -> tuple[list[str], dict[str, list]]:
    names: dict[str, None] = {}
    for record in records:
        for key in record:
            names.setdefault(str(key), None)
    data = {n: [] for n in names}
    for record in records:
        values = {str(k): v for k, v in record.items()}
        for n in names:
            data[n].append(values.get(n))
    return list(names), data


def read_json_lines(path: Path, name: str, limit: int | None = None):
    """``(names, data, rejects)`` of a JSON-lines file; blank lines are skipped."""
    records, rejects = [], []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                rejects.append((number, UNDECODABLE, line.decode("utf-8", "replace").rstrip("\r\n")))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                rejects.append((number, f"malformed line: invalid JSON ({exc.msg})", text.rstrip("\r\n")))
                continue
            if not isinstance(value, dict):
                rejects.append((number, "malformed line: not a JSON object", text.rstrip("\r\n")))
                continue
            records.append(value)
            if limit is not None and len(records) >= limit:
                break
    names, data = _columns(records)
    return names, data, rejects


def read_json_array(path: Path, name: str, limit: int | None = None):
    """``(names, data, rejects)`` of a file holding one JSON array of objects (or an object whose
    only list value is that array). A record that is not an object is a reject (its line)."""
    text = path.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return _salvage(text, name, exc, limit)
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise WorkbenchError(f"{name} is one JSON object, not a list of products; export a JSON array "
                                 "of objects or JSON lines")
        value = lists[0]
    records, rejects = [], []
    for index, item in enumerate(value, 1):
        if isinstance(item, dict):
            records.append(item)
        else:
            rejects.append((index, "malformed record: not a JSON object", json.dumps(item)[:500]))
        if limit is not None and len(records) >= limit:
            break
    names, data = _columns(records)
    return names, data, rejects


def _salvage(text: str, name: str, error: json.JSONDecodeError, limit: int | None):
    """Read the records of a damaged JSON array one by one; a record that does not parse is a
    reject with its line, and reading resumes at the next line that starts an object."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    if start < 0:
        raise WorkbenchError(f"{name} is not valid JSON ({error.msg} at line {error.lineno}); fix or export it again")
    pos, records, rejects = start + 1, [], []
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, pos) + 1
            nxt = text.find("\n", max(exc.pos, pos + 1))
            while nxt >= 0 and not text[nxt:].lstrip(" \t\r\n,").startswith("{"):
                nxt = text.find("\n", nxt + 1)
            stop = n if nxt < 0 else nxt
            rejects.append((line, f"malformed line: invalid JSON ({exc.msg})", text[pos:stop].strip()[:500]))
            pos = stop
            continue
        if isinstance(item, dict):
            records.append(item)
        else:
            rejects.append((text.count("\n", 0, pos) + 1, "malformed record: not a JSON object", str(item)[:500]))
        pos = end
        if limit is not None and len(records) >= limit:
            break
    names, data = _columns(records)
    return names, data, rejects
