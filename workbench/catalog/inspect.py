"""``workbench inspect FILE``: what a catalog file holds and how to ingest it.

Reads a sample (the first 50,000 rows), reports the detected format, delimiter, encoding and row
count, profiles each column (type, share empty, distinct values, three examples), guesses the
title, id, price, brand, description, image, department and category columns (a path column with
its separator, or level columns that form a hierarchy), and suggests the ``workbench ingest``
command line to copy. The guesses are rules on names and values, stated in the README; the
depth cut is validated on the rows (:mod:`workbench.catalog.depth_choice`) and no ``--min-count``
is proposed (rare leaves are kept: the ``auto`` model predicts them through their parent).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.catalog.catalog_taxonomy import _looks_like_name, parse_paths, strip_name_nodes
from workbench.catalog.category_sep import depth_profile, detect_separator, spaced_separator
from workbench.catalog.depth_choice import choose_depth
from workbench.catalog.prices import parse_prices
from workbench.catalog.reader import read_catalog

SAMPLE_ROWS = 50_000
#: a leaf under this many products (half of it below 5,000 rows) is called small in the report
RARE = 10
#: column names that say what a column holds, best first (compared lowercase, without punctuation)
NAMES = {
    "id": ["id", "productid", "uniqid", "sku", "itemid", "articleid", "productcode", "code", "pid", "asin", "ean",
           "gtin", "styleid", "artikelnummer", "artikelnr", "artnr", "artikelid", "produktid", "referenz",
           "reference", "ref", "referencia", "codigo", "kode", "kodeproduk", "kodebarang", "numero", "idproduk",
           "variantsku", "handle"],
    "title": ["title", "name", "productname", "productdisplayname", "producttitle", "itemname", "nama",
              "namaproduk", "nom", "nombre", "titel", "titolo", "displayname", "bezeichnung", "artikelbezeichnung",
              "produktname", "artikelname", "produktbezeichnung", "nomproduit", "designation", "libelle",
              "nombreproducto", "titulo", "nome", "nomeprodotto", "namabarang", "judul", "productnaam", "naam"],
    "description": ["description", "productdescription", "desc", "longdescription", "deskripsi", "beschreibung",
                    "descripcion", "details", "produktbeschreibung", "langbeschreibung", "descrizione",
                    "omschrijving", "descricao", "bodyhtml", "body"],
    "brand": ["brand", "brandname", "manufacturer", "merek", "marke", "marca", "marque", "vendor", "maker", "hersteller", "fabricant",
              "fabricante", "merk"],
    "price": ["price", "retailprice", "listprice", "regularprice", "mrp", "saleprice", "unitprice", "harga",
              "preis", "prix", "precio", "prezzo", "cost", "amount", "verkaufspreis", "vkpreis", "bruttopreis",
              "hargajual", "prijs", "preco", "variantprice"],
    "image": ["image", "imagefile", "imagepath", "img", "picture", "photo", "imageurl", "imagelink", "thumbnail",
              "imageurls", "bild", "bilddatei", "bildname", "foto", "fotos", "gambar", "imagen", "immagine",
              "photos", "images", "picturefile", "imagesrc", "variantimage"],
    "department": ["department", "dept", "gender", "division", "segment", "section"],
    "category": ["category", "categorypath", "categories", "categorytree", "productcategorytree", "kategori",
                 "categorie", "kategorie", "categoria", "breadcrumb", "taxonomy", "leaf", "kategoripath",
                 "kategoriepfad", "warengruppe", "rubrik", "categoriepath", "productcategory", "producttype"],
}
_IMAGE = re.compile(r"\.(?:jpe?g|png|webp|gif|bmp|tiff?)(?:\?.*)?$", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?.*)?$")
_BOOL = {"true", "false", "yes", "no", "y", "n", "t", "f"}
#: names of columns that hold ratings, counts or years: never typed "price", whatever their values
_NOT_PRICE = re.compile(r"rating|review|count|qty|quantity|stock|year|votes|stars|score|rank|sold|views|likes")


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _name_rank(column: str, field: str) -> int | None:
    names = NAMES[field]
    key = _key(column)
    return names.index(key) if key in names else None


def _column_type(values: pd.Series, name: str) -> str:
    text = values.dropna().astype(str)
    if text.empty:
        return "empty"
    sample = text.head(5000)
    share = lambda pattern: sample.str.match(pattern).mean()  # noqa: E731
    if share(_INT.pattern) == 1:
        return "integer"
    if share(_NUM.pattern) == 1:
        return "number"
    if sample.str.lower().isin(_BOOL).all():
        return "boolean"
    if share(_DATE.pattern) >= 0.95:
        return "date"
    if sample.str.startswith("[").mean() >= 0.9:
        return "JSON list"
    if sample.str.contains(_IMAGE.pattern, regex=True).mean() >= 0.9:
        return "image"
    if sample.str.startswith(("http://", "https://")).mean() >= 0.9:
        return "url"
    if sample.str.len().mean() <= 20 and not _NOT_PRICE.search(_key(name)):
        prices = parse_prices(sample.head(1000))
        if prices["warning"].isna().mean() >= 0.9 and prices["price"].notna().mean() >= 0.9:
            return "price"
    if sample.str.contains(r"<\s*/?\s*[a-zA-Z][^>]*>", regex=True).mean() >= 0.5:
        return "text"  # HTML: the "/" of its closing tags separates no category levels
    sep = detect_separator(sample)
    if sep and sample.str.len().mean() < 200:
        depths = [len(p) for p in parse_paths(sample.head(500), sep)]
        if depths and sum(depths) / len(depths) > 1.5:
            return "category path"
    return "text"


def profile_columns(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Type, share empty, distinct values and three examples of each column."""
    out = []
    for name in frame.columns:
        values = frame[name]
        present = values.dropna()
        examples = [str(v) if len(str(v)) <= 60 else str(v)[:57] + "..." for v in pd.unique(present)[:3]]
        out.append({"name": name, "type": _column_type(values, name),
                    "empty": round(float(values.isna().mean()), 4) if len(values) else 1.0,
                    "distinct": int(present.nunique()), "examples": examples,
                    "mean_length": float(present.astype(str).str.len().mean()) if len(present) else 0.0})
    return out


def _pick(profiles: list[dict], field: str, ok, taken: set[str]) -> str | None:
    ranked = [(r, p["name"]) for p in profiles if p["name"] not in taken and ok(p)
              for r in [_name_rank(p["name"], field)] if r is not None]
    return min(ranked)[1] if ranked else None


def _spaced(values: pd.Series) -> float:
    """Share of the (first 1,000) non-empty values that hold more than one word."""
    text = values.dropna().astype(str).head(1000)
    return float(text.str.strip().str.contains(r"\s", regex=True).mean()) if len(text) else 0.0


def guess_fields(frame: pd.DataFrame, profiles: list[dict]) -> dict[str, Any]:
    """Which column looks like each product field (``None`` where none does)."""
    n = max(len(frame), 1)
    taken: set[str] = set()
    guess: dict[str, Any] = {}
    # an id column by its name may repeat a few ids (inspect then warns and ingest rejects the repeats)
    unique = lambda p: p["distinct"] >= 0.9 * n * (1 - p["empty"]) and p["empty"] < 0.01  # noqa: E731
    guess["id"] = _pick(profiles, "id", lambda p: unique(p) and p["type"] in ("integer", "text"), taken)
    taken |= {guess["id"]} - {None}
    wordy = lambda p: p["type"] in ("text", "category path") and p["mean_length"] >= 5  # noqa: E731
    title = _pick(profiles, "title", wordy, taken)
    if title is None:
        # no column named like a title: the most varied column of words (a code column such as
        # an unnamed SKU has more distinct values, but no spaces)
        texts = [p for p in profiles if p["name"] not in taken and p["type"] == "text" and 10 <= p["mean_length"] <= 300]
        title = max(texts, key=lambda p: (_spaced(frame[p["name"]]) >= 0.5, p["distinct"], -p["empty"]))["name"] \
            if texts else None
    guess["title"] = title
    taken |= {title} - {None}
    if guess["id"] is None and title:
        # an export with extra rows per product (Shopify's image and variant rows: no title, the id
        # empty or repeated) has its id unique among the rows that are products
        products = frame[frame[title].notna()]
        m = max(len(products), 1)
        unique_here = lambda p: (products[p["name"]].notna().mean() >= 0.99  # noqa: E731
                                 and products[p["name"]].nunique() >= 0.9 * m)
        guess["id"] = _pick(profiles, "id", lambda p: p["type"] in ("integer", "text") and unique_here(p), taken)
        taken |= {guess["id"]} - {None}
    guess["description"] = _pick(profiles, "description", lambda p: p["type"] == "text", taken)
    guess["brand"] = _pick(profiles, "brand", lambda p: p["type"] == "text", taken)
    guess["price"] = _pick(profiles, "price", lambda p: p["type"] in ("integer", "number", "price"), taken)
    single_image = lambda p: p["type"] in ("image", "url", "text") and p["empty"] < 1  # noqa: E731
    images = [p["name"] for p in profiles if p["name"] not in taken and p["type"] == "image"]
    guess["image"] = (_pick(profiles, "image", lambda p: p["type"] == "image", taken)
                      or _pick(profiles, "image", single_image, taken)
                      or (images[0] if images else None))  # a column of image names, whatever its name
    guess["department"] = _pick(profiles, "department", lambda p: p["type"] == "text" and p["distinct"] <= 50, taken)
    taken |= {v for v in guess.values() if v}
    guess["category"] = guess_category(frame, profiles, taken - {guess["department"]}, title, guess["brand"])
    return guess


def guess_category(frame: pd.DataFrame, profiles: list[dict], taken: set[str], title: str | None,
                   brand: str | None = None) -> dict | None:
    """The category: the deepest path column (its separator found from the values), else the
    longest chain of level columns in which each column determines the one above it; with the
    depth cut validated on the rows (:mod:`workbench.catalog.depth_choice`) when a title is known."""
    titles = frame[title] if title else None
    brands = frame[brand] if brand else None
    paths = []
    for p in profiles:
        if p["name"] in taken or p["type"] not in ("category path", "JSON list"):
            continue
        values = frame[p["name"]]
        sep = detect_separator(values)
        if not sep or values.dropna().astype(str).str.contains("://", regex=False).mean() > 0.2:
            continue  # lists of URLs are not category paths
        mean_depth = sum(len(x) for x in parse_paths(values.dropna(), sep)) / max(values.notna().sum(), 1)
        paths.append((mean_depth, p["type"] != "JSON list", -profiles.index(p), p["name"], sep, p["type"]))
    if paths:
        _, _, _, column, sep, kind = max(paths)
        values = frame[column]
        sep = spaced_separator(values, sep)
        return _path_summary(values, sep, titles, {"column": column, "sep": sep,
                             "format": "JSON list of paths" if kind == "JSON list" else "path"}, brands)
    chain = level_chain(frame, [p for p in profiles if p["name"] not in taken and p["type"] == "text"
                                and 2 <= p["distinct"] <= max(2, min(5000, 0.2 * len(frame))) and p["empty"] < 0.2])
    if len(chain) >= 2:
        joined = frame[chain[0]].fillna("").astype(str)
        for c in chain[1:]:
            joined = joined + " > " + frame[c].fillna("").astype(str)
        return _path_summary(joined.str.replace(r"(\s>\s)+$", "", regex=True), ">", titles,
                             {"levels": chain, "format": "level columns"}, brands, names=False)
    single = _pick(profiles, "category", lambda p: p["type"] == "text", taken)
    if single:
        return _path_summary(frame[single], ">", titles, {"column": single, "sep": ">", "format": "one level"},
                             brands, names=False)
    return None


def level_chain(frame: pd.DataFrame, candidates: list[dict]) -> list[str]:
    """The longest list of columns, top level first, in which each column's value fixes the
    previous one's for at least 95% of the rows (``subCategory`` fixes ``masterCategory``)."""
    order = sorted(candidates, key=lambda p: p["distinct"])
    best: dict[str, list[str]] = {}
    for i, child in enumerate(order):
        best[child["name"]] = [child["name"]]
        for parent in order[:i]:
            if parent["distinct"] >= child["distinct"] or not _determines(frame, child["name"], parent["name"]):
                continue
            chain = best[parent["name"]] + [child["name"]]
            if len(chain) > len(best[child["name"]]):
                best[child["name"]] = chain
    chains = sorted(best.values(), key=lambda c: (len(c), frame[c[-1]].nunique()), reverse=True)
    return chains[0] if chains else []


def _determines(frame: pd.DataFrame, child: str, parent: str) -> bool:
    pair = frame[[child, parent]].dropna()
    if pair.empty:
        return False
    top = pair.groupby(child)[parent].agg(lambda s: s.value_counts().iloc[0]).sum()
    return top / len(pair) >= 0.95


def _path_summary(values: pd.Series, sep: str, titles: pd.Series | None, out: dict,
                  brands: pd.Series | None = None, names: bool = True) -> dict:
    present = values.dropna()
    paths = parse_paths(present, sep)
    name_share = 0.0
    shown_titles = titles[present.index].fillna("").astype(str) if titles is not None else None
    if names and shown_titles is not None and len(paths):
        named = [bool(p) and _looks_like_name(p[-1], t) for p, t in zip(paths, shown_titles)]
        name_share = sum(named) / len(paths)
    depths, distinct = depth_profile(present, sep)
    out.update({"depth_histogram": {int(k): int(v) for k, v in sorted(depths.items())},
                "distinct_per_depth": distinct, "name_node_share": round(name_share, 4)})
    if "levels" not in out and sep == ">" and present.astype(str).str.contains(" > ", regex=False).mean() > 0.5:
        out["written"] = "' > '"
    options: dict[str, Any] = {}
    if name_share >= 0.1:
        options["strip_name_node"] = True
        paths = strip_name_nodes(paths, shown_titles)
    deepest = max((len(p) for p in paths), default=0)
    depth = deepest
    if shown_titles is not None and deepest:
        choice = choose_depth(shown_titles.tolist(), paths,
                              brands[present.index].fillna("").astype(str).tolist() if brands is not None else None)
        if choice is not None:
            out["depth_choice"] = choice.to_dict()
            depth = choice.depth
    if depth and depth < deepest:
        options["max_depth"] = depth
    out["rare_leaves"] = rare_leaves(paths, depth, len(values))
    out["options"] = options
    return out


def rare_leaves(paths: list[tuple[str, ...]], depth: int, rows: int) -> dict:
    """How many leaves (at the proposed depth) are small, and why no ``--min-count`` is proposed:
    pooling them into ``Other ...`` leaves builds classes no model learns; the ``auto`` model keeps
    rare leaves and predicts them through their parent."""
    leaves = pd.Series([" > ".join(p[:depth]) for p in paths if p]).value_counts() if depth else pd.Series(dtype=int)
    small = RARE if rows >= 5000 else RARE // 2
    n_small = int((leaves < small).sum())
    text = (f"no --min-count: {n_small:,} of {len(leaves):,} leaves hold fewer than {small} products"
            + "; they are kept as they are (a pooled 'Other' leaf is a class no model learns): "
              "train --models auto, which predicts rare leaves through their parent") if n_small else \
        f"no --min-count: every leaf holds at least {small} products"
    return {"threshold": small, "small_leaves": n_small, "leaves": int(len(leaves)), "min_count": None, "text": text}


def inspect_file(path: str | Path, *, fmt: str | None = None, delimiter: str | None = None,
                 encoding: str | None = None, sample: int = SAMPLE_ROWS, shown_path: str | None = None) -> dict:
    """The inspection of a catalog file as a JSON-ready dict (see the module docstring)."""
    raw = read_catalog(path, fmt, delimiter, encoding=encoding, limit=sample)
    frame, info = raw.frame, raw.info
    profiles = profile_columns(frame)
    guess = guess_fields(frame, profiles)
    complete = len(frame) < sample
    result = {
        "file": str(path), "format": info.format, "encoding": info.encoding, "compression": info.compression,
        "delimiter": info.delimiter if info.format == "csv" else None, "reader": info.reader,
        "rows": len(frame) + len(raw.rejects) if complete else None, "rows_read": len(frame),
        "malformed_rows": len(raw.rejects), "complete": complete,
        "columns": [{k: v for k, v in p.items() if k != "mean_length"} for p in profiles],
        "guess": guess, "notes": list(info.notes),
    }
    if guess["id"]:
        col = frame[guess["id"]].dropna().astype(str).str.strip()
        result["id_unique_share"] = round(float(col.nunique() / max(len(col), 1)), 6)
    result["warnings"] = duplicate_warnings(frame, guess)
    if guess["title"]:
        from workbench.catalog.language import guess_language

        lang = guess_language(frame[guess["title"]].dropna().astype(str))
        result["language"] = {"language": lang.language, "english_words": round(lang.english_words, 4),
                              "non_ascii_letters": round(lang.non_ascii_letters, 4), "encoder": lang.encoder,
                              "text": str(lang)}
    if guess.get("image"):
        from workbench.catalog.photo_folder import photo_folder

        result["photos"] = photo_folder(path, frame[guess["image"]], shown_path or path)
    result["command"] = suggest_command(shown_path or str(path), guess, info, result.get("photos"))
    return result


def duplicate_warnings(frame: pd.DataFrame, guess: dict) -> list[str]:
    """One line per kind of repetition a user should know of before ingesting: repeated ids
    (ingest rejects all but the first) and repeated titles (the grouped split keeps them on one side)."""
    out = []
    if guess.get("id"):
        ids = frame[guess["id"]].dropna().astype(str).str.strip()
        repeated = int(ids.duplicated().sum())
        if repeated:
            example = ids[ids.duplicated()].iloc[0]
            out.append(f"{repeated:,} rows repeat an id of column {guess['id']!r} (e.g. {example!r}): ingest keeps "
                       "the first and rejects the repeats; --on-duplicate first (or last) merges them instead")
    if guess.get("title") and len(frame):
        empty = int(frame[guess["title"]].isna().sum())
        if empty and empty / len(frame) >= 0.02:
            no_title = frame[guess["title"]].isna()
            reason = ("empty id" if guess.get("id") and frame.loc[no_title, guess["id"]].isna().mean() >= 0.5
                      else "empty title")
            out.append(f"{empty:,} rows have no {guess['title']} ({empty / len(frame):.1%}): ingest rejects them as "
                       f"`{reason}`; in a Shopify-style export these are the image or variant rows of the "
                       "product above them")
    if guess.get("title"):
        titles = frame[guess["title"]].dropna().astype(str).str.strip().str.lower()
        repeated = int(titles.duplicated().sum())
        if repeated:
            out.append(f"{repeated:,} rows repeat a title ({repeated / max(len(titles), 1):.1%}; e.g. "
                       f"{titles[titles.duplicated()].iloc[0][:60]!r}): train on the grouped split (the default) "
                       "so that a repeated title cannot sit in both training and test")
    return out


def suggest_command(path: str, guess: dict, info, photos: dict | None = None) -> str | None:
    """The ``workbench ingest`` command line for the guesses (``None`` without a title); with
    ``--images-dir`` when ``photos`` found the image names in a folder of their own."""
    if not guess.get("title"):
        return None
    fields = [(f, guess[f]) for f in ("id", "title", "description", "brand", "price") if guess.get(f)]
    category = guess.get("category") or {}
    if category.get("levels"):
        fields.append(("levels", "|".join(category["levels"])))
    elif category.get("column"):
        fields.append(("category", category["column"]))
    fields += [(f, guess[f]) for f in ("image", "department") if guess.get(f)]
    parts = ["workbench", "ingest", path, "--map", ",".join(f"{k}={v}" for k, v in fields)]
    if category.get("column"):
        parts += ["--sep", category["sep"]]
    options = category.get("options", {})
    if options.get("max_depth"):
        parts += ["--max-depth", str(options["max_depth"])]
    if options.get("strip_name_node"):
        parts.append("--strip-name-node")
    if info.format == "csv" and info.delimiter and info.delimiter != ",":
        parts += ["--delimiter", "tab" if info.delimiter == "\t" else info.delimiter]
    if info.encoding and info.encoding not in ("utf-8", "utf-8-sig"):
        parts += ["--encoding", info.encoding]
    if photos and photos.get("images_dir"):
        parts += ["--images-dir", photos["images_dir"]]
    return " ".join(shlex.quote(p) for p in parts)
