"""Ingest: real catalogs, every bad-input case with its reason, idempotence, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import workbench.catalog.ingest as ingest_module
from workbench import ColumnMapping, Workspace, ingest_dataset, ingest_file, load_taxonomy
from workbench.cli.main import main
from workbench.catalog.datasets import locate
from workbench.errors import WorkbenchError
from workbench.catalog.info import workspace_info
from workbench.catalog.ingest import IngestOptions

FASHION_MAP = ColumnMapping(id="id", title="productDisplayName",
                            levels=["masterCategory", "subCategory", "articleType"])


@pytest.fixture(scope="module")
def fashion_rows() -> pd.DataFrame:
    """Forty real fashion rows as strings."""
    frame = pd.read_csv(locate("fashion/styles.csv"), dtype=str, keep_default_na=False)
    return frame.sample(40, random_state=1).reset_index(drop=True)


def test_full_fashion_catalog_accounts_for_every_row(tmp_path, capsys):
    assert main(["ingest", "--dataset", "fashion", "--workspace", str(tmp_path)]) == 0
    assert main(["info", "--json", "--workspace", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{"):])
    assert info["products"] + info["rejected"] == 44_446
    assert info["levels"] == ["masterCategory", "subCategory", "articleType"]
    assert info["categories_per_level"] == {"masterCategory": 7, "subCategory": 47, "articleType": 170}
    assert info["leakage"]["grouped"] == 0.0
    assert info["leakage"]["random"] > 0.3  # near-duplicate titles leak through a random split
    assert sum(info["splits"].values()) == info["products"]
    # ingesting the same file again changes nothing
    before = Workspace(tmp_path).df("SELECT * FROM splits ORDER BY kind, product_id")
    assert main(["ingest", "--dataset", "fashion", "--workspace", str(tmp_path)]) == 0
    assert "already ingested" in capsys.readouterr().out
    assert Workspace(tmp_path).df("SELECT * FROM splits ORDER BY kind, product_id").equals(before)


def test_flipkart_depth_three_reports_rejects_and_merges(tmp_path):
    ws = Workspace(tmp_path)
    summary = ingest_dataset(ws, "flipkart", max_depth=3, min_count=10)
    assert summary.accepted + summary.rejected == 20_000
    # paths made only of the product's own name have no category
    assert summary.reject_reasons == {"missing category (empty, or only the product's own name)": summary.rejected}
    assert 250 < summary.rejected < 400
    assert summary.merged_leaves > 0
    taxonomy = load_taxonomy(ws)
    assert taxonomy.depth == 3
    counts = ws.df("SELECT leaf, count(*) AS n FROM products GROUP BY leaf")
    merged = ws.df("SELECT * FROM category_merges")
    assert set(merged["merged_into"]) <= set(taxonomy.nodes)
    # no product keeps its own name as a category
    names = ws.df("SELECT title, leaf FROM products")
    assert not any(leaf.split(" > ")[-1] == title for title, leaf in names.itertuples(index=False))
    assert "Clothing" in taxonomy.roots
    assert counts["n"].sum() == summary.accepted
    # --min-count 10 leaves no leaf under 10: small "Other ..." pools moved up into "Other"
    assert counts["n"].min() >= 10, counts.sort_values("n").head()
    assert "Other" in set(counts["leaf"])
    info = workspace_info(ws)
    assert info["rejected"] == summary.rejected and info["merged_categories"] == len(merged)


def _write_csv(path, frame):
    frame.to_csv(path, index=False)
    return path


def test_each_bad_row_is_rejected_with_its_reason(tmp_path, fashion_rows):
    rows = fashion_rows.copy()
    rows["price"] = "499"
    rows.loc[0, "productDisplayName"] = ""            # empty title
    rows.loc[1, "price"] = "four hundred"             # unparsable price: a warning, not a reject
    rows.loc[3, "id"] = rows.loc[2, "id"]             # duplicate id
    rows.loc[4, "productDisplayName"] = "<b>\U0001F525</b>"  # nothing left after cleaning
    rows.loc[5, "masterCategory"] = ""                # missing category
    path = _write_csv(tmp_path / "catalog.csv", rows)
    # undecodable bytes in one line, and a line with too many fields
    raw = path.read_bytes().splitlines(keepends=True)
    raw[7] = raw[7].replace(b",", b",\xff\xfe", 1)
    raw[8] = raw[8].rstrip(b"\n") + b",extra,fields\n"
    path.write_bytes(b"".join(raw))

    ws = Workspace(tmp_path / "ws")
    mapping = ColumnMapping(id="id", title="productDisplayName", price="price",
                            levels=["masterCategory", "subCategory", "articleType"])
    summary = ingest_file(ws, path, mapping)
    assert summary.accepted + summary.rejected == 40
    assert summary.reject_reasons == {
        "empty title": 1, "duplicate id in file": 1,
        "empty title after cleaning": 1, "missing category (empty, or only the product's own name)": 1,
        "undecodable bytes (not valid UTF-8; pass --encoding if the file uses another encoding)": 1,
        "malformed line: too many columns": 1,
    }
    # the file is UTF-8 (the emoji title): the line with bytes that are not UTF-8 is the reject
    assert summary.warning_reasons == {"price not understood": 1}
    price = ws.df("SELECT price FROM products WHERE product_id = ?", [rows.loc[1, "id"]])["price"]
    assert len(price) == 1 and price.isna().all()
    rejects = ws.df("SELECT * FROM rejects")
    assert len(rejects) == 6 and rejects["raw"].notna().all()
    dup = rejects[rejects["reason"] == "duplicate id in file"]
    assert dup["product_id"].iloc[0] == rows.loc[2, "id"]
    # the raw text stays beside the clean text; other columns are kept in `extra`
    row = ws.df("SELECT title, title_raw, extra FROM products LIMIT 1").iloc[0]
    assert json.loads(row["extra"])["baseColour"]
    assert row["title"] == " ".join(row["title_raw"].split())


def test_ids_already_in_the_workspace_are_rejected(tmp_path, fashion_rows):
    ws = Workspace(tmp_path / "ws")
    ingest_file(ws, _write_csv(tmp_path / "a.csv", fashion_rows.iloc[:20]), FASHION_MAP)
    summary = ingest_file(ws, _write_csv(tmp_path / "b.csv", fashion_rows.iloc[10:30]), FASHION_MAP)
    assert summary.reject_reasons == {"duplicate id: already in the workspace": 10}
    assert ws.scalar("SELECT count(*) FROM products") == 30


def test_missing_mapped_column_lists_available_columns(tmp_path, fashion_rows):
    path = _write_csv(tmp_path / "c.csv", fashion_rows)
    with pytest.raises(WorkbenchError, match=r"title=name.*available columns: id, gender"):
        ingest_file(Workspace(tmp_path / "ws"), path, ColumnMapping(title="name", category="articleType"))


def test_jsonl_and_parquet_ingest_the_same_products(tmp_path, fashion_rows):
    jsonl = tmp_path / "c.jsonl"
    lines = fashion_rows.to_json(orient="records", lines=True).splitlines()
    lines.insert(3, "{not json")
    jsonl.write_text("\n".join(lines) + "\n")
    parquet = tmp_path / "c.parquet"
    fashion_rows.to_parquet(parquet)
    a = ingest_file(Workspace(tmp_path / "a"), jsonl, FASHION_MAP)
    b = ingest_file(Workspace(tmp_path / "b"), parquet, FASHION_MAP)
    assert a.accepted == b.accepted == 40
    assert a.reject_reasons == {"malformed line: invalid JSON (Expecting property name enclosed in double quotes)": 1}
    ta = Workspace(tmp_path / "a").df("SELECT product_id, title, leaf FROM products ORDER BY 1")
    tb = Workspace(tmp_path / "b").df("SELECT product_id, title, leaf FROM products ORDER BY 1")
    pd.testing.assert_frame_equal(ta, tb)


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path, fashion_rows, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    ingest_file(ws, _write_csv(tmp_path / "a.csv", fashion_rows.iloc[:20]), FASHION_MAP)
    before = {t: ws.df(f"SELECT * FROM {t} ORDER BY ALL") for t in ("products", "splits", "categories", "sources")}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "rebuild_taxonomy_and_splits", broken)
    with pytest.raises(OSError):
        ingest_file(ws, _write_csv(tmp_path / "b.csv", fashion_rows.iloc[20:]), FASHION_MAP)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(ws.df(f"SELECT * FROM {table} ORDER BY ALL"), frame)


def test_path_column_with_separator_and_department(tmp_path, fashion_rows):
    rows = fashion_rows.assign(path=fashion_rows["masterCategory"] + " >> " + fashion_rows["subCategory"])
    ws = Workspace(tmp_path / "ws")
    ingest_file(ws, _write_csv(tmp_path / "p.csv", rows), ColumnMapping.parse("id=id,title=productDisplayName,category=path", ">>"),
                options=IngestOptions(department="top", level_names=["Product Category", "Product Family"]))
    taxonomy = load_taxonomy(ws)
    assert taxonomy.level_names == ["Product Category", "Product Family"]
    depts = ws.df("SELECT DISTINCT department FROM products")["department"]
    assert set(depts) == set(rows["masterCategory"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nope.csv"), "--map", "title=x", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not exist" in err
    assert main(["ingest", "--workspace", str(tmp_path)]) == 2


def test_images_dir_points_the_image_column_at_the_photos_folder(tmp_path, capsys):
    """A user export whose image column holds bare file names, with the photos in a folder of their
    own (Flipkart's 1,050-product file: ``<id>.jpg`` in ``flipkart/images/``)."""
    from workbench.catalog.datasets import image_dir

    source = locate("flipkart/flipkart_1050.csv")
    photos = image_dir("flipkart")
    rows = pd.read_csv(source).head(40)
    csv = tmp_path / "export.csv"
    rows.to_csv(csv, index=False)
    mapping = "id=uniq_id,title=product_name,brand=brand,category=product_category_tree,image=image"
    common = ["ingest", str(csv), "--map", mapping, "--sep", ">>", "--max-depth", "2"]
    assert main([*common, "--workspace", str(tmp_path / "with"), "--images-dir", str(photos)]) == 0
    found = Workspace(tmp_path / "with").df("SELECT image FROM products")["image"].tolist()
    assert len(found) == 40 and all(str(photos) in str(f) for f in found[:38] if f)
    assert sum(bool(f) and (photos / str(f).rsplit("/", 1)[-1]).exists() for f in found) >= 38
    assert main([*common, "--workspace", str(tmp_path / "without")]) == 0
    bare = Workspace(tmp_path / "without").df("SELECT image FROM products")["image"].tolist()
    assert all("/" not in str(b) for b in bare if b), "without --images-dir the names stay as the file gives them"
    capsys.readouterr()
    assert main([*common, "--workspace", str(tmp_path / "bad"), "--images-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--images-dir" in err and "no such folder" in err


def test_images_dir_replaces_a_built_in_catalogs_photo_folder(tmp_path, capsys):
    """``--images-dir`` with ``--dataset``: the recipe's own photo folder is replaced by the one
    given (a user's copy of the photos), and every sampled product's photo is found there."""
    import shutil

    common = ["ingest", "--dataset", "fashion", "--sample", "30", "--seed", "3"]
    assert main([*common, "--workspace", str(tmp_path / "recipe")]) == 0
    recipe = Workspace(tmp_path / "recipe").df("SELECT product_id, image FROM products ORDER BY product_id")
    own = [Path(p) for p in recipe["image"] if p]
    assert len(own) >= 25 and all(p.exists() for p in own)
    shop = tmp_path / "shop photos"
    shop.mkdir()
    for p in own:
        shutil.copy(p, shop / p.name)
    assert main([*common, "--workspace", str(tmp_path / "mine"), "--images-dir", str(shop)]) == 0
    mine = Workspace(tmp_path / "mine").df("SELECT product_id, image FROM products ORDER BY product_id")
    assert mine["product_id"].tolist() == recipe["product_id"].tolist()
    moved = [Path(p) for p in mine["image"] if p]
    assert len(moved) == len(own)
    assert all(p.parent == shop.resolve() and p.exists() for p in moved), moved[:3]
    capsys.readouterr()
