"""The catalog zoo: every catalog of ``../shared/datasets`` and variants the test writes from its
real rows (other delimiters, encodings, compression, JSON, Parquet, Excel, quoted line breaks,
mixed line endings, shop prices in several locales, a price column of text).

For each file: accepted + rejected = the rows in the file, counted with Python's ``csv`` module
or by the test that wrote it; and each variant accepts exactly the products of the plain CSV.
The whole shared catalogs are ingested, and their rows counted the same way, in
``tests/test_inspect.py`` (which ingests each of them by its recipe anyway).
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import math
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from workbench import Workspace, ingest_file
from workbench.catalog.datasets import locate
from workbench.catalog.ingest import IngestOptions
from workbench.catalog.mapping import recipe

CATALOGS = ("fashion", "flipkart", "flipkart-1050", "tokopedia")
ROWS = 300
COMPARED = ["product_id", "title", "category_path", "leaf", "brand", "description", "department"]
PLAIN_VARIANTS = ["semicolon", "tab", "pipe", "cp1252", "utf16", "utf8-bom", "crlf", "mixed-endings",
                  "gzip", "gzip-named-csv", "zip", "json-array", "jsonl-bom", "parquet", "parquet-named-csv",
                  "xlsx", "quoted-line-breaks"]
PRICE_VARIANTS = ["shop-prices", "price-text"]


def count_records(path: Path) -> int:
    """Data rows of a CSV file, counted with Python's csv module (blank lines are not rows)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return sum(1 for record in csv.reader(fh) if record) - 1


def _cp1252_safe(text: str) -> str:
    return text.encode("cp1252", errors="ignore").decode("cp1252")


def base_rows(dataset: str) -> pd.DataFrame:
    """A seeded sample of real rows, limited to characters cp1252 can write, a third of the
    titles given accented words so that the encoding matters."""
    frame = pd.read_csv(locate(recipe(dataset).relpath), dtype=str, keep_default_na=False)
    frame = frame.sample(ROWS, random_state=11).reset_index(drop=True)
    frame = frame.map(_cp1252_safe)
    title = recipe(dataset).mapping.title
    frame.loc[::3, title] = frame.loc[::3, title] + " – édition crème brûlée"
    return frame


def _shop_price(value: str, i: int) -> str:
    if not value:
        return value
    v = float(value)
    whole, cents = f"{v:,.0f}", f"{v:,.2f}"
    european = cents.replace(",", "_").replace(".", ",").replace("_", ".")      # 1.099,00
    return [f"₹{whole}", f"£{cents}", f"{european} €", f"$ {cents}", f"Rp {whole.replace(',', '.')}",
            cents.replace(",", "\u00a0").replace(".", ",") + " EUR"][i % 6]


def write_variant(frame: pd.DataFrame, variant: str, folder: Path, price: str | None, title: str) -> Path:
    """One variant file of the rows."""
    text = frame.to_csv(index=False)
    path = folder / f"{variant}.csv"
    if variant == "plain":
        path.write_text(text, encoding="utf-8")
    elif variant in ("semicolon", "tab", "pipe"):
        sep = {"semicolon": ";", "tab": "\t", "pipe": "|"}[variant]
        path = folder / f"{variant}.{'tsv' if sep == chr(9) else 'csv'}"
        frame.to_csv(path, index=False, sep=sep)
    elif variant == "cp1252":
        path.write_bytes(text.encode("cp1252"))
    elif variant == "utf16":
        path.write_bytes(text.encode("utf-16"))
    elif variant == "utf8-bom":
        path.write_bytes(text.encode("utf-8-sig"))
    elif variant == "crlf":
        frame.to_csv(path, index=False, lineterminator="\r\n")
    elif variant == "mixed-endings":
        lines = frame.to_csv(index=False, lineterminator="\r\n").split("\r\n")
        path.write_bytes((lines[0] + "\n" + "\r\n".join(lines[1:])).encode())
    elif variant in ("gzip", "gzip-named-csv"):
        path = folder / ("catalog.csv.gz" if variant == "gzip" else "gzipped.csv")
        path.write_bytes(gzip.compress(text.encode()))
    elif variant == "zip":
        path = folder / "catalog.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("export/catalog.csv", text)
    elif variant == "json-array":
        path = folder / "catalog.json"
        frame.replace("", None).to_json(path, orient="records", force_ascii=False, indent=1)
    elif variant == "jsonl-bom":
        path = folder / "catalog.jsonl"
        body = frame.replace("", None).to_json(orient="records", lines=True, force_ascii=False)
        path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    elif variant in ("parquet", "parquet-named-csv"):
        path = folder / ("catalog.parquet" if variant == "parquet" else "parquet.csv")
        frame.replace("", None).to_parquet(path)
    elif variant == "xlsx":
        path = folder / "catalog.xlsx"
        frame.to_excel(path, index=False)
    elif variant == "quoted-line-breaks":
        broken = frame.copy()
        broken[title] = [v.replace(" ", "\r\n" if i % 2 else "\n", 1) for i, v in enumerate(broken[title])]
        broken.to_csv(path, index=False)
    elif variant == "shop-prices":
        frame.assign(**{price: [_shop_price(v, i) for i, v in enumerate(frame[price])]}).to_csv(path, index=False)
    elif variant == "price-text":
        frame.assign(**{price: ["call us" if v else v for v in frame[price]]}).to_csv(path, index=False)
    return path


def _options(dataset: str) -> tuple:
    rec = recipe(dataset)
    opts = IngestOptions(max_depth=rec.max_depth, min_count=rec.min_count, strip_name_node=rec.strip_name_node,
                         level_names=rec.level_names, department=rec.mapping.department)
    return rec.mapping, opts


def _products(ws: Workspace, generated_ids: bool) -> pd.DataFrame:
    frame = ws.df(f"SELECT {', '.join(COMPARED)}, price FROM products")
    if generated_ids:  # "<file name>:<row>" differs by file name only
        frame["product_id"] = frame["product_id"].str.rsplit(":", n=1).str[-1]
    return frame.sort_values("product_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Per catalog: its base rows, the folder of variants and the plain CSV's products."""
    out = {}
    for dataset in CATALOGS:
        folder = tmp_path_factory.mktemp(dataset)
        frame = base_rows(dataset)
        mapping, options = _options(dataset)
        plain = write_variant(frame, "plain", folder, mapping.price, mapping.title)
        ws = Workspace(folder / "ws-plain")
        summary = ingest_file(ws, plain, mapping, options=options)
        assert summary.accepted + summary.rejected == count_records(plain) == ROWS
        out[dataset] = (frame, folder, _products(ws, mapping.id is None), summary)
    return out


@pytest.mark.parametrize("variant", PLAIN_VARIANTS + PRICE_VARIANTS)
@pytest.mark.parametrize("dataset", CATALOGS)
def test_each_variant_accepts_the_products_of_the_plain_csv(zoo, dataset, variant):
    frame, folder, expected, plain_summary = zoo[dataset]
    mapping, options = _options(dataset)
    if variant in PRICE_VARIANTS and mapping.price is None:
        pytest.skip(f"{dataset} has no price column")
    path = write_variant(frame, variant, folder, mapping.price, mapping.title)
    ws = Workspace(folder / f"ws-{variant}")
    summary = ingest_file(ws, path, mapping, options=options)
    assert summary.accepted + summary.rejected == ROWS
    assert summary.reject_reasons == plain_summary.reject_reasons
    got = _products(ws, mapping.id is None)
    # the titles' quoted line breaks become spaces when the text is cleaned
    pd.testing.assert_frame_equal(got[COMPARED], expected[COMPARED])
    if variant == "price-text":
        assert got["price"].isna().all()
        assert summary.warning_reasons == {"price not understood": int(expected["price"].notna().sum())}
    else:
        assert got["price"].equals(expected["price"]) or all(
            (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b) for a, b in zip(got["price"], expected["price"]))
        assert summary.warnings == plain_summary.warnings
    if variant == "shop-prices":
        currencies = ws.df("SELECT DISTINCT price_currency FROM products WHERE price IS NOT NULL")["price_currency"]
        assert set(currencies) == {"INR", "GBP", "EUR", "USD", "IDR"}


def test_an_unreadable_line_in_a_variant_is_a_counted_reject(zoo, tmp_path):
    frame, _, expected, _ = zoo["flipkart-1050"]
    mapping, options = _options("flipkart-1050")
    lines = io.StringIO(frame.to_csv(index=False)).read().split("\n")
    lines[1] = lines[1] + ',"surplus field"'
    path = tmp_path / "one-bad.csv"
    path.write_text(lines[0] + "\n" + "\r\n".join(lines[1:]))    # mixed endings: the tolerant reader
    summary = ingest_file(Workspace(tmp_path / "ws"), path, mapping, options=dataclasses.replace(options))
    assert summary.accepted + summary.rejected == ROWS
    assert summary.reject_reasons.get("malformed line: too many columns") == 1
