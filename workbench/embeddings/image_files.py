"""Product photos from wherever a catalog keeps them, checked before anything decodes them.

An ``image`` value is a path (absolute, or relative to one of the base folders: an
``--images-dir``, then the catalog file's folder), an ``http(s)`` URL (fetched only when asked,
then kept in the workspace so it is fetched once), or the bytes of an upload. Every way a photo
can fail has its own reason (:data:`REASONS`); :class:`ImageProblem` carries it, and callers
count it and go on: a product whose photo fails simply has no image vector.

Checks, in order: the file exists and can be read, is not empty, is at most ``max_bytes``; the
header names a known image format (JPEG, PNG, WebP, GIF, BMP, TIFF); width x height is at most
``max_pixels`` (read from the header, before a single pixel is decoded: a 20,000 x 20,000
"pixel bomb" costs nothing); the pixels decode completely (truncated and corrupt files differ).
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import warnings
from pathlib import Path
from typing import Sequence

from workbench.errors import WorkbenchError

NO_IMAGE = "no image given"
MISSING = "missing file"
UNREADABLE = "unreadable file"
EMPTY = "empty file (0 bytes)"
TOO_LARGE = "file too large"
NOT_IMAGE = "not an image"
CORRUPT = "corrupt image data"
TRUNCATED = "truncated image"
TOO_MANY_PIXELS = "too many pixels (pixel bomb)"
URL_NOT_FETCHED = "URL not fetched (pass --fetch-images)"
FETCH_FAILED = "fetch failed"
REASONS = (NO_IMAGE, MISSING, UNREADABLE, EMPTY, TOO_LARGE, NOT_IMAGE, CORRUPT, TRUNCATED,
           TOO_MANY_PIXELS, URL_NOT_FETCHED, FETCH_FAILED)

MAX_BYTES = 20 * 2**20
MAX_PIXELS = 25_000_000  # a 6,000 x 4,000 camera photo is 24 MP
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
FETCH_TIMEOUT_S = 15
FETCHED_DIR = Path("images") / "fetched"


class ImageProblem(Exception):
    """Why one photo cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def is_url(value: str) -> bool:
    """Whether an image value is an http(s) URL."""
    return value[:8].lower().startswith(("http://", "https://"))


def resolve_image(value, base_dirs: Sequence[str | os.PathLike] = ()) -> bytes | str | Path | None:
    """Where a photo is: bytes as they are, a URL as text, a path as an absolute ``Path``
    (relative paths tried against each base folder in turn; the first that exists wins, else the
    first candidate), ``None`` for an empty value."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value) if len(value) else None
    text = str(value).strip()
    if not text:
        return None
    if is_url(text):
        return text
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    candidates = [Path(b) / path for b in base_dirs if b]
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    return (candidates[0] if candidates else path).absolute()


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageProblem(MISSING, str(path)) from None
    except OSError as exc:
        raise ImageProblem(UNREADABLE, f"{path}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise ImageProblem(UNREADABLE, f"{path} is a folder")
    if size == 0:
        raise ImageProblem(EMPTY, str(path))
    if size > max_bytes:
        raise ImageProblem(TOO_LARGE, f"{path} is {size / 2**20:.1f} MB, above {max_bytes / 2**20:.0f} MB")
    try:
        with open(path, "rb") as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        raise ImageProblem(UNREADABLE, f"{path}: {exc.strerror or exc}") from None


def _fetch(url: str, max_bytes: int, cache_dir: Path | None) -> bytes:
    cached = cache_dir / hashlib.sha1(url.encode()).hexdigest() if cache_dir is not None else None
    if cached is not None and cached.is_file():
        return _read_file(cached, max_bytes)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "workbench-image-fetch"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as resp:  # noqa: S310 (http/https only)
            data = resp.read(max_bytes + 1)
    except (OSError, ValueError) as exc:
        raise ImageProblem(FETCH_FAILED, f"{url}: {exc}") from None
    if len(data) > max_bytes:
        raise ImageProblem(TOO_LARGE, f"{url} is above {max_bytes / 2**20:.0f} MB")
    if not data:
        raise ImageProblem(EMPTY, url)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, cached)
    return data


def read_image_bytes(where: bytes | str | Path | None, *, fetch: bool = False,
                     fetch_cache: str | os.PathLike | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    """The raw bytes of a resolved photo (see :func:`resolve_image`), or :class:`ImageProblem`."""
    if where is None:
        raise ImageProblem(NO_IMAGE)
    if isinstance(where, bytes):
        if len(where) > max_bytes:
            raise ImageProblem(TOO_LARGE, f"{len(where) / 2**20:.1f} MB, above {max_bytes / 2**20:.0f} MB")
        return where
    if isinstance(where, str) and is_url(where):
        if not fetch:
            raise ImageProblem(URL_NOT_FETCHED, where)
        return _fetch(where, max_bytes, Path(fetch_cache) if fetch_cache else None)
    return _read_file(Path(where), max_bytes)


def image_hash(data: bytes) -> str:
    """The cache key of a photo: the sha1 of its bytes, hex."""
    return hashlib.sha1(data).hexdigest()


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS):
    """The photo as a fully decoded PIL image, or :class:`ImageProblem` naming why not."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageProblem(EMPTY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except UnidentifiedImageError:
            raise ImageProblem(NOT_IMAGE, "no known image format in the header") from None
        except Image.DecompressionBombError as exc:
            raise ImageProblem(TOO_MANY_PIXELS, str(exc)) from None
        except EOFError as exc:
            raise ImageProblem(TRUNCATED, str(exc) or "unexpected end of file") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageProblem(_damage(str(exc)), str(exc)) from None
        width, height = image.size
        if width * height > max_pixels:
            raise ImageProblem(TOO_MANY_PIXELS, f"{width:,} x {height:,} pixels, above {max_pixels:,}")
        if width == 0 or height == 0:
            raise ImageProblem(CORRUPT, "zero width or height")
        try:
            image.load()
        except EOFError as exc:
            raise ImageProblem(TRUNCATED, str(exc) or "unexpected end of file") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageProblem(_damage(str(exc)), str(exc)) from None
    return image


def _damage(message: str) -> str:
    """A decoder's error as a reason: the file ends too early, or its data is broken."""
    text = message.lower()
    return TRUNCATED if "truncated" in text or "end of file" in text else CORRUPT


def check_image_upload(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS):
    """A photo uploaded on a page: the decoded image, or :class:`WorkbenchError` with a
    message that names the problem and the fix."""
    try:
        read_image_bytes(data if data else None, max_bytes=max_bytes)
        return decode_image(data, max_pixels=max_pixels)
    except ImageProblem as problem:
        fix = {NO_IMAGE: "choose a photo file", TOO_LARGE: f"upload a photo under {max_bytes / 2**20:.0f} MB",
               TOO_MANY_PIXELS: f"upload a photo of at most {max_pixels / 1e6:.0f} megapixels",
               NOT_IMAGE: "upload a JPEG, PNG or WebP photo"}.get(problem.reason,
                                                                   "upload the photo again or another one")
        raise WorkbenchError(f"the photo cannot be used: {problem}; {fix}") from None
