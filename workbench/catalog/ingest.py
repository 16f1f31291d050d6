"""Ingest a catalog into a workspace: validate, clean, build the taxonomy, split.

Every row ends either in ``products`` or in ``rejects`` with its reason; nothing is
dropped silently. All writes of one ingest run in one transaction. Ingesting the same file
with the same options twice changes nothing (the file's fingerprint is recorded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.catalog.catalog_taxonomy import cut_depth, parse_paths, strip_name_nodes
from workbench.catalog.datasets import image_dir, locate, sha256_file
from workbench.errors import WorkbenchError
from workbench.catalog.mapping import ColumnMapping, recipe
from workbench.catalog.reader import read_catalog
from workbench.catalog.relabel import rebuild_taxonomy_and_splits
from workbench.store import Workspace
from workbench.catalog.taxonomy import SEP
from workbench.catalog.text import clean_series, normalise_series


@dataclass
class IngestOptions:
    """Taxonomy and split options of an ingest (recorded with the source)."""

    max_depth: int | None = None
    min_count: int = 1
    merge: str = "parent"
    strip_name_node: bool = False
    level_names: list[str] | None = None
    department: str | None = None  # a column name, or "top" for the first category level
    seed: int = 0
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    image_base: str | None = None
    image_template: str | None = None
    labelled: bool = True


@dataclass
class IngestSummary:
    """What an ingest did: counts, reject reasons, merges, and whether it was a repeat."""

    source: str
    fingerprint: str
    accepted: int
    rejected: int
    reject_reasons: dict[str, int] = field(default_factory=dict)
    merged_leaves: int = 0
    already_ingested: bool = False

    def __str__(self) -> str:
        if self.already_ingested:
            return f"{self.source}: already ingested (fingerprint {self.fingerprint[:12]}); nothing changed"
        lines = [f"{self.source}: {self.accepted:,} products accepted, {self.rejected:,} rejected"]
        for reason, n in sorted(self.reject_reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"  rejected {n:,}: {reason}")
        if self.merged_leaves:
            lines.append(f"  {self.merged_leaves:,} rare categories merged (see table category_merges)")
        return "\n".join(lines)


def ingest_dataset(ws: Workspace, name: str = "fashion", *, sample: int | None = None,
                   seed: int = 0, **overrides) -> IngestSummary:
    """Ingest a built-in catalog (``fashion``, ``flipkart``, ``flipkart-1050``) by its recipe.

    ``sample`` keeps a seeded random sample of that many rows (for tests and quick looks).
    """
    rec = recipe(name)
    path = locate(rec.relpath)
    images = image_dir(rec.dataset)
    opts = IngestOptions(max_depth=rec.max_depth, min_count=rec.min_count,
                         strip_name_node=rec.strip_name_node, level_names=rec.level_names,
                         department=rec.mapping.department, seed=seed,
                         image_base=str(images) if images else None,
                         image_template=rec.image_template)
    for key, value in overrides.items():
        if not hasattr(opts, key):
            raise WorkbenchError(f"unknown ingest option {key!r}")
        if value is not None:
            setattr(opts, key, value)
    return ingest_file(ws, path, rec.mapping, options=opts, dataset=name, sample=sample)


def file_fingerprint(path: Path, mapping: ColumnMapping, options: IngestOptions, sample: int | None) -> str:
    """sha256 over the file's bytes and everything that shapes what it becomes."""
    digest = hashlib.sha256(sha256_file(path).encode())
    digest.update(json.dumps([asdict(mapping), asdict(options), sample], sort_keys=True, default=str).encode())
    return digest.hexdigest()


def ingest_file(ws: Workspace, path: str | Path, mapping: ColumnMapping, *,
                options: IngestOptions | None = None, dataset: str | None = None,
                sample: int | None = None, fmt: str | None = None, delimiter: str | None = None) -> IngestSummary:
    """Ingest any catalog file with a column mapping; returns the summary."""
    options = options or IngestOptions()
    path = Path(path).resolve()
    fingerprint = file_fingerprint(path, mapping, options, sample) if path.is_file() else ""
    raw = read_catalog(path, fmt, delimiter)
    source = path.name if not sample else f"{path.name} (sample {sample})"
    if ws.scalar("SELECT count(*) FROM sources WHERE fingerprint = ?", [fingerprint]):
        return IngestSummary(source, fingerprint, 0, 0, already_ingested=True)
    mapping.check(list(raw.frame.columns))
    frame = raw.frame
    if sample is not None and sample < len(frame):
        frame = frame.sample(n=sample, random_state=options.seed).sort_index()
    products, rejects = _validate(ws, frame, mapping, options, source)
    rejects = pd.concat([_reader_rejects(raw.rejects, source), rejects], ignore_index=True)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    products["source"] = source
    products["ingested_at"] = now
    with ws.transaction() as cur:
        cur.register("_new_products", products)
        cur.execute("INSERT INTO products BY NAME SELECT * FROM _new_products")
        cur.unregister("_new_products")
        if len(rejects):
            cur.register("_new_rejects", rejects)
            cur.execute("INSERT INTO rejects BY NAME SELECT * FROM _new_rejects")
            cur.unregister("_new_rejects")
        merged = 0
        if options.labelled:
            level_names = options.level_names or (list(mapping.levels) if mapping.levels else None)
            merged = rebuild_taxonomy_and_splits(cur, options, level_names)
        reasons = rejects["reason"].value_counts().to_dict() if len(rejects) else {}
        cur.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [fingerprint, str(path), dataset, json.dumps(asdict(mapping)),
             json.dumps(asdict(options), default=str), len(products), len(rejects), now])
    return IngestSummary(source, fingerprint, len(products), len(rejects),
                         {str(k): int(v) for k, v in reasons.items()}, merged)


def _reader_rejects(bad: pd.DataFrame, source: str) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "row_number": bad["row_number"].astype("int64"),
                         "product_id": None, "reason": bad["reason"],
                         "raw": [json.dumps({"line": r}) for r in bad["raw"]]})


def _validate(ws: Workspace, frame: pd.DataFrame, mapping: ColumnMapping, options: IngestOptions,
              source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into accepted products and rejects with reasons (first failing check wins)."""
    n = len(frame)
    col = mapping.columns()
    get = lambda f: frame[col[f]] if f in col else pd.Series([None] * n, index=frame.index, dtype=object)  # noqa: E731
    row_number = pd.Series(np.arange(1, n + 1), index=frame.index)
    ids = get("id") if "id" in col else row_number.map(lambda i: f"{source}:{i}")
    ids = ids.map(lambda v: None if v is None else str(v).strip())
    title_raw = get("title")
    price_raw = get("price")
    price = pd.to_numeric(price_raw.map(lambda v: v.replace(",", "").strip() if isinstance(v, str) else v),
                          errors="coerce")
    if options.labelled:
        paths = _category_paths(frame, mapping, title_raw, options)
    else:
        paths = pd.Series([None] * n, index=frame.index, dtype=object)

    reason = pd.Series([None] * n, index=frame.index, dtype=object)

    def flag(mask, text):
        reason[mask & reason.isna()] = text

    flag(ids.isna(), "empty id")
    flag(title_raw.isna(), "empty title")
    flag(price_raw.notna() & price.isna(), "unparsable price")
    if options.labelled:
        flag(paths.isna(), "missing category (empty, or only the product's own name)")
    flag(ids.duplicated(keep="first") & ids.notna(), "duplicate id in file")
    known = ws.df("SELECT product_id FROM products WHERE product_id IN (SELECT unnest(?))",
                  [ids.dropna().unique().tolist()])["product_id"]
    flag(ids.isin(set(known)), "duplicate id: already in the workspace")
    text_cols = [c for c in frame.columns]
    bad = reason.notna()
    rejects = pd.DataFrame({
        "source": source, "row_number": row_number[bad].astype("int64"), "product_id": ids[bad],
        "reason": reason[bad],
        "raw": _json_rows(frame.loc[bad, text_cols]),
    })
    ok = ~bad
    title_clean = clean_series(title_raw[ok])
    empty_after_clean = title_clean.str.len() == 0
    if empty_after_clean.any():
        # a title made only of markup or emoji is as empty as a blank one
        extra = pd.DataFrame({"source": source, "row_number": row_number[ok][empty_after_clean].astype("int64"),
                              "product_id": ids[ok][empty_after_clean], "reason": "empty title after cleaning",
                              "raw": title_raw[ok][empty_after_clean].map(lambda t: json.dumps({"title": t}))})
        rejects = pd.concat([rejects, extra], ignore_index=True)
        ok_index = title_clean.index[~empty_after_clean]
        ok = pd.Series(False, index=frame.index)
        ok[ok_index] = True
        title_clean = title_clean[~empty_after_clean]
    desc_raw = get("description")[ok]
    mapped = set(col.values())
    others = [c for c in frame.columns if c not in mapped]
    products = pd.DataFrame({
        "product_id": ids[ok],
        "title": title_clean,
        "title_raw": title_raw[ok],
        "description": clean_series(desc_raw).where(desc_raw.notna(), None),
        "description_raw": desc_raw,
        "brand": clean_series(get("brand")[ok]).where(get("brand")[ok].notna(), None),
        "price": price[ok],
        "category_raw": _category_raw(frame[ok], mapping),
        "category_path": paths[ok],
        "title_key": normalise_series(title_clean),
        "leaf": None,
        "department": _department(frame[ok], options, paths[ok]),
        "image": _images(frame[ok], get("image")[ok], ids[ok], options),
        "extra": _json_rows(frame.loc[ok, others]) if others else None,
        "label_source": "catalog" if options.labelled else None,
    })
    return products.reset_index(drop=True), rejects.reset_index(drop=True)


def _json_rows(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row (vectorised; ``None`` values dropped by the reader are null)."""
    if frame.empty:
        return []
    return frame.to_json(orient="records", lines=True, force_ascii=False).splitlines()


def _category_paths(frame: pd.DataFrame, mapping: ColumnMapping, titles: pd.Series,
                    options: IngestOptions) -> pd.Series:
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


def _department(frame: pd.DataFrame, options: IngestOptions, paths: pd.Series) -> list | pd.Series:
    if not options.department:
        return [None] * len(frame)
    if options.department == "top":
        return paths.map(lambda p: p.split(SEP)[0] if isinstance(p, str) else None)
    if options.department not in frame.columns:
        raise WorkbenchError(f"department column {options.department!r} not in the file; available: "
                             f"{', '.join(frame.columns)}")
    return frame[options.department]


def _images(frame: pd.DataFrame, mapped: pd.Series, ids: pd.Series, options: IngestOptions) -> list:
    base = Path(options.image_base) if options.image_base else None
    out = []
    for value, pid in zip(mapped, ids):
        name = value or (options.image_template.format(id=pid) if options.image_template else None)
        if name and base is not None and not str(name).startswith(("http://", "https://", "/")):
            candidate = base / name
            name = str(candidate) if candidate.exists() else (None if not value else name)
        out.append(name)
    return out
