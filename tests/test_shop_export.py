"""A shop's own export of a catalog the project was not built for, read the way the README tells a
new user to: ``workbench inspect FILE``, the suggested command pasted as it is, ``train``, then
``workbench classify`` of new arrivals without ``--map``. The files are real Flipkart rows written
as a German shop's spreadsheet exports them (semicolons, cp1252, CRLF, blank lines, ``1 299,00 €``,
a `` / `` category path, headers ``Artikelnummer``/``Bezeichnung``/``Bild``, a repeated id, hostile
titles)."""

from __future__ import annotations

import csv
import re
import shlex

import pandas as pd
import pytest

import workbench as wb
from workbench.catalog.catalog_taxonomy import parse_paths, strip_name_nodes
from workbench.catalog.datasets import locate
from workbench.catalog.mapping import recipe
from workbench.catalog.reader import read_catalog
from workbench.cli.main import main

HOSTILE = ['<img src=x onerror=alert(1)> ', '=HYPERLINK("http://x","y") ']


@pytest.fixture(scope="module")
def flipkart() -> pd.DataFrame:
    """All Flipkart 20k rows (strings)."""
    return pd.read_csv(locate(recipe("flipkart").relpath), dtype=str, keep_default_na=False)


def _euro(value: str) -> str:
    whole, cents = f"{float(value or 0):,.2f}".split(".")
    return whole.replace(",", " ") + "," + cents + " €"


def shop_frame(rows: pd.DataFrame, *, category: bool = True) -> pd.DataFrame:
    """Flipkart rows with a German shop's headers and formats."""
    out = pd.DataFrame({
        "Artikelnummer": rows["pid"].to_numpy(),
        "Bezeichnung": rows["product_name"].to_numpy(),
        "Beschreibung": rows["description"].str.slice(0, 200).to_numpy(),
        "Marke": rows["brand"].to_numpy(),
        "Preis": [_euro(v) for v in rows["retail_price"]],
    })
    if category:
        out["Kategorie"] = rows["category_path"].str.replace(" >> ", " / ", regex=False).to_numpy()
    return out


def write_export(frame: pd.DataFrame, path, *, encoding: str = "cp1252") -> None:
    """Semicolons, CRLF, two blank lines after the 10th row, in ``encoding``."""
    lines = frame.to_csv(sep=";", index=False, lineterminator="\r\n").split("\r\n")
    lines[11:11] = ["", ""]
    path.write_bytes("\r\n".join(lines).encode(encoding, errors="replace"))


@pytest.fixture(scope="module")
def export(flipkart, tmp_path_factory):
    """400 training rows (the 3/4ths shorts among them) and 60 new arrivals, as files."""
    folder = tmp_path_factory.mktemp("shop")
    shorts = flipkart[flipkart["category_path"].str.contains("3/4ths", regex=False)].head(20)
    rest = flipkart.drop(shorts.index).sample(440, random_state=5)
    rows = pd.concat([shorts, rest.head(380)])
    shop = shop_frame(rows).reset_index(drop=True)
    shop.loc[3, "Bezeichnung"] = HOSTILE[0] + shop.loc[3, "Bezeichnung"]
    shop.loc[4, "Bezeichnung"] = HOSTILE[1] + shop.loc[4, "Bezeichnung"]
    shop.loc[5, "Artikelnummer"] = shop.loc[6, "Artikelnummer"]
    shop.loc[7, "Kategorie"] = ""
    write_export(shop, folder / "shop.csv")
    new = shop_frame(rest.tail(60), category=False).reset_index(drop=True)
    write_export(new, folder / "neu.csv")
    return folder, shop


def _suggested(out: str) -> list[str]:
    return shlex.split(out.split("suggested command (copy it; check the columns above first)\n")[1].strip())


def test_the_shops_headers_and_separator_are_understood(export, capsys, monkeypatch):
    folder, shop = export
    monkeypatch.chdir(folder)
    assert main(["inspect", "shop.csv"]) == 0
    out = capsys.readouterr().out
    args = _suggested(out)
    mapping = args[args.index("--map") + 1].split(",")
    # the SKU column is the id, not the title (it has more distinct values, but no words)
    assert "id=Artikelnummer" in mapping and "title=Bezeichnung" in mapping
    assert {"description=Beschreibung", "brand=Marke", "price=Preis", "category=Kategorie"} <= set(mapping)
    # ' / ' between the levels, so "Cargos, Shorts & 3/4ths" stays one name
    assert args[args.index("--sep") + 1] == " / "
    assert "separator ' / '" in out
    assert "--delimiter" in args and args[args.index("--delimiter") + 1] == ";"
    assert args[args.index("--encoding") + 1] == "cp1252"
    assert "titles look English" in out
    sep = args[args.index("--sep") + 1]
    shorts = parse_paths(shop["Kategorie"].head(20).drop(7), sep)
    assert all(any(n.endswith("3/4ths") for n in p) for p in shorts), shorts[:3]

    # pasted as it is, the command ingests the file; the repeated id and nothing else is rejected
    ws_dir = folder / "ws-cli"
    assert main(args[1:] + ["--workspace", str(ws_dir)]) == 0
    out = capsys.readouterr().out
    assert "rejected 1: duplicate id in file" in out and ": missing category (empty" in out
    ws = wb.Workspace(ws_dir)
    products = ws.df("SELECT product_id, title, leaf, price, price_currency FROM products ORDER BY product_id")
    first = shop.iloc[0]
    row = products.set_index("product_id").loc[first["Artikelnummer"]]
    assert row["price"] == pytest.approx(float(first["Preis"].replace(" ", "").replace("€", "").replace(",", ".")))
    assert row["price_currency"] == "EUR"
    assert not products["title"].str.contains("<img|onerror|^=", regex=True).any()
    assert int(ws.scalar("SELECT count(*) FROM rejects")) + len(products) == len(shop)

    # the notebook's way (wb.inspect_file(...).ingest(ws)) ingests exactly what the command did
    nb = wb.Workspace(folder / "ws-nb")
    wb.inspect_file("shop.csv").ingest(nb)
    pd.testing.assert_frame_equal(
        nb.df("SELECT product_id, title, leaf, price, price_currency FROM products ORDER BY product_id"), products)


def test_a_file_whose_headers_say_nothing_takes_the_column_of_words_as_title(export, tmp_path):
    _, shop = export
    frame = shop[["Artikelnummer", "Bezeichnung", "Preis"]].set_axis(["c1", "c2", "c3"], axis=1)
    frame.to_csv(tmp_path / "x.csv", index=False)
    guess = wb.inspect_file(tmp_path / "x.csv")["guess"]
    assert guess["title"] == "c2"


def test_a_name_node_with_double_spaces_is_stripped(flipkart):
    # Flipkart writes some names with two spaces ("Dungaree Baby Boy's  Combo") in the title and path
    rows = flipkart[flipkart["product_name"].str.contains("  ", regex=False)]
    paths = parse_paths(rows["category_path"], ">>")
    named = [(p, t) for p, t in zip(paths, rows["product_name"]) if p and " ".join(p[-1].split()) == " ".join(t.split())]
    assert len(named) >= 50
    stripped = strip_name_nodes([p for p, _ in named], [t for _, t in named])
    assert all(len(s) == len(p) - 1 for s, (p, _) in zip(stripped, named))


def test_classify_without_a_mapping_reads_new_arrivals_as_the_catalog_was_read(export, capsys, tmp_path):
    folder, _ = export
    ws_dir = tmp_path / "ws"
    assert main(["ingest", str(folder / "shop.csv"), "--map",
                 "id=Artikelnummer,title=Bezeichnung,brand=Marke,price=Preis,description=Beschreibung,"
                 "category=Kategorie", "--sep", " / ", "--max-depth", "1", "--workspace", str(ws_dir)]) == 0
    assert main(["train", "--models", "tfidf", "--workspace", str(ws_dir)]) == 0
    capsys.readouterr()
    assert main(["classify", str(folder / "neu.csv"), "--threshold", "0.5", "--workspace", str(ws_dir)]) == 0
    out = capsys.readouterr().out
    assert ("columns as shop.csv was ingested: --map title=Bezeichnung,id=Artikelnummer,description=Beschreibung,"
            "brand=Marke,price=Preis") in out
    assert "neu.csv: 60 products accepted, 0 rejected" in out
    assert "classified 60 products" in out
    ws = wb.Workspace(ws_dir)
    assert int(ws.scalar("SELECT count(*) FROM classifications")) == 60

    # compare: an auto run's setup (hundreds of characters) goes below the table, not into each row
    from workbench.cli.commands.train import compare_text
    from workbench.runs.training import compare_runs, format_table

    table = compare_runs(wb.Workspace(ws_dir))
    table["setup"] = ["encoder default; members tfidf + head (weight 0.35); fields=title+brand+description; "
                      "C=0.5; class_weight=none; rare_leaves=no back-off: no candidate beat the flat model on "
                      "validation by more than one standard error; language=English; device=cpu"] * len(table)
    text = compare_text(table, format_table)
    head, setup = text.split("\n\nsetup\n")
    assert "setup" not in head.splitlines()[0] and "rare_leaves" not in head
    assert max(map(len, setup.splitlines())) <= 110 and setup.lstrip().startswith(table["run_id"].iloc[0])
    assert " ".join(setup.split()).endswith("language=English; device=cpu")

    # nothing embedded yet: the explanation says why it lists no similar products, and how to get them
    [exp] = wb.explain(wb.Workspace(ws_dir), None, [{"title": "Analog Watch - For Men"}])
    assert exp["neighbours"] is None
    assert exp["neighbours_note"] == ("no labelled product is embedded yet; run `workbench embed` to list the "
                                      "nearest ones")

    # explaining a product that was rejected at ingest says why it is not there
    rejected = wb.Workspace(ws_dir).scalar("SELECT product_id FROM rejects WHERE reason LIKE 'missing category%'")
    assert main(["explain", "--product", rejected, "--workspace", str(ws_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(rf"workbench explain: error: no product '{rejected}' in the workspace: row \d+ of shop.csv "
                        r"was rejected at ingest \(missing category \(empty, or only the product's own name\); "
                        r"see `workbench info`\); fix the row and ingest again, or explain its title: "
                        r"workbench explain 'TITLE'", err), err

    # a file of other columns: one line naming the missing column, the fix and what the file has
    pd.DataFrame({"name": ["Nike Running Shoes"], "cost": ["12"]}).to_csv(tmp_path / "other.csv", index=False)
    assert main(["classify", str(tmp_path / "other.csv"), "--workspace", str(ws_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("workbench classify: error: other.csv has no column 'Bezeichnung', the title column shop.csv "
                   "was ingested with; give a column mapping (--map title=COLUMN,...); available columns: name, cost")
    assert int(ws.scalar("SELECT count(*) FROM classifications")) == 60


def test_loading_the_sentence_encoder_prints_no_progress_bar(capfd):
    # classify, explain and train --models auto printed transformers' "Loading weights 0%|...|" bar
    from workbench.embeddings import encoder

    encoder._ENCODERS.clear()
    model = encoder.load_encoder()
    assert encoder.embedding_dim(model) == 384
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out


@pytest.mark.parametrize("later_quote", [True, False])
def test_an_unclosed_quote_rejects_its_line_only(export, tmp_path, capsys, later_quote):
    """One stray quote used to make DuckDB's sniffer drop quoting for the whole file (every quoted
    title kept its quotes: '"Tee ""Classic"" Cotton"'), or, with a quote further down, swallow the
    rows up to it into one title."""
    _, shop = export
    shop = shop.head(30).drop(columns=["Beschreibung"]).copy()
    shop.loc[2 if not later_quote else 20, "Bezeichnung"] = 'Tee "Classic" Cotton'
    lines = shop.to_csv(sep=";", index=False, lineterminator="\r\n").split("\r\n")
    lines.insert(9, 'XX-1;"Broken title;;;Clothing')  # line 10: a quote never closed on its line
    (tmp_path / "q.csv").write_bytes("\r\n".join(lines).encode("cp1252", errors="replace"))
    assert main(["ingest", str(tmp_path / "q.csv"), "--map", "id=Artikelnummer,title=Bezeichnung,category=Kategorie",
                 "--sep", " / ", "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    ws = wb.Workspace(tmp_path / "ws")
    rejects = ws.rows("SELECT row_number, reason, raw FROM rejects WHERE reason LIKE 'malformed%'")
    assert rejects == [(10, "malformed line: a quote opened on this line is not closed on it (close or remove "
                            "that quote; the lines after it were read as rows of their own)",
                        '{"line": "XX-1;\\"Broken title;;;Clothing"}')], rejects
    assert "rejected 1: malformed line: a quote opened on this line is not closed on it" in out
    titles = ws.df("SELECT product_id, title_raw FROM products").set_index("product_id")["title_raw"]
    expected = shop.drop_duplicates("Artikelnummer").set_index("Artikelnummer")["Bezeichnung"]
    kept = titles.index.intersection(expected.index)
    assert len(kept) == int(ws.scalar("SELECT count(*) FROM products")) == 30 - int(
        ws.scalar("SELECT count(*) FROM rejects WHERE reason NOT LIKE 'malformed%'"))  # repeated id, no category
    assert (titles[kept] == expected[kept]).all()
    assert 'Tee "Classic" Cotton' in set(titles)


def test_quotes_escaped_with_a_backslash_are_read_as_quotes(flipkart, tmp_path):
    """MySQL's (``ENCLOSED BY '"' ESCAPED BY '\\\\'``) and PHP's exports escape a quote inside a quoted
    field as a backslash and a quote, not RFC 4180's doubled quote: the title keeps its quotes and
    nothing else, and every row is read."""
    rows = flipkart.head(12)[["uniq_id", "product_name", "product_category_tree"]].copy()
    rows.iloc[3, 1] = 'Tee "Classic" Cotton, white'
    rows.iloc[7, 1] = 'Mug "Good Morning"'
    path = tmp_path / "mysql.csv"
    rows.to_csv(path, index=False, escapechar="\\", doublequote=False, quoting=csv.QUOTE_ALL)  # as MySQL encloses
    assert '\\"Classic\\"' in path.read_text()
    raw = read_catalog(path)
    assert raw.info.reader == "duckdb" and len(raw.frame) == 12 and raw.rejects.empty
    assert raw.frame["product_name"].tolist() == rows["product_name"].tolist()


def test_indian_price_labels_and_the_only_dash_are_read(flipkart, tmp_path, capsys):
    # Indian shops write "Rs.1299/-" ("only") and "MRP ₹1,299": both were "price not understood"
    rows = flipkart.sample(60, random_state=3)
    prices = rows["retail_price"].astype(float).astype(int)
    styles = [lambda p: f"Rs.{p}/-", lambda p: f"MRP ₹{p:,}", lambda p: f"MRP: Rs. {p:,}/-"]
    frame = pd.DataFrame({"product_name": rows["product_name"].to_numpy(),
                          "mrp": [styles[i % 3](p) for i, p in enumerate(prices)],
                          "category_path": rows["category_path"].to_numpy()})
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = wb.inspect_file(tmp_path / "in.csv")
    assert result["guess"]["price"] == "mrp"
    assert main(["ingest", str(tmp_path / "in.csv"), "--map", "title=product_name,price=mrp,category=category_path",
                 "--sep", ">>", "--workspace", str(tmp_path / "ws")]) == 0
    assert "warning" not in capsys.readouterr().out
    stored = wb.Workspace(tmp_path / "ws").df("SELECT title_raw, price, price_currency FROM products")
    assert (stored["price_currency"] == "INR").all()
    expected = dict(zip(rows["product_name"], prices))
    assert all(expected[t] == p for t, p in zip(stored["title_raw"], stored["price"]))


def test_excels_unicode_text_export_is_tab_and_utf16_and_its_command_survives_copying(flipkart, tmp_path, capsys,
                                                                                       monkeypatch):
    # Excel's "Unicode text" export: UTF-16 with a BOM, tabs, headers with spaces, a trailing " / "
    rows = flipkart.sample(200, random_state=11)
    frame = pd.DataFrame({" Artikel-Nr. ": rows["pid"].to_numpy(), "Bezeichnung ": rows["product_name"].to_numpy(),
                          "Kategorie": (rows["category_path"].str.replace(" >> ", " / ", regex=False) + " / ")
                          .to_numpy()})
    (tmp_path / "u16.txt").write_bytes(frame.to_csv(sep="\t", index=False).encode("utf-16"))
    monkeypatch.chdir(tmp_path)
    assert main(["inspect", "u16.txt"]) == 0
    args = _suggested(capsys.readouterr().out)
    # a literal tab in the command would turn into spaces when copied from a terminal
    assert args[args.index("--delimiter") + 1] == "tab" and args[args.index("--encoding") + 1] == "utf-16"
    assert main(args[1:] + ["--workspace", "ws"]) == 0
    out = capsys.readouterr().out
    accepted = int(wb.Workspace(tmp_path / "ws").scalar("SELECT count(*) FROM products"))
    assert accepted >= 190 and f"u16.txt: {accepted:,} products accepted" in out
    assert not wb.Workspace(tmp_path / "ws").df("SELECT leaf FROM products")["leaf"].str.endswith(" > ").any()
    assert main(["ingest", "u16.txt", "--map", "title=Bezeichnung", "--delimiter", ";;", "--workspace", "ws2"]) == 2
    assert capsys.readouterr().err.strip() == ("workbench ingest: error: --delimiter ';;' is not one character; "
                                               "give the character (';', '|') or tab")


def test_a_shopify_style_export_with_image_rows_is_understood(flipkart, tmp_path, capsys, monkeypatch):
    # Shopify's product CSV: "Body (HTML)", "Variant SKU", "Variant Price", "Image Src", and after
    # every few products an image row holding only the handle and a picture
    rows = []
    for i, r in enumerate(flipkart.sample(240, random_state=8).itertuples()):
        handle = f"product-{i}"
        rows.append({"Handle": handle, "Title": r.product_name, "Body (HTML)": f"<p>{r.description[:120]}</p>",
                     "Vendor": r.brand, "Product Category": r.category_path.replace(" >> ", " > "),
                     "Variant SKU": r.pid, "Variant Price": r.retail_price,
                     "Image Src": f"https://cdn.example.com/files/{r.image_file or 'x.jpg'}"})
        if i % 4 == 0:
            rows.append({"Handle": handle, "Image Src": "https://cdn.example.com/files/extra.jpg"})
    pd.DataFrame(rows).to_csv(tmp_path / "products_export.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(["inspect", "products_export.csv"]) == 0
    out = capsys.readouterr().out
    args = _suggested(out)
    mapping = args[args.index("--map") + 1].split(",")
    assert mapping[:5] == ["id=Variant SKU", "title=Title", "description=Body (HTML)", "brand=Vendor",
                           "price=Variant Price"], mapping
    assert "category=Product Category" in mapping and "image=Image Src" in mapping
    assert ("warning     60 rows have no Title (20.0%): ingest rejects them as `empty id`; in a Shopify-style "
            "export these are the image or variant rows of the product above them") in out
    assert main(args[1:] + ["--workspace", "ws"]) == 0
    out = capsys.readouterr().out
    assert "rejected 60: empty id" in out
    ws = wb.Workspace(tmp_path / "ws")
    assert int(ws.scalar("SELECT count(*) FROM products")) + int(ws.scalar("SELECT count(*) FROM rejects")) == 300
    assert not ws.df("SELECT description FROM products")["description"].fillna("").str.contains("<p>").any()


def test_a_category_written_in_several_ways_is_one_leaf(flipkart, tmp_path, capsys):
    # a shop's export spells one category "Clothing", "clothing" and "Clothing  " across its rows
    rows = flipkart.sample(400, random_state=9)
    paths = rows["category_path"].str.split(" >> ").str[:2].str.join(" / ").tolist()
    paths = [p.lower() if i % 7 == 0 else (p.replace(" / ", "  /  ").replace("'", "'  ") if i % 11 == 0 else p)
             for i, p in enumerate(paths)]
    pd.DataFrame({"title": rows["product_name"].to_numpy(), "cat": paths}).to_csv(tmp_path / "c.csv", index=False)
    assert main(["ingest", str(tmp_path / "c.csv"), "--map", "title=title,category=cat", "--sep", " / ",
                 "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "category names written in several ways (case or spaces) were read as their most frequent spelling, " \
           "e.g. 'clothing' -> 'Clothing'" in out
    leaves = wb.Workspace(tmp_path / "ws").df("SELECT DISTINCT leaf FROM products")["leaf"]
    keys = leaves.map(lambda leaf: " ".join(leaf.split()).casefold())
    assert keys.is_unique, leaves[keys.duplicated(keep=False)].tolist()
    assert "Clothing > Women's Clothing" in set(leaves)


def test_a_workbook_with_a_cover_sheet_reads_the_products_and_names_the_other_sheets(flipkart, tmp_path, capsys):
    # a shop's workbook: an "Info" cover sheet first, then products on two sheets
    rows = flipkart.sample(300, random_state=5)
    products = pd.DataFrame({"Bezeichnung": rows["product_name"].to_numpy(),
                             "Kategorie": rows["category_path"].str.replace(" >> ", " / ", regex=False).to_numpy()})
    with pd.ExcelWriter(tmp_path / "export.xlsx") as book:
        pd.DataFrame({"Info": ["Export vom 07.12.2026"]}).to_excel(book, sheet_name="Info", index=False)
        products.iloc[:200].to_excel(book, sheet_name="Kleidung", index=False)
        products.iloc[200:].to_excel(book, sheet_name="Schmuck", index=False)
    assert main(["ingest", str(tmp_path / "export.xlsx"), "--map", "title=Bezeichnung,category=Kategorie",
                 "--sep", " / ", "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    ws = wb.Workspace(tmp_path / "ws")
    assert int(ws.scalar("SELECT count(*) FROM products")) + int(ws.scalar("SELECT count(*) FROM rejects")) == 200
    assert ("note: export.xlsx: only sheet 'Kleidung' (the one with the most rows) was read; sheet(s) 'Info', "
            "'Schmuck' hold rows too: save each sheet as a file of its own (or move the rows into one sheet) and "
            "ingest it") in out
