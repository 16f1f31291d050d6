"""What a catalog file really is, from its bytes: compression, container format and text encoding.

The extension is a hint; the bytes decide. A gzip file named ``.csv`` is decompressed, a Parquet
file named ``.csv`` is read as Parquet, and a file that is something else altogether (a
directory, an empty file, an SQLite database, a PDF, an old ``.xls``) is refused with the real
cause. Text encodings are found from byte order marks, then strict UTF-8, then
``charset-normalizer`` (preferring cp1252 among equally plausible single-byte encodings).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import re
import shutil
import zipfile
from pathlib import Path

from workbench.errors import WorkbenchError

EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv", ".parquet": "parquet",
              ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
              ".xlsx": "xlsx", ".xlsm": "xlsx"}
COMPRESSED = {".gz": "gzip", ".gzip": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}
FORMATS = ("csv", "parquet", "jsonl", "json", "xlsx")

_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"),
          (b"PAR1", "parquet")]
_FOREIGN = [(b"\x28\xb5\x2f\xfd", "a zstd-compressed file; decompress it (zstd -d) and ingest the result"),
            (b"SQLite format 3\x00", "an SQLite database, not a catalog export; export a table as CSV"),
            (b"%PDF", "a PDF document, not a catalog export; export the catalog as CSV"),
            (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook; save it as .xlsx or CSV"),
            (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; extract it and ingest the catalog file inside"),
            (b"Rar!", "a RAR archive; extract it and ingest the catalog file inside")]
_BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]
# a valid multi-byte UTF-8 sequence; a file with more of these than bad bytes is UTF-8
_UTF8_MULTI = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
                         rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}"
                         rb"|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}")
_CHUNK = 1 << 24


def check_file(path: Path) -> None:
    """Fail with the real cause when ``path`` is not a readable, non-empty file."""
    if path.is_dir():
        raise WorkbenchError(f"{path} is a directory, not a catalog file; give the path of the file inside it")
    if not path.exists():
        raise WorkbenchError(f"catalog file {path} does not exist; check the path")
    if not path.is_file():
        raise WorkbenchError(f"{path} is not a regular file; give the path of a catalog file")
    if path.stat().st_size == 0:
        raise WorkbenchError(f"catalog file {path} is empty (0 bytes); export the catalog again")


def head(path: Path, n: int = 1 << 16) -> bytes:
    """The first ``n`` bytes of a file."""
    with open(path, "rb") as fh:
        return fh.read(n)


def compression_of(path: Path) -> str | None:
    """``gzip``, ``bz2``, ``xz`` or ``zip`` (a zip that is not an Excel workbook), else ``None``."""
    start = head(path, 8)
    for magic, kind in _MAGIC:
        if start.startswith(magic) and kind != "parquet":
            if kind == "zip" and _is_xlsx(path):
                return None
            return kind
    return None


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile:
        return False
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def decompress(path: Path, kind: str, folder: Path) -> Path:
    """Decompress ``path`` into ``folder``; the result keeps the inner file's name."""
    inner = path.name
    for suffix in COMPRESSED:
        if inner.lower().endswith(suffix):
            inner = inner[: -len(suffix)]
    target = folder / (inner or "catalog")
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
            if not members:
                raise WorkbenchError(f"{path.name} is a zip archive with no file inside; zip the catalog file")
            if len(members) > 1:
                catalogs = [m for m in members if Path(m.filename).suffix.lower() in EXTENSIONS]
                if len(catalogs) != 1:
                    raise WorkbenchError(
                        f"{path.name} is a zip archive holding {len(members)} files "
                        f"({', '.join(m.filename for m in members[:5])}); extract the catalog file and ingest it")
                members = catalogs
            target = folder / Path(members[0].filename).name
            with zf.open(members[0]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        return target
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
    try:
        with opener(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise WorkbenchError(f"{path.name} is {kind}-compressed but cannot be decompressed ({exc}); "
                             "the download may be cut short: fetch the file again") from exc
    return target


def content_format(path: Path, encoding: str) -> str | None:
    """The format the bytes show (``parquet``, ``xlsx``, ``json``, ``jsonl``, ``csv``), or ``None``
    for a text file of blank lines only. Refuses known non-catalog files with their real type."""
    start = head(path)
    for magic, what in _FOREIGN:
        if start.startswith(magic):
            raise WorkbenchError(f"{path.name} is {what}")
    if start.startswith(b"PAR1"):
        return "parquet"
    if start.startswith(b"PK\x03\x04"):
        if _is_xlsx(path):
            return "xlsx"
        raise WorkbenchError(f"{path.name} is a zip archive that is not an Excel workbook; extract it first")
    text = start.decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    if not text:
        if path.stat().st_size > len(start):
            text = _first_text(path, encoding)
        if not text:
            return None
    if text[0] == "[":
        return "json"
    if text[0] == "{":
        return "jsonl"
    return "csv"


def _first_text(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="ignore") as fh:
        for line in fh:
            if line.strip("\ufeff \t\r\n"):
                return line.lstrip("\ufeff \t\r\n")
    return ""


def detect_encoding(path: Path) -> str:
    """The text encoding of a file: from its BOM, else UTF-8 when the bytes are UTF-8 (a few
    broken lines allowed),
    else a UTF-16 file without BOM, else the best single-byte guess of ``charset-normalizer``."""
    start = head(path, 4)
    for bom, name in _BOMS:
        if start.startswith(bom):
            return name
    sample = head(path)
    if sample[:2000].count(b"\x00") > len(sample[:2000]) // 4:
        # ASCII text in UTF-16 without a BOM: every other byte is zero
        even_zero = sample[0:2000:2].count(b"\x00") > sample[1:2000:2].count(b"\x00")
        return "utf-16-be" if even_zero else "utf-16-le"
    bad, good = _utf8_errors(path)
    # single-byte text (cp1252 "é" = one byte >= 0x80) almost never forms a valid UTF-8 sequence:
    # a file with such sequences is UTF-8 with some broken lines (rejected as undecodable)
    if bad == 0 or good * 10 >= bad:
        return "utf-8"
    return _single_byte_guess(path)


def _utf8_errors(path: Path) -> tuple[int, int]:
    """(bytes that are not UTF-8, valid multi-byte UTF-8 sequences) over the whole file;
    ``(0, 0)`` at once when the file is valid UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
        return 0, 0
    except UnicodeDecodeError:
        pass
    bad = good = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            sequences = _UTF8_MULTI.findall(block)
            high = len(block) - len(block.translate(None, _HIGH))
            good += len(sequences)
            bad += high - sum(map(len, sequences))
    return max(bad, 0), good


_HIGH = bytes(range(0x80, 0x100))


def _single_byte_guess(path: Path) -> str:
    from charset_normalizer import from_bytes

    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    matches = list(from_bytes(sample))
    if not matches:
        return "cp1252"
    best = min(m.chaos for m in matches)
    # a match lists the other encodings that decode the sample to the same text
    plausible = [enc for m in matches if m.chaos <= best + 0.01 for enc in [m.encoding, *m.could_be_from_charset]]
    for preferred in ("cp1252", "latin_1", "iso8859_15"):
        if preferred in plausible:
            return "cp1252" if preferred == "latin_1" else preferred
    return plausible[0]


def transcode(path: Path, encoding: str, folder: Path) -> Path:
    """Re-encode a text file as UTF-8 (no BOM) into ``folder``; bytes that the encoding cannot
    decode fall back to Latin-1, so no byte and no row is lost."""
    target = folder / (path.stem + ".utf8" + path.suffix)
    codec = codecs.lookup(encoding)
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        decoder = codec.incrementaldecoder("latin-1-fallback" if codec.name.startswith("cp") else "strict")
        first = True
        for block in iter(lambda: src.read(_CHUNK), b""):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise WorkbenchError(f"{path.name} is not valid {encoding} ({exc.reason} at byte {exc.start}); "
                                     "pass the right --encoding") from exc
            if first:
                text, first = text.lstrip("\ufeff"), False
            dst.write(text)
        dst.write(decoder.decode(b"", final=True))
    return target


def _latin1_fallback(exc: UnicodeDecodeError):
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error("latin-1-fallback", _latin1_fallback)
