"""``workbench inspect``: on each shared catalog its suggested command line, pasted as it is,
ingests the catalog with the same result as the built-in recipe; the report a person reads."""

from __future__ import annotations

import json
import shlex

import pandas as pd
import pytest

from workbench import Workspace, ingest_dataset
from workbench.catalog.datasets import locate
from workbench.catalog.inspect import inspect_file
from workbench.catalog.mapping import recipe
from workbench.cli.main import main
from test_catalog_zoo import count_records

COMPARED = "product_id, title, category_path, leaf, price, brand, description_raw, department"


#: where the validated proposal differs from the built-in recipe on purpose: Flipkart's quick model
#: falls under the 0.85 bar at depth 3, and no --min-count is proposed (the recipes keep theirs so
#: that the built-in labels stay as published)
VALIDATED_DEPTH = {"fashion": None, "flipkart": 2, "flipkart-1050": 2, "tokopedia": None}


@pytest.mark.parametrize("dataset", ["fashion", "flipkart", "flipkart-1050", "tokopedia"])
def test_the_suggested_command_ingests_like_the_recipe(tmp_path, dataset, capsys):
    rec = recipe(dataset)
    path = locate(rec.relpath)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    command = out.split("suggested command (copy it; check the columns above first)\n")[1].strip()
    args = shlex.split(command)
    assert args[:3] == ["workbench", "ingest", str(path)]
    assert "--min-count" not in args and "--merge" not in args
    depth = VALIDATED_DEPTH[dataset]
    if depth is None:
        assert "--max-depth" not in args
    else:  # the pasted command with the recipe's depth and min-count instead of the validated proposal
        at = args.index("--max-depth")
        assert args[at + 1] == str(depth)
        args = args[:at] + args[at + 2:] + ["--max-depth", str(rec.max_depth), "--min-count", str(rec.min_count),
                                            "--merge", rec.merge]
    assert main(args[1:] + ["--workspace", str(tmp_path / "pasted")]) == 0
    pasted = capsys.readouterr().out
    by_recipe = ingest_dataset(Workspace(tmp_path / "recipe"), dataset)
    # every row of the shared file is accounted for (rows counted with Python's csv module)
    assert by_recipe.accepted + by_recipe.rejected == count_records(path)
    assert by_recipe.accepted > 0.95 * count_records(path)
    a, b = Workspace(tmp_path / "pasted"), Workspace(tmp_path / "recipe")
    assert f"{by_recipe.accepted:,} products accepted, {by_recipe.rejected:,} rejected" in pasted
    for sql in (f"SELECT {COMPARED} FROM products ORDER BY product_id",
                "SELECT * FROM categories ORDER BY node_id", "SELECT * FROM category_merges ORDER BY ALL",
                "SELECT reason, count(*) AS n FROM rejects GROUP BY reason ORDER BY reason",
                "SELECT * FROM splits ORDER BY ALL"):
        pd.testing.assert_frame_equal(a.df(sql), b.df(sql))


def test_inspect_reports_what_a_person_needs_on_tokopedia(capsys):
    path = locate("tokopedia/tokopedia_16k.csv")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format      CSV, delimiter ',', encoding utf-8, not compressed" in out
    assert "rows        16,000" in out
    assert "nama    text            0.0%    15,989  COOLZY-PRO PORTABLE AC | " in out
    assert "  category     leaf: path, separator ' > '" in out
    assert "                   3            16,000               8" in out
    assert "  id           (none: ids are generated from the file name and row number)" in out
    assert main(["inspect", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    category = result["guess"]["category"]
    assert category["depth_histogram"] == {"3": 16000} and category["distinct_per_depth"] == {"1": 2, "2": 4, "3": 8}
    assert result["guess"]["title"] == "nama" and result["rows"] == 16000


def test_inspect_finds_delimiter_encoding_price_and_json_paths(tmp_path):
    real = pd.read_csv(locate("flipkart/flipkart_1050.csv"), dtype=str, keep_default_na=False).head(300)
    real["retail_price"] = "€ " + real["retail_price"].str.replace(".0", ",00", regex=False)  # "€ 1899,00"
    real["product_name"] = real["product_name"] + " – Édition spéciale"
    path = tmp_path / "shop.csv"
    real.to_csv(path, index=False, sep=";", encoding="cp1252", errors="replace")
    result = inspect_file(path)
    assert (result["delimiter"], result["encoding"]) == (";", "cp1252")
    types = {c["name"]: c["type"] for c in result["columns"]}
    assert types["retail_price"] == "price" and types["product_category_tree"] == "JSON list"
    assert result["guess"]["category"]["sep"] == ">>" and result["guess"]["price"] == "retail_price"
    assert "--delimiter ';' --encoding cp1252" in result["command"]
    assert main(shlex.split(result["command"])[1:] + ["--workspace", str(tmp_path / "ws")]) == 0
    ws = Workspace(tmp_path / "ws")
    assert ws.scalar("SELECT count(*) FROM products WHERE price_currency = 'EUR' AND price = round(price)") > 250
    assert ws.scalar("SELECT count(*) FROM products WHERE title LIKE '%Édition spéciale'") > 250


def test_inspect_says_the_language_and_the_encoder_it_suggests(capsys):
    assert main(["inspect", str(locate("tokopedia/tokopedia_16k.csv"))]) == 0
    out = capsys.readouterr().out
    assert "language    titles look not English" in out and "encoder multilingual-e5-small" in out
    english = inspect_file(locate("flipkart/flipkart_1050.csv"))
    assert english["language"]["language"] == "English" and english["language"]["encoder"] == "default"


def test_inspect_proposes_typed_fields_and_warns_about_repeated_ids_and_titles(tmp_path, capsys):
    real = pd.read_csv(locate("flipkart/flipkart_1050.csv"), dtype=str, keep_default_na=False).head(300)
    result = inspect_file(locate("flipkart/flipkart_1050.csv"))
    g = result["guess"]
    assert (g["id"], g["description"], g["brand"]) == ("uniq_id", "description", "brand")
    assert g["price"] in ("retail_price", "discounted_price")
    assert result["warnings"] == [] or all("id" not in w.split(" rows")[0] for w in result["warnings"])
    for field in ("id=uniq_id", "description=description", "brand=brand", "price="):
        assert field in result["command"]
    # 12 rows repeat an id and a title of the rows before them
    repeated = pd.concat([real, real.head(12).assign(product_rating="4.5")], ignore_index=True)
    path = tmp_path / "repeats.csv"
    repeated.to_csv(path, index=False)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  id           uniq_id (96.15% unique: repeated ids are rejected (or --on-duplicate))" in out
    assert f"warning     12 rows repeat an id of column 'uniq_id' (e.g. {real['uniq_id'][0]!r})" in out
    assert "--on-duplicate first (or last) merges them instead" in out
    assert "rows repeat a title" in out and "grouped split" in out
    assert "id=uniq_id" in out
    types = {c["name"]: c["type"] for c in inspect_file(path)["columns"]}
    assert types["product_rating"] != "price"


def test_ratings_and_counts_are_not_typed_as_prices(tmp_path):
    real = pd.read_csv(locate("flipkart/flipkart_1050.csv"), dtype=str, keep_default_na=False).head(200)
    real["review_count"] = [f"{1000 + 37 * i:,}" for i in range(len(real))]  # "1,037": reads like a price
    real["rating"] = [f"{3 + (i % 20) / 10:.1f} stars" for i in range(len(real))]
    real["sold"] = ["Rp " + str(i) for i in range(len(real))]
    real["offer_price"] = [f"₹{500 + i:,}" for i in range(len(real))]
    real = real.drop(columns=["retail_price", "discounted_price"])
    path = tmp_path / "counts.csv"
    real.to_csv(path, index=False)
    result = inspect_file(path)
    types = {c["name"]: c["type"] for c in result["columns"]}
    assert types["review_count"] != "price" and types["rating"] != "price" and types["sold"] != "price"
    assert types["offer_price"] == "price"
    assert "review_count" not in result["command"] and "rating" not in (result["guess"]["price"] or "")


def test_inspect_finds_the_photos_folder_and_the_command_finds_the_photos(tmp_path, capsys):
    """An export naming bare photo files kept in a sub-folder (Flipkart's real rows and photos,
    copied): inspect says where they are and proposes --images-dir; its command stores them so
    that every product's photo is found. Names found nowhere, URLs and hostile names are told."""
    import shutil

    from workbench.catalog.datasets import image_dir

    rows = pd.read_csv(locate("flipkart/flipkart_1050.csv")).head(12)
    shop = tmp_path / "shop"
    (shop / "photos").mkdir(parents=True)
    (shop / "other").mkdir()
    for name in rows["image"]:
        shutil.copy(image_dir("flipkart") / name, shop / "photos" / name)
    rows.to_csv(shop / "export.csv", index=False)
    capsys.readouterr()
    assert main(["inspect", str(shop / "export.csv")]) == 0
    out = capsys.readouterr().out
    assert f"12 of the first 12 names found in {shop / 'photos'}/" in out
    command = [line.strip() for line in out.splitlines() if line.strip().startswith("workbench ingest")][0]
    argv = shlex.split(command)
    assert argv[argv.index("--images-dir") + 1] == str(shop / "photos")
    assert main([*argv[1:], "--workspace", str(tmp_path / "ws")]) == 0
    images = Workspace(tmp_path / "ws").df("SELECT image FROM products")["image"]
    assert len(images) == 12 and all(str(shop / "photos") in str(i) for i in images)
    # names next to the catalog: nothing to propose
    for name in rows["image"]:
        shutil.copy(shop / "photos" / name, shop / name)
    here = inspect_file(shop / "export.csv")
    assert here["photos"]["folder"] is None and "--images-dir" not in here["command"]
    # names found nowhere (and a hostile one): said, no folder proposed
    lost = rows.assign(image=["missing-%d.jpg" % i for i in range(11)] + ["../../etc/passwd"])
    lost.to_csv(shop / "lost.csv", index=False)
    result = inspect_file(shop / "lost.csv")
    assert "in none of its folders" in result["photos"]["text"] and "--images-dir" not in result["command"]
    assert result["photos"]["checked"] == 11
    # URLs are downloaded later (embed --fetch-images), not looked for on disk
    urls = rows.assign(image=["https://img.example.com/%d.jpg" % i for i in range(12)])
    urls.to_csv(shop / "urls.csv", index=False)
    assert inspect_file(shop / "urls.csv").get("photos") is None
