"""Where a catalog's photos are: for ``workbench inspect``, whether the image column's file names
are found next to the catalog file, or in one of its sub-folders (then ``--images-dir`` is
proposed), or nowhere on this machine (then it says so)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

#: names checked (the first non-empty ones that are neither URLs nor absolute paths)
CHECKED = 50
#: sub-folders of the catalog's folder looked into, at most
MAX_FOLDERS = 40
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{1,15}://")


def _relative_names(values: pd.Series) -> list[str]:
    names = []
    for value in values.dropna().astype(str).str.strip():
        if value and not _URL.match(value) and not Path(value).is_absolute() and ".." not in Path(value).parts:
            names.append(value)
            if len(names) == CHECKED:
                break
    return names


def _found(folder: Path, names: list[str]) -> int:
    return sum((folder / name).is_file() for name in names)


def photo_folder(catalog: str | Path, values: pd.Series, shown: str | Path | None = None) -> dict | None:
    """Where the relative names of ``values`` (an image column) are found: ``{"checked", "found",
    "folder" (None: next to the catalog), "images_dir" (the folder to give ``--images-dir``, as
    the user would type it from ``shown``, the catalog path as typed), "text"}``; ``None`` when the
    column holds no relative names (URLs or absolute paths)."""
    names = _relative_names(values)
    if not names:
        return None
    home = Path(catalog).resolve().parent
    here = _found(home, names)
    out = {"checked": len(names), "found": here, "folder": None, "images_dir": None}
    if here * 2 >= len(names):
        out["text"] = f"{here} of the first {len(names)} names found next to the catalog file"
        return out
    folders = sorted(p for p in home.iterdir() if p.is_dir() and not p.name.startswith("."))[:MAX_FOLDERS]
    found, best = max(((_found(p, names), p) for p in folders), key=lambda hit: hit[0], default=(0, None))
    if best is not None and found * 2 >= len(names) and found > here:
        typed = Path(shown).parent / best.name if shown is not None else best
        out.update(found=found, folder=str(best), images_dir=str(typed),
                   text=f"{found} of the first {len(names)} names found in {typed}/ (--images-dir {typed})")
        return out
    out["text"] = (f"only {here} of the first {len(names)} names found next to the catalog file and in none of "
                   "its folders: give the photos' folder with --images-dir DIR")
    return out
