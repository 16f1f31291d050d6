"""Checking and reading an uploaded CSV of products for the classify page (no Panel here).

Every problem raises :class:`WorkbenchError` with a message for the page: too large, not a CSV,
not UTF-8, no title column, too many rows. Parsing reuses :func:`workbench.catalog.reader.read_catalog`
and cleaning :func:`workbench.catalog.text.clean_series`, as ingest does.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.catalog.reader import read_catalog
from workbench.catalog.text import clean_series
from workbench.security.upload_limits import UploadLimits, check_table_shape

TITLE_COLUMNS = ("title", "product_name", "productdisplayname", "name")
TEXT_COLUMNS = {"description": ("description", "product_description"), "brand": ("brand",)}
CSV_SUFFIXES = (".csv", ".txt")


@dataclass
class Upload:
    """The uploaded rows as read (``original``), the products to classify, and skipped lines."""

    original: pd.DataFrame
    products: pd.DataFrame
    skipped: int


def _find(columns, names) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def read_upload(filename: str, content: bytes | str, *, limit_bytes: int, max_rows: int,
                limits: UploadLimits | None = None) -> Upload:
    """Check an uploaded file and read its products (``title, description, brand``, cleaned).

    The shape (columns, line length, cells: ``limits``) is checked on the bytes before parsing.
    """
    name = str(filename or "")
    raw = content.encode("utf-8") if isinstance(content, str) else bytes(content or b"")
    if len(raw) > limit_bytes:
        raise WorkbenchError(f"{name} is {len(raw) / 1024 / 1024:.1f} MB, above the upload limit of "
                             f"{limit_bytes / 1024 / 1024:.1f} MB; split the file or ask for a larger "
                             "--upload-limit-mb")
    if not name.lower().endswith(CSV_SUFFIXES):
        raise WorkbenchError(f"{name or 'the file'} is not a CSV file; upload a .csv with a title column")
    if not raw.strip():
        raise WorkbenchError(f"{name} is empty; upload a CSV with a header row and a title column")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkbenchError(f"{name} is not valid UTF-8 text (byte {exc.start}); save it as UTF-8 CSV "
                             "and upload it again") from None
    if b"\x00" in raw:
        raise WorkbenchError(f"{name} contains binary data, not CSV text; upload a CSV file")
    check_table_shape(name, raw, limits or UploadLimits())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_bytes(raw)
        catalog = read_catalog(path, fmt="csv")
    frame = catalog.frame
    title_col = _find(frame.columns, TITLE_COLUMNS)
    if title_col is None:
        shown = ", ".join(map(str, list(frame.columns)[:8])) or "none"
        raise WorkbenchError(f"{name} has no title column (found: {shown}); name one column 'title' "
                             "(or product_name / productDisplayName)")
    if len(frame) == 0:
        raise WorkbenchError(f"{name} has a header but no product rows")
    if len(frame) > max_rows:
        raise WorkbenchError(f"{name} has {len(frame):,} rows, above the limit of {max_rows:,}; "
                             "split it into smaller files")
    products = pd.DataFrame({"title": clean_series(frame[title_col]).to_numpy()})
    for field, names in TEXT_COLUMNS.items():
        col = _find(frame.columns, names)
        products[field] = clean_series(frame[col]).to_numpy() if col is not None else ""
    # other columns (a catalog attribute such as ``usage``) reach models that were trained on them
    for col in frame.columns:
        if str(col) not in products:
            products[str(col)] = frame[col].fillna("").astype(str).to_numpy()
    return Upload(frame, products, len(catalog.rejects))
