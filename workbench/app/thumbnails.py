"""Product photos for the browser: small JPEG data URIs made on the server, from allowed folders only.

Every page that shows a product photo (map hover, drill-down tables, worst errors, review
page) goes through :func:`thumbnail_uri` / :func:`product_thumbnails`. The path stored in
``products.image`` comes from a catalog file, so it is not trusted:

* it must resolve (symbolic links followed) to a file inside an allowed image folder: the
  ``images*`` folders of the built-in catalogs in every data home, the workspace's own
  ``images/`` folder, and any folder listed in ``$WORKBENCH_IMAGE_DIRS`` (``os.pathsep``
  separated); anything else (``/etc/passwd``, ``../../secret.jpg``, a URL) gives no photo;
* it must have an image suffix, be at most :data:`MAX_FILE_BYTES`, and decode with Pillow to
  at most :data:`MAX_PIXELS` pixels (no decompression bombs);
* the browser never receives the file itself: the photo is decoded, shrunk and re-encoded as a
  JPEG, so whatever else the file held (scripts in an SVG, trailing data) is gone.

Thumbnails are cached per (file, modification time, size) in the process.
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from workbench.paths import data_home_candidates
from workbench.store import Workspace

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
ENV_IMAGE_DIRS = "WORKBENCH_IMAGE_DIRS"
#: thumbnail sizes (longest side, pixels)
SMALL, LARGE = 64, 224


def image_roots(ws: Workspace | None = None) -> tuple[Path, ...]:
    """The folders photos may be read from (resolved; only those that exist)."""
    candidates: list[Path] = []
    for home in data_home_candidates():
        if home.is_dir():
            candidates += [p for p in home.glob("*/images*") if p.is_dir()]
    if ws is not None:
        candidates.append(Path(ws.path) / "images")
    candidates += [Path(p).expanduser() for p in os.environ.get(ENV_IMAGE_DIRS, "").split(os.pathsep) if p]
    roots = []
    for folder in candidates:
        try:
            resolved = folder.resolve(strict=True)
        except OSError:
            continue
        if resolved.is_dir() and resolved not in roots:
            roots.append(resolved)
    return tuple(roots)


def allowed_image(path: str | os.PathLike | None, roots: Sequence[Path]) -> Path | None:
    """``path`` resolved, when it is an image file inside one of ``roots``; else ``None``."""
    if not path or not isinstance(path, (str, os.PathLike)):
        return None
    text = os.fspath(path)
    if "://" in text or text.startswith("data:"):
        return None
    try:
        resolved = Path(text).expanduser().resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if resolved.suffix.lower() not in IMAGE_SUFFIXES or not resolved.is_file():
        return None
    if not any(resolved.is_relative_to(root) for root in roots):
        return None
    return resolved


@lru_cache(maxsize=8192)
def _encode(path: str, mtime_ns: int, size: int, longest: int) -> str | None:
    from PIL import Image, UnidentifiedImageError

    if size > MAX_FILE_BYTES or size == 0:
        return None
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                return None
            img.draft("RGB", (longest, longest))  # JPEG: decode at a reduced scale
            img = img.convert("RGB")
            img.thumbnail((longest, longest))
            out = io.BytesIO()
            img.save(out, format="JPEG", quality=82)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def thumbnail_uri(path: str | os.PathLike | None, roots: Sequence[Path], longest: int = SMALL) -> str | None:
    """A ``data:image/jpeg;base64,...`` thumbnail of an allowed photo (``None`` when there is none)."""
    resolved = allowed_image(path, roots)
    if resolved is None:
        return None
    stat = resolved.stat()
    return _encode(str(resolved), stat.st_mtime_ns, stat.st_size, int(longest))


def product_images(ws: Workspace, product_ids: Iterable[str]) -> dict[str, str]:
    """``{product_id: image path}`` of the given products that have one."""
    ids = [str(p) for p in product_ids]
    if not ids:
        return {}
    frame = ws.df("SELECT product_id, image FROM products WHERE product_id IN (SELECT unnest(?)) "
                  "AND image IS NOT NULL", [ids])
    return dict(zip(frame["product_id"], frame["image"]))


def product_thumbnails(ws: Workspace, product_ids: Iterable[str], longest: int = SMALL,
                       images: dict[str, str] | None = None) -> dict[str, str]:
    """``{product_id: data URI}`` for the products with an allowed photo (``images``: their
    paths when already read)."""
    paths = product_images(ws, product_ids) if images is None else images
    roots = image_roots(ws)
    out = {}
    for pid, path in paths.items():
        uri = thumbnail_uri(path, roots, longest)
        if uri is not None:
            out[pid] = uri
    return out


def img_tag(uri: str | None, longest: int = SMALL, css_class: str = "wb-thumb") -> str:
    """An ``<img>`` element for a data URI made here (empty text without a photo)."""
    if not uri or not uri.startswith("data:image/jpeg;base64,"):
        return ""
    return (f'<img class="{css_class}" src="{uri}" alt="" '
            f'style="max-width:{longest}px;max-height:{longest}px;display:block">')
