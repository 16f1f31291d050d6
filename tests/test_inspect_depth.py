"""``workbench inspect``: the depth cut validated on the file's own rows (one line per depth a
person reads, the same figures in ``--json``), no ``--min-count`` proposal, on the catalog zoo
and on a rough export of one of its catalogs (semicolons, cp1252, CRLF, hostile titles)."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd

from workbench import Workspace
from workbench.catalog.datasets import locate
from workbench.catalog.depth_choice import BAR, choose_depth
from workbench.catalog.inspect import inspect_file
from workbench.catalog.inspect_report import format_inspection
from workbench.cli.main import main

HOSTILE = ['<img src=x onerror=alert(1)> Analog Watch', '=HYPERLINK("http://evil.example","Bag") Leather Bag']


def _inspect_json(path, capsys) -> dict:
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_flipkart_deep_tree_is_cut_where_validated_accuracy_falls_under_the_bar(capsys):
    path = locate("flipkart/flipkart_20k.csv")
    result = _inspect_json(path, capsys)
    category = result["guess"]["category"]
    choice = category["depth_choice"]
    assert (choice["depth"], choice["deepest"], choice["bar"], choice["rows"]) == (2, 7, BAR, 5000)
    figures = {f["depth"]: f for f in choice["figures"]}
    assert [f["chosen"] for f in choice["figures"]] == [False, True, False, False, False, False, False]
    assert figures[1]["accuracy"] > figures[2]["accuracy"] >= BAR > figures[3]["accuracy"]
    assert all(figures[d]["accuracy"] is None for d in (4, 5, 6, 7))  # not fitted below the first miss
    assert figures[2]["leaves"] < figures[3]["leaves"] < figures[4]["leaves"]
    assert category["options"]["max_depth"] == 2 and "--max-depth 2 --strip-name-node" in result["command"]
    assert category["rare_leaves"]["min_count"] is None and "--min-count" not in result["command"]
    text = format_inspection(result)
    assert ("               depth cut: the deepest level a quick model tells apart with validated accuracy >= 0.85\n"
            "               (char tfidf of title + brand, LinearSVC; 5,000 rows, 3/4 train, 1/4 validation by title)\n"
            "                 depth 1: ") in text
    lines = [line.strip() for line in text.splitlines() if line.strip()[:7] in {f"depth {d}" for d in range(1, 9)}]
    assert lines == [
        "depth 1: 30 leaves, validated accuracy 0.93, at or above the bar 0.85",
        "depth 2: 145 leaves, validated accuracy 0.89 -> chosen (the deepest at or above the bar 0.85)",
        "depth 3: 476 leaves, validated accuracy 0.82, below the bar 0.85",
        "depth 4: 1,081 leaves, not validated (depth 3 is already below the bar)",
        "depth 5: 1,520 leaves, not validated (depth 3 is already below the bar)",
        "depth 6: 1,940 leaves, not validated (depth 3 is already below the bar)",
        "depth 7: 1,941 leaves, not validated (depth 3 is already below the bar)",
    ]
    rare = " ".join(line.strip() for line in text.split("no --min-count:")[1].split("\n\n")[0].splitlines())
    assert rare == ("94 of 192 leaves hold fewer than 10 products; they are kept as they are (a pooled 'Other' "
                    "leaf is a class no model learns): train --models auto, which predicts rare leaves through "
                    "their parent")


def test_fashion_and_tokopedia_keep_their_deepest_level(capsys):
    fashion = _inspect_json(locate("fashion/styles.csv"), capsys)
    choice = fashion["guess"]["category"]["depth_choice"]
    assert (choice["depth"], choice["deepest"]) == (3, 3)
    assert all(f["accuracy"] >= BAR for f in choice["figures"]) and choice["figures"][-1]["chosen"]
    assert "--max-depth" not in fashion["command"] and "--min-count" not in fashion["command"]
    assert ("depth 3: 113 leaves, validated accuracy 0.95 -> chosen (the deepest level)"
            in format_inspection(fashion))
    assert main(["inspect", str(locate("tokopedia/tokopedia_16k.csv"))]) == 0
    text = capsys.readouterr().out
    assert "(char tfidf of title, LinearSVC; 5,000 rows, 3/4 train, 1/4 validation by title)" in text  # no brand
    assert "depth 1: 2 leaves, validated accuracy 0.97, at or above the bar 0.85" in text
    assert "depth 3: 8 leaves, validated accuracy 0.93 -> chosen (the deepest level)" in text
    assert "no --min-count: every leaf holds at least 10 products" in text
    assert "--max-depth" not in text.split("suggested command")[1]


def test_a_rough_export_with_hostile_titles_gets_the_same_depth(tmp_path, capsys):
    original = locate("flipkart/flipkart_1050.csv")
    rows = pd.read_csv(original, dtype=str, keep_default_na=False)
    rows.loc[0, "product_name"], rows.loc[1, "product_name"] = HOSTILE
    path = tmp_path / "export.csv"
    rows.to_csv(path, index=False, sep=";", encoding="cp1252", errors="replace", lineterminator="\r\n")
    assert b"\r\n" in path.read_bytes()[:5000]
    result = _inspect_json(path, capsys)
    assert (result["delimiter"], result["encoding"], result["rows"]) == (";", "cp1252", 1050)
    same = inspect_file(original)["guess"]["category"]["depth_choice"]
    choice = result["guess"]["category"]["depth_choice"]
    assert choice["depth"] == same["depth"] == 2 and choice["rows"] == 1050
    assert [f["leaves"] for f in choice["figures"]] == [f["leaves"] for f in same["figures"]]
    assert abs(choice["figures"][1]["accuracy"] - same["figures"][1]["accuracy"]) <= 0.01
    text = format_inspection(result)
    assert HOSTILE[0] in text  # shown as the text it is (a terminal runs no HTML)
    assert "depth 2: 62 leaves, validated accuracy" in text and "-> chosen" in text
    assert "no --min-count: " in text and result["guess"]["category"]["rare_leaves"]["threshold"] == 5
    # the pasted command ingests every row: hostile titles are text, not markup or formulas
    args = shlex.split(result["command"])
    assert "--delimiter" in args and "--max-depth" in args and "--min-count" not in args
    assert main(args[1:] + ["--workspace", str(tmp_path / "ws")]) == 0
    assert "1,050 products accepted" in capsys.readouterr().out
    ws = Workspace(tmp_path / "ws")
    assert ws.scalar("SELECT max(len(string_split(leaf, ' > '))) FROM products") == 2
    assert ws.scalar("SELECT count(*) FROM products WHERE title LIKE '%HYPERLINK%'") == 1
    # 30 rows: no cut is validated, so none is proposed, and the report says why
    rows.head(30).to_csv(tmp_path / "tiny.csv", index=False)
    assert main(["inspect", str(tmp_path / "tiny.csv")]) == 0
    text = capsys.readouterr().out
    assert "not validated -> kept (too few rows to validate a cut: 30 with a category, 50 needed)" in text
    assert "--max-depth" not in text.split("suggested command")[1]


def test_a_hard_catalog_still_gets_a_depth_with_a_lowered_bar():
    # the kind is in the title, the second level is a coin toss: depth 1 is chosen
    titles = [f"{kind} item {i}" for i in range(300) for kind in ("red shirt", "blue mug")]
    coin = np.random.default_rng(1).choice(["A", "B"], len(titles))
    paths = [("Clothing" if "shirt" in t else "Kitchen", c) for t, c in zip(titles, coin)]
    choice = choose_depth(titles, paths)
    first, second = choice.figures
    assert first.accuracy > 0.95 and second.accuracy < 0.7
    assert choice.depth == 1 and choice.bar == BAR and first.chosen and not second.chosen
    assert first.line() == f"depth 1: 2 leaves, validated accuracy {first.accuracy:.2f} -> chosen " \
                           "(the deepest at or above the bar 0.85)"
    assert second.line() == f"depth 2: 4 leaves, validated accuracy {second.accuracy:.2f}, below the bar 0.85"
    # depth 1 itself is a coin toss: the bar drops to 5 points under it, a depth is still proposed
    hard = choose_depth(titles, [(c, p[0]) for c, p in zip(coin, paths)])
    assert hard.figures[0].accuracy < 0.7 and hard.bar == round(hard.figures[0].accuracy - 0.05, 2)
    assert sum(f.chosen for f in hard.figures) == 1 and "-> chosen" in hard.figures[hard.depth - 1].line()
    assert choose_depth(["a", "b"], [(), ()]) is None
    few = choose_depth(titles[:30], paths[:30])  # too few rows to validate a cut: none is proposed
    assert few.depth == few.deepest == 2 and [f.accuracy for f in few.figures] == [None, None]
    assert few.figures[0].line() == "depth 1: 2 leaves, not validated (too few rows)"
    assert few.figures[1].line() == ("depth 2: 4 leaves, not validated -> kept (too few rows to validate a cut: "
                                     "30 with a category, 50 needed)")
