"""Built-in catalogs and the data-home search path.

A catalog file is looked for in ``$WORKBENCH_DATA_HOME``, then ``../shared/datasets`` beside
the project root, then the user cache directory. Only when it is in none of them is it
downloaded from its public address into the cache, and its sha256 checked. Offline and
missing, one error lists where it looked and how to provide the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.paths import data_home_candidates, user_cache_dir

_GH = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class CatalogFile:
    """One file of a built-in catalog: where it sits in a data home and how to fetch it."""

    relpath: str
    sha256: str
    urls: tuple[str, ...]
    build: Callable[[list[bytes]], bytes] | None = field(default=None, compare=False)


def _join_fashion(parts: list[bytes]) -> bytes:
    """``styles.csv`` upstream lacks the display name, stored row-aligned in ``styles_text.csv``."""
    styles = pd.read_csv(io.BytesIO(parts[0]), dtype=str, keep_default_na=False, on_bad_lines="skip")
    text = pd.read_csv(io.BytesIO(parts[1]), dtype=str, keep_default_na=False)
    styles["productDisplayName"] = text.iloc[:, -1].to_numpy()[: len(styles)]
    return styles.to_csv(index=False).encode()


FILES: dict[str, CatalogFile] = {
    "fashion/styles.csv": CatalogFile(
        "fashion/styles.csv",
        "6a0eede306a4c6a7606b2282d97b576c4fac0d576703960709406c8ef6d81a0e",
        (f"{_GH}/animmala3942/FashionProductRecommendationSystem/"
         "91e8036739fe4f903aaa4a95009a13d4bc7cb542/styles.csv",
         f"{_GH}/animmala3942/FashionProductRecommendationSystem/"
         "91e8036739fe4f903aaa4a95009a13d4bc7cb542/styles_text.csv"),
        _join_fashion,
    ),
    "flipkart/flipkart_1050.csv": CatalogFile(
        "flipkart/flipkart_1050.csv",
        "7c15bcff313c827d403fedebb19a10569527c0aef6fdd6a4d1e41e37c380c20f",
        (f"{_GH}/charlottemllt/Classification-automatique-des-biens-de-consommation/"
         "9303da69c02bfef4f52dd1e54f23a508e6ad98ca/flipkart_com-ecommerce_sample_1050.csv",),
    ),
    "tokopedia/tokopedia_16k.csv": CatalogFile(
        "tokopedia/tokopedia_16k.csv",
        "606ef582fbe3efab0b58846b3bc09e98d47bcf8d4180acad59941de4fe94170d",
        (f"{_GH}/bintangfjulio/electronic_category_flatclassification/"
         "cf0a35f6b3083f84e5a7e1338d884528702f7b61/datasets/small_product_tokopedia.csv",),
    ),
    # flipkart_20k.csv is a join of three upstream samples (see ../shared/datasets/README.md);
    # it has no single public address, so it is found in a data home or not at all.
    "flipkart/flipkart_20k.csv": CatalogFile(
        "flipkart/flipkart_20k.csv",
        "7ce3f823b6d338dfc46021f33a5752456854bb7bfe110c9111bc2d2548d99be1",
        (),
    ),
}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(relpath: str, download: bool = True, homes: list[Path] | None = None) -> Path:
    """The local path of a catalog file, downloading it into the cache if it is nowhere.

    ``relpath`` is relative to a data home, e.g. ``"fashion/styles.csv"``.
    """
    homes = data_home_candidates() if homes is None else homes
    for home in homes:
        candidate = home / relpath
        if candidate.is_file():
            return candidate
    spec = FILES.get(relpath)
    where = ", ".join(str(h) for h in homes)
    how = (f"put the file at <data home>/{relpath} (for example set WORKBENCH_DATA_HOME to a folder "
           f"holding {relpath})")
    if spec is None or not spec.urls or not download:
        raise WorkbenchError(f"{relpath} not found in {where}; {how}")
    try:
        return _download(spec, user_cache_dir())
    except OSError as exc:
        raise WorkbenchError(f"{relpath} not found in {where} and the download failed ({exc}); {how}") from exc


def _download(spec: CatalogFile, cache: Path) -> Path:
    parts = []
    for url in spec.urls:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (fixed https/file URLs)
            parts.append(resp.read())
    data = spec.build(parts) if spec.build else parts[0]
    got = hashlib.sha256(data).hexdigest()
    if got != spec.sha256:
        raise WorkbenchError(
            f"downloaded {spec.relpath} has sha256 {got}, expected {spec.sha256}; the upstream file "
            "changed: fetch the file named in shared/datasets/README.md by hand")
    target = cache / spec.relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, target)
    return target


#: The photo folder of a built-in catalog, where it is not ``images``: fashion has a 60 x 80 photo
#: for 44,072 of its products in ``images_small`` (``images`` holds 1,217 larger ones).
IMAGE_FOLDERS = {"fashion": "images_small"}


def image_dir(dataset: str) -> Path | None:
    """The folder of product photos of a built-in catalog, when present in a data home."""
    for home in data_home_candidates():
        folder = home / dataset / IMAGE_FOLDERS.get(dataset, "images")
        if folder.is_dir():
            return folder
    return None
