"""Row checks of an ingest: which rows become products, which are rejected and why, and which
optional fields could not be used (warnings).

Only a missing id (when an id column is mapped), an empty title, a missing category (for a
labelled catalog) or a repeated id reject a row. A price, brand, description or image that
cannot be used becomes empty and is counted as a warning with its reason; the product stays.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.catalog.catalog_taxonomy import cut_depth, parse_paths, strip_name_nodes, unify_spellings
from workbench.catalog.mapping import ColumnMapping
from workbench.catalog.prices import parse_prices
from workbench.catalog.taxonomy import SEP
from workbench.catalog.text import clean_series, normalise_series
from workbench.errors import WorkbenchError
from workbench.store import Workspace

MISSING_CATEGORY = "missing category (empty, or only the product's own name)"
DUPLICATE_POLICIES = ("reject", "first", "last")


@dataclass
class Checked:
    """The accepted products, the rejected rows and the warnings of one file."""

    products: pd.DataFrame
    rejects: pd.DataFrame
    warnings: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def validate(ws: Workspace, frame: pd.DataFrame, extra: pd.Series | None, mapping: ColumnMapping,
             options, source: str) -> Checked:
    """Split rows into products, rejects (first failing check wins) and warnings."""
    n = len(frame)
    col = mapping.columns()
    empty = pd.Series([None] * n, index=frame.index, dtype=object)
    get = lambda f: frame[col[f]] if f in col else empty  # noqa: E731
    row_number = pd.Series(np.arange(1, n + 1), index=frame.index)
    ids = get("id") if "id" in col else row_number.map(lambda i: f"{source}:{i}")
    ids = ids.map(lambda v: None if v is None or not str(v).strip() else str(v).strip())
    title_raw = get("title")
    notes: list[str] = []
    paths = _category_paths(frame, mapping, title_raw, options, notes) if options.labelled else empty

    reason = pd.Series([None] * n, index=frame.index, dtype=object)

    def flag(mask, text):
        reason[mask & reason.isna()] = text

    flag(ids.isna(), "empty id")
    flag(title_raw.isna(), "empty title")
    if options.labelled:
        flag(paths.isna(), MISSING_CATEGORY)
    title_clean = clean_series(title_raw.where(reason.isna(), None))
    flag(title_raw.notna() & title_clean.str.len().eq(0), "empty title after cleaning")
    # an id is a duplicate among the rows that pass every other check
    warnings = []
    candidates = reason.isna()
    policy = getattr(options, "on_duplicate", "reject")
    if policy not in DUPLICATE_POLICIES:
        raise WorkbenchError(f"--on-duplicate {policy!r}: use reject, first or last")
    keep = "last" if policy == "last" else "first"
    repeated = ids.where(candidates).duplicated(keep=keep) & candidates
    if policy == "reject":
        flag(repeated, "duplicate id in file")
    elif repeated.any():
        warnings.append(_merged_duplicates(frame, extra, ids, row_number, repeated, candidates, keep, source))
        reason[repeated] = "merged"
    known = ws.df("SELECT product_id FROM products WHERE product_id IN (SELECT unnest(?))",
                  [ids[reason.isna()].dropna().unique().tolist()])["product_id"]
    flag(ids.isin(set(known)), "duplicate id: already in the workspace")
    bad = reason.notna() & reason.ne("merged")
    rejects = pd.DataFrame({
        "source": source, "row_number": row_number[bad].astype("int64"), "product_id": ids[bad],
        "reason": reason[bad], "raw": full_rows(frame[bad], None if extra is None else extra[bad]),
    })
    ok = reason.isna()
    prices = parse_prices(get("price")[ok])
    brand_raw, desc_raw = get("brand")[ok], get("description")[ok]
    brand = clean_series(brand_raw) if "brand" in col else brand_raw.fillna("")
    desc = clean_series(desc_raw) if "description" in col else desc_raw.fillna("")
    found = pd.DataFrame({"product_id": ids[ok], "row_number": row_number[ok]})
    checked_images = [usable_image(v) for v in get("image")[ok]] if "image" in col else []
    images = pd.Series([i for i, _ in checked_images] if "image" in col else [None] * int(ok.sum()),
                       index=found.index, dtype=object)
    warnings += [_warnings(found, prices["warning"], "price", source)]
    if "image" in col:
        warnings += [_warnings(found, pd.Series([w for _, w in checked_images], index=found.index, dtype=object),
                               "image", source)]
    warnings += [_warnings(found, _emptied(raw, clean, field), field, source)
                 for field, raw, clean in (("brand", brand_raw, brand), ("description", desc_raw, desc)) if field in col]
    products = pd.DataFrame({
        "product_id": ids[ok],
        "title": title_clean[ok],
        "title_raw": title_raw[ok],
        "description": desc.where(desc_raw.notna() & desc.str.len().gt(0), None),
        "description_raw": desc_raw,
        "brand": brand.where(brand_raw.notna() & brand.str.len().gt(0), None),
        "price": prices["price"],
        "price_currency": prices["price_currency"],
        "category_raw": _category_raw(frame[ok], mapping),
        "category_path": paths[ok],
        "title_key": normalise_series(title_clean[ok], cleaned=True),
        "leaf": None,
        "department": _department(frame[ok], options, paths[ok]),
        "image": _images(images, ids[ok], options),
        "extra": None if extra is None else extra[ok],
        "label_source": "catalog" if options.labelled else None,
    })
    warnings = pd.concat([w for w in warnings if len(w)] or [_no_warnings()], ignore_index=True)
    return Checked(products.reset_index(drop=True), rejects.reset_index(drop=True), warnings, notes)


def _no_warnings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
        ("source", object), ("row_number", "int64"), ("product_id", object), ("field", object),
        ("kind", object), ("reason", object), ("raw", object))})


def _warnings(found: pd.DataFrame, reasons: pd.Series, field: str, source: str) -> pd.DataFrame:
    has = reasons.notna().to_numpy()
    if not has.any():
        return _no_warnings()
    text = reasons[has].astype(str)
    return pd.DataFrame({"source": source, "row_number": found["row_number"][has].astype("int64").to_numpy(),
                         "product_id": found["product_id"][has].to_numpy(), "field": field,
                         "kind": text.str.partition(":")[0].to_numpy(), "reason": text.to_numpy(), "raw": None})


def _emptied(raw: pd.Series, clean: pd.Series, field: str) -> pd.Series:
    """A warning for each value that cleaning left empty (only markup, emoji or symbols)."""
    lost = raw.notna() & clean.str.len().eq(0)
    shown = raw[lost].astype(str).str.slice(0, 60)
    out = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    out[lost] = [f"{field} empty after cleaning: {json.dumps(v, ensure_ascii=False)}" for v in shown]
    return out


def _merged_duplicates(frame, extra, ids, row_number, repeated, candidates, keep, source) -> pd.DataFrame:
    kept_row = row_number[candidates & ~repeated]
    kept_of = dict(zip(ids[kept_row.index], kept_row))
    dropped = repeated[repeated].index
    return pd.DataFrame({
        "source": source, "row_number": row_number[dropped].astype("int64").to_numpy(),
        "product_id": ids[dropped].to_numpy(), "field": "id", "kind": "duplicate id merged",
        "reason": [f"duplicate id merged: row {r} dropped, row {kept_of.get(i)} kept (--on-duplicate {keep})"
                   for r, i in zip(row_number[dropped], ids[dropped])],
        "raw": full_rows(frame.loc[dropped], None if extra is None else extra[dropped]),
    })


def full_rows(frame: pd.DataFrame, extra: pd.Series | None) -> list[str]:
    """One JSON object per row: the read columns, then the other columns of the file."""
    if frame.empty:
        return []
    rows = frame.to_json(orient="records", lines=True, force_ascii=False).splitlines() if len(frame.columns) \
        else ["{}"] * len(frame)
    if extra is None or extra.isna().all():
        return rows
    out = []
    for row, more in zip(rows, extra):
        merged = json.loads(row)
        if more:
            merged.update(json.loads(more))
        out.append(json.dumps(merged, ensure_ascii=False))
    return out


def _category_paths(frame: pd.DataFrame, mapping: ColumnMapping, titles: pd.Series, options,
                    notes: list[str]) -> pd.Series:
    """Each row's category path as a node id (``"A > B > C"``), ``None`` when it has none.

    Distinct values are parsed once: a million products share a few thousand paths.
    """
    if mapping.levels:
        key = frame[mapping.levels[0]].fillna("").astype(str)
        for col in mapping.levels[1:]:
            key = key + "\x1f" + frame[col].fillna("").astype(str)
        parsed = {}
        for value in key.unique():
            path = []
            for name in str(value).split("\x1f"):
                if not name.strip():
                    break
                path.append(name.strip())
            parsed[value] = tuple(path)
        paths_of = key.map(parsed)
    elif mapping.category:
        column = frame[mapping.category]
        uniques = column.dropna().unique()
        parsed = dict(zip(uniques, parse_paths(pd.Series(uniques, dtype=object), mapping.sep)))
        paths_of = column.map(lambda v: parsed.get(v, ()) if v is not None else ())
    else:
        raise WorkbenchError("no category mapped; add category=COLUMN or levels=A|B|C to --map "
                             "(or use `workbench classify` for products without categories)")
    paths = list(paths_of)
    if options.strip_name_node:
        paths = strip_name_nodes(paths, titles.fillna("").tolist())
    paths = cut_depth(paths, options.max_depth)
    paths, changed = unify_spellings(paths)
    if changed:
        shown = "; ".join(f"{a!r} -> {b!r}" for a, b in list(changed.items())[:3])
        notes.append(f"{len(changed):,} category names written in several ways (case or spaces) were read as "
                     f"their most frequent spelling, e.g. {shown}")
    return pd.Series([SEP.join(p) if p else None for p in paths], index=frame.index, dtype=object)


def _category_raw(frame: pd.DataFrame, mapping: ColumnMapping) -> pd.Series | list:
    if mapping.levels:
        raw = frame[mapping.levels[0]].fillna("").astype(str)
        for col in mapping.levels[1:]:
            raw = raw + SEP + frame[col].fillna("").astype(str)
        return raw.str.replace(r"(\s>\s)+$", "", regex=True).astype(object)
    if mapping.category:
        return frame[mapping.category]
    return [None] * len(frame)


def _department(frame: pd.DataFrame, options, paths: pd.Series) -> list | pd.Series:
    if not options.department:
        return [None] * len(frame)
    if options.department == "top":
        return paths.map(lambda p: p.split(SEP)[0] if isinstance(p, str) else None)
    if options.department not in frame.columns:
        raise WorkbenchError(f"department column {options.department!r} not in the file; use a column of "
                             "the file or 'top' (the first category level)")
    return frame[options.department]


def usable_image(value: str | None) -> tuple[str | None, str | None]:
    """``(image, warning)``: an http(s) URL or a file path as it is, the first URL of a JSON list
    of URLs, and ``None`` with a warning for anything else (another scheme such as
    ``javascript:``, control characters, a list without a URL)."""
    if value is None:
        return None, None
    text = str(value).strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            items = None
        urls = [i for i in items if isinstance(i, str) and i.strip()] if isinstance(items, list) else []
        text = urls[0].strip() if urls else ""
    scheme = _SCHEME.match(text)
    if not text or _CONTROL.search(text) or (scheme and scheme.group(1).lower() not in ("http", "https", "file")):
        shown = str(value) if len(str(value)) <= 60 else str(value)[:57] + "..."
        return None, f"image not usable: {json.dumps(shown, ensure_ascii=False)}"
    return text, None


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{1,15}):(?!\\)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _images(mapped: pd.Series, ids: pd.Series, options) -> list:
    base = Path(options.image_base) if options.image_base else None
    if base is None and not options.image_template:  # nothing to resolve: the mapped names as they are
        return [v or None for v in np.asarray(mapped, dtype=object)]
    out = []
    for value, pid in zip(mapped, ids):
        name = value or (options.image_template.format(id=pid) if options.image_template else None)
        if name and base is not None and not str(name).startswith(("http://", "https://", "/")):
            candidate = base / name
            name = str(candidate) if candidate.exists() else (None if not value else name)
        out.append(name)
    return out
