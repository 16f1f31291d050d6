"""Limits on an uploaded table, checked before it is parsed, and parsing off the event loop.

A file's bytes are scanned once at C speed (line breaks, the header's fields) before any parser
sees them: a header with 100,000 columns, a 9 MB line or ten million cells is refused with one
line naming the limit and the fix. :func:`run_limited` runs the check and the parse in a worker
thread with a time limit, so that one session's upload never stalls another's page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from dataclasses import dataclass
from typing import Any, Callable

from workbench.errors import WorkbenchError

DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class UploadLimits:
    """What one uploaded table may hold, and how long reading and classifying it may take."""

    max_columns: int = 500
    max_line_bytes: int = 1024 * 1024
    max_cells: int = 5_000_000
    max_seconds: float = 60.0

    def __post_init__(self):
        if min(self.max_columns, self.max_line_bytes, self.max_cells) < 1 or not self.max_seconds > 0:
            raise WorkbenchError("upload limits must be positive (columns, line bytes, cells, seconds)")


def _header_fields(line: bytes) -> int:
    text = line.decode("utf-8", "replace").lstrip("\ufeff")
    best = 1
    for delim in DELIMITERS:
        if delim not in text:
            continue
        try:
            row = next(csv.reader(io.StringIO(text), delimiter=delim, quotechar='"'), [])
        except csv.Error:
            continue
        best = max(best, len(row))
    return best


def check_table_shape(name: str, raw: bytes, limits: UploadLimits) -> tuple[int, int]:
    """``(columns, lines)`` of a CSV's bytes, or :class:`WorkbenchError` naming the limit passed.

    Costs one C-speed pass over the bytes plus one parse of the header line (itself bounded by
    ``max_line_bytes``), whatever the file holds.
    """
    lines, start, longest, header = 0, 0, 0, None
    size = len(raw)
    while start < size:
        end = raw.find(b"\n", start)
        end = size if end < 0 else end
        length = end - start
        if length > limits.max_line_bytes:
            raise WorkbenchError(
                f"{name}: line {lines + 1} is {length:,} bytes, above the limit of {limits.max_line_bytes:,} bytes "
                "per line; check that the file is a CSV with one product per line")
        if header is None and raw[start:end].strip():
            header = raw[start:end]
        longest = max(longest, length)
        lines += 1
        start = end + 1
    columns = _header_fields(header) if header is not None else 0
    if columns > limits.max_columns:
        raise WorkbenchError(f"{name} has {columns:,} columns, above the limit of {limits.max_columns:,}; "
                             "keep the title, description and brand columns and the attributes you need")
    cells = columns * max(lines - 1, 0)
    if cells > limits.max_cells:
        raise WorkbenchError(f"{name} has about {cells:,} cells ({columns:,} columns x {lines - 1:,} lines), above "
                             f"the limit of {limits.max_cells:,}; drop columns or split the file")
    return columns, lines


def run_bounded(work: Callable[..., Any], *args, seconds: float, what: str = "the file", **kwargs) -> Any:
    """Run ``work(*args, **kwargs)`` in a worker thread and wait at most ``seconds`` for it (call
    this from a thread other than the event loop's); :class:`WorkbenchError` past the time."""
    box: dict[str, Any] = {}

    def run():
        try:
            box["value"] = work(*args, **kwargs)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name="workbench-limited", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise WorkbenchError(f"reading and classifying {what} took longer than the limit of {seconds:g} s; "
                             "split it into smaller files")
    if "error" in box:
        raise box["error"]
    return box["value"]


async def run_limited(work: Callable[..., Any], *args, seconds: float, what: str = "the file", **kwargs) -> Any:
    """Run ``work(*args, **kwargs)`` in a worker thread; :class:`WorkbenchError` after ``seconds``.

    The event loop keeps answering other sessions meanwhile. A worker past its time is left to
    finish in the background (its input is bounded by :func:`check_table_shape`), its answer dropped.
    """
    try:
        return await asyncio.wait_for(asyncio.to_thread(work, *args, **kwargs), timeout=seconds)
    except (asyncio.TimeoutError, TimeoutError):
        raise WorkbenchError(f"reading and classifying {what} took longer than the limit of {seconds:g} s; "
                             "split it into smaller files") from None
