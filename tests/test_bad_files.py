"""The files that used to fail, each with the real cause or the right result: mixed line endings,
wrong-extension bytes, UTF-16, BOMs, blank files, directories, wide files, level names, path
separators, duplicate ids, and failed ingests and classifications that write nothing."""

from __future__ import annotations

import gzip
import json
import re
import time

import pandas as pd
import pytest

from workbench import ColumnMapping, Workspace, ingest_file
from workbench.catalog.datasets import locate
from workbench.catalog.ingest import IngestOptions
from workbench.catalog.reader import read_catalog
from workbench.cli.main import main
from workbench.errors import WorkbenchError

LEVELS = ["masterCategory", "subCategory", "articleType"]
FASHION = ColumnMapping(id="id", title="productDisplayName", levels=LEVELS)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Sixty real fashion rows."""
    frame = pd.read_csv(locate("fashion/styles.csv"), dtype=str, keep_default_na=False)
    return frame.sample(60, random_state=5).reset_index(drop=True)


def _tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    tables = ["products", "rejects", "sources", "categories", "splits"]
    tables += ["warnings"] if ws.has_table("warnings") else []
    tables += ["classifications"] if ws.has_table("classifications") else []
    return {t: ws.df(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}


def test_mixed_line_endings_read_with_the_tolerant_reader(tmp_path, rows):
    body = rows.to_csv(index=False, lineterminator="\r\n").encode()
    header, rest = body.split(b"\r\n", 1)
    path = tmp_path / "mixed.csv"
    path.write_bytes(header + b"\n" + rest)          # a header prepended to a Windows export
    raw = read_catalog(path)
    assert raw.info.reader == "tolerant" and len(raw.frame) == 60 and raw.rejects.empty
    summary = ingest_file(Workspace(tmp_path / "ws"), path, FASHION)
    assert summary.accepted == 60 and any("tolerant reader" in n for n in summary.notes)


def test_tolerant_reader_counts_malformed_lines_like_duckdb(tmp_path, rows):
    text = rows.head(10).to_csv(index=False).splitlines()
    text[4] += ",one,field,too,many"
    text[7] = text[7].rsplit(",", 3)[0]                 # missing columns
    lf = "\n".join(text) + "\n"
    (tmp_path / "lf.csv").write_text(lf)
    (tmp_path / "mixed.csv").write_text(text[0] + "\n" + "\r\n".join(text[1:]) + "\r\n", newline="")
    fast, tolerant = read_catalog(tmp_path / "lf.csv"), read_catalog(tmp_path / "mixed.csv")
    assert (fast.info.reader, tolerant.info.reader) == ("duckdb", "tolerant")
    pd.testing.assert_frame_equal(fast.rejects[["row_number", "reason"]], tolerant.rejects[["row_number", "reason"]])
    assert fast.rejects["row_number"].tolist() == [5, 8]
    assert fast.frame.equals(tolerant.frame)


@pytest.mark.parametrize("kind", ["gzip", "parquet", "utf16", "directory", "blank-jsonl", "empty", "sqlite"])
def test_each_file_gets_its_real_cause_or_is_read(tmp_path, rows, kind):
    path = tmp_path / "catalog.csv"
    if kind == "gzip":
        path.write_bytes(gzip.compress(rows.to_csv(index=False).encode()))
    elif kind == "parquet":
        rows.to_parquet(path)
    elif kind == "utf16":
        path.write_bytes(rows.to_csv(index=False).encode("utf-16"))
    elif kind == "directory":
        path.mkdir()
    elif kind == "blank-jsonl":
        path = tmp_path / "catalog.jsonl"
        path.write_text("\n\n  \n\n")
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    ws = Workspace(tmp_path / "ws")
    if kind in ("gzip", "parquet", "utf16"):
        summary = ingest_file(ws, path, FASHION)
        assert summary.accepted == 60
        return
    expected = {"directory": "is a directory, not a catalog file", "blank-jsonl": "holds only blank lines",
                "empty": "is empty (0 bytes)", "sqlite": "an SQLite database"}[kind]
    with pytest.raises(WorkbenchError, match=re.escape(expected)):
        ingest_file(ws, path, FASHION)


def test_a_bom_is_skipped_in_every_format(tmp_path, rows):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.csv").write_bytes(bom + rows.to_csv(index=False).encode())
    (tmp_path / "a.jsonl").write_bytes(bom + rows.to_json(orient="records", lines=True).encode())
    (tmp_path / "a.json").write_bytes(bom + rows.to_json(orient="records").encode())
    for name in ("a.csv", "a.jsonl", "a.json"):
        raw = read_catalog(tmp_path / name)
        assert raw.columns[0] == "id" and len(raw.frame) == 60, name
        assert raw.frame["id"].tolist() == rows["id"].tolist()


def test_reading_cost_follows_the_cells_not_the_columns(tmp_path):
    """A file of 20,000 columns reads in about the time of a long file with as many cells."""
    wide, long = tmp_path / "wide.csv", tmp_path / "long.csv"
    names = ["id", "title", "category"] + [f"attr{i}" for i in range(20_000)]
    with open(wide, "w") as fh:
        fh.write(",".join(names) + "\n")
        for r in range(5):
            fh.write(",".join([str(r), f"Product {r}", "A > B"] + ["x"] * 20_000) + "\n")
    pd.DataFrame({"id": range(20_000), "title": "Product", "category": "A > B", "a": "x", "b": "x"}).to_csv(long, index=False)
    mapping = ColumnMapping(id="id", title="title", category="category")
    t = time.perf_counter()
    summary = ingest_file(Workspace(tmp_path / "w1"), wide, mapping)
    wide_s = time.perf_counter() - t
    t = time.perf_counter()
    ingest_file(Workspace(tmp_path / "w2"), long, mapping)
    long_s = time.perf_counter() - t
    assert summary.accepted == 5
    extra = json.loads(Workspace(tmp_path / "w1").scalar("SELECT extra FROM products LIMIT 1"))
    assert len(extra) == 20_000
    assert wide_s < 3 * long_s + 2, (wide_s, long_s)


def test_other_level_names_are_refused_unless_renamed(tmp_path, rows):
    ws = Workspace(tmp_path / "ws")
    rows.iloc[:30].to_csv(tmp_path / "a.csv", index=False)
    renamed = rows.iloc[30:].rename(columns={"masterCategory": "Category", "subCategory": "Family",
                                             "articleType": "Type"})
    renamed.to_csv(tmp_path / "b.csv", index=False)
    ingest_file(ws, tmp_path / "a.csv", FASHION)
    other = ColumnMapping(id="id", title="productDisplayName", levels=["Category", "Family", "Type"])
    before = _tables(ws)
    with pytest.raises(WorkbenchError, match=r"\(Category, Family, Type\) differ from the workspace's "
                                             r"\(masterCategory, subCategory, articleType\).*--rename-levels"):
        ingest_file(ws, tmp_path / "b.csv", other)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(ws.df(f"SELECT * FROM {table} ORDER BY ALL"), frame)
    ingest_file(ws, tmp_path / "b.csv", other, options=IngestOptions(rename_levels=True))
    assert json.loads(ws.meta("level_names")) == ["Category", "Family", "Type"]


def test_a_separator_that_was_not_given_is_warned_about(tmp_path, rows, capsys):
    rows.assign(path=rows[LEVELS].agg("|".join, axis=1)).to_csv(tmp_path / "p.csv", index=False)
    assert main(["ingest", str(tmp_path / "p.csv"), "--map", "id=id,title=productDisplayName,category=path",
                 "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "--sep '>' leaves every path one level deep" in out and "--sep '|'" in out


def test_duplicate_ids_ignore_surrounding_whitespace_and_follow_the_policy(tmp_path, rows):
    dup = rows.head(6).copy()
    dup.loc[3, "id"] = f"  {dup.loc[0, 'id']} "
    dup.loc[3, "productDisplayName"] = "A later version of the first product"
    dup.to_csv(tmp_path / "d.csv", index=False)
    counts = {}
    for policy in ("reject", "first", "last"):
        ws = Workspace(tmp_path / policy)
        summary = ingest_file(ws, tmp_path / "d.csv", FASHION, options=IngestOptions(on_duplicate=policy))
        title = ws.scalar("SELECT title FROM products WHERE product_id = ?", [dup.loc[0, "id"]])
        counts[policy] = (summary.accepted, summary.rejected, summary.warning_reasons, title)
    first_title = dup.loc[0, "productDisplayName"]
    assert counts["reject"] == (5, 1, {}, first_title)
    assert counts["first"] == (5, 0, {"duplicate id merged": 1}, first_title)
    assert counts["last"] == (5, 0, {"duplicate id merged": 1}, "A later version of the first product")


def test_an_unusable_image_is_emptied_with_a_warning(tmp_path, rows):
    images = rows.head(4).assign(photo=["javascript:alert(1)", '["http://img.example/a.jpg", "http://img.example/b.jpg"]',
                                        "photos/a.jpg", "data:text/html,<script>x</script>"])
    images.to_csv(tmp_path / "i.csv", index=False)
    ws = Workspace(tmp_path / "ws")
    mapping = ColumnMapping(id="id", title="productDisplayName", levels=LEVELS, image="photo")
    summary = ingest_file(ws, tmp_path / "i.csv", mapping)
    assert (summary.accepted, summary.warning_reasons) == (4, {"image not usable": 2})
    got = ws.df("SELECT product_id, image FROM products").set_index("product_id")["image"]
    assert got[images["id"]].fillna("-").tolist() == ["-", "http://img.example/a.jpg", "photos/a.jpg", "-"]


def test_mapping_errors_name_the_closest_column(tmp_path, rows):
    rows.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(WorkbenchError, match=r"title=product_display_name not in the file \(did you mean "
                                             r"productDisplayName\?\); available columns: id, gender"):
        ingest_file(Workspace(tmp_path / "ws"), tmp_path / "c.csv",
                    ColumnMapping(title="product_display_name", levels=LEVELS))


def test_a_failed_ingest_writes_nothing_and_names_the_reasons(tmp_path, rows, capsys):
    ws = Workspace(tmp_path / "ws")
    rows.iloc[:20].to_csv(tmp_path / "a.csv", index=False)
    ingest_file(ws, tmp_path / "a.csv", FASHION)
    before = _tables(ws)
    bad = rows.iloc[20:].assign(productDisplayName="")
    bad.loc[bad.index[:5], "masterCategory"] = ""
    bad.to_csv(tmp_path / "b.csv", index=False)
    assert main(["ingest", str(tmp_path / "b.csv"), "--map", "id=id,title=productDisplayName,levels="
                 + "|".join(LEVELS), "--workspace", str(ws.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "no product of b.csv was accepted (40 rows rejected): 40 x empty title (e.g. row 1: {" in err
    assert "nothing was written" in err
    for table, frame in before.items():
        pd.testing.assert_frame_equal(ws.df(f"SELECT * FROM {table} ORDER BY ALL"), frame)


def test_a_failed_classify_writes_nothing_and_prints_its_reasons(tmp_path, rows, capsys):
    from workbench import ingest_dataset
    from workbench.runs.training import train_models

    ws = Workspace(tmp_path / "ws")
    ingest_dataset(ws, "fashion", sample=400, seed=0)
    train_models(ws, ["tfidf"], "random", seed=0)
    before = _tables(ws)
    arrivals = rows.drop(columns=LEVELS).assign(productDisplayName="  ")
    arrivals.to_csv(tmp_path / "new.csv", index=False)
    assert main(["classify", str(tmp_path / "new.csv"), "--dataset", "fashion", "--workspace", str(ws.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no product of new.csv was accepted (60 rows rejected): 60 x empty title" in err
    for table, frame in before.items():
        pd.testing.assert_frame_equal(ws.df(f"SELECT * FROM {table} ORDER BY ALL"), frame)


def test_unmapped_columns_with_odd_line_breaks_cost_no_product(tmp_path):
    """A column left out of ``--map`` is kept per product as JSON; a seller's text in it with a
    Unicode line or paragraph separator, NEL or form feed (Flipkart's descriptions have them)
    must neither shift the rows nor lose a product."""
    odd = ["plain", "line\u2028separator", "next\x85line", "form\x0cfeed", "para\u2029graph", "cr\rlf\r\nmix"]
    frame = pd.DataFrame({"sku": [f"p{i}" for i in range(60)],
                          "name": [f"Cotton shirt {i}" if i % 2 else f"Leather shoe {i}" for i in range(60)],
                          "path": ["Apparel>Shirts" if i % 2 else "Footwear>Shoes" for i in range(60)],
                          "notes": [odd[i % len(odd)] + f" #{i}" for i in range(60)]})
    path = tmp_path / "odd_breaks.csv"
    frame.to_csv(path, index=False)
    ws = Workspace(tmp_path / "ws")
    summary = ingest_file(ws, path, ColumnMapping(id="sku", title="name", category="path"))
    assert summary.accepted == 60 and summary.rejected == 0
    stored = ws.df("SELECT product_id, extra FROM products ORDER BY product_id")
    notes = {r.product_id: json.loads(r.extra)["notes"] for r in stored.itertuples()}
    want = {s: n for s, n in zip(frame["sku"], frame["notes"])}
    assert len(notes) == 60
    # the CSV reader itself turns a bare CR into a line end inside quotes; every other break stays
    assert all(notes[k] == v for k, v in want.items() if "\r" not in v)
