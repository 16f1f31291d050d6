"""``--min-count`` on a user's file: rare leaves merge into their parent and never leave their
top-level category (merge ``family``, the default); no product is lost and the ingest report
says what went where. The built-in recipes keep ``parent`` (their published labels)."""

from __future__ import annotations

import pytest

from workbench import Workspace
from workbench.catalog.catalog_taxonomy import build_catalog_taxonomy, merge_rare
from workbench.catalog.datasets import locate
from workbench.catalog.ingest import IngestOptions
from workbench.catalog.mapping import RECIPES
from workbench.cli.main import main
from workbench.errors import WorkbenchError

PATHS = [("A", "B", "x")] * 5 + [("A", "B", "y")] * 3 + [("A", "C", "z")] * 4 + [("A", "C", "w")] + \
    [("D", "E", "f")] + [("D", "E", "g")] + [("Q",)]


def test_family_merge_keeps_every_product_in_its_top_level_category():
    merged, merges = merge_rare(PATHS, 3)  # the default is "family"
    assert ("Other",) not in merged and len(merged) == len(PATHS)
    assert [m[0] for m in merged] == [p[0] for p in PATHS]  # nobody leaves their top-level category
    assert merged.count(("D",)) == 2 and merges["D > E > f"] == "D"  # a rare family collapses into its parent
    assert merged.count(("Q",)) == 1 and "Q" not in merges  # a rare top-level category stays itself
    built = build_catalog_taxonomy(PATHS, min_count=3)
    assert built.counts == {"A > B > x": 5, "A > B > y": 3, "A > C > z": 4, "A > Other A": 1, "D": 2, "Q": 1}
    assert built.merges["A > C > w"] == "A > Other A"  # the small rest of A stays in A
    assert "Other" not in built.taxonomy.nodes
    # "parent" (the built-in recipes) still pools the rare top of the tree into "Other"
    assert build_catalog_taxonomy(PATHS, min_count=3, merge="parent").counts["Other"] == 4
    with pytest.raises(WorkbenchError, match="merge must be one of family, parent, other, not 'pooled'"):
        merge_rare(PATHS, 3, "pooled")


def test_defaults_family_for_a_file_and_parent_for_the_built_ins():
    assert IngestOptions().merge == "family"
    assert {r.merge for r in RECIPES.values()} == {"parent"}


def _ingest(tmp_path, name, capsys, *extra):
    args = ["ingest", str(locate("flipkart/flipkart_1050.csv")), "--map",
            "id=uniq_id,title=product_name,description=description,brand=brand,price=retail_price,"
            "category=product_category_tree,image=image", "--sep", ">>", "--strip-name-node", "--max-depth", "3",
            "--min-count", "5", "--workspace", str(tmp_path / name), *extra]
    assert main(args) == 0
    return Workspace(tmp_path / name), capsys.readouterr().out


def test_min_count_on_a_file_merges_into_the_parent_and_says_where(tmp_path, capsys):
    ws, out = _ingest(tmp_path, "family", capsys)
    assert "flipkart_1050.csv: 1,050 products accepted, 0 rejected" in out
    assert ws.scalar("SELECT count(*) FROM products WHERE leaf IS NOT NULL") == 1050
    assert ws.scalar("SELECT count(*) FROM categories WHERE node_id = 'Other'") == 0
    # every product's leaf sits under the top-level category of its own path
    assert ws.scalar("SELECT count(*) FROM products WHERE split_part(leaf, ' > ', 1) "
                     "<> split_part(category_path, ' > ', 1)") == 0
    # 59 brand nodes: 'Luba' and 'LUBA Wrist Watches' (and 'fastrack'/'Fastrack') are one node each
    assert "  merged into 'Watches > Wrist Watches > Other Wrist Watches': 59 categories, 79 products\n" in out
    assert "... and 18 more merge targets (all of them in category_merges)" in out
    assert ("  1 leaf stays under --min-count 5 (products kept: nowhere further up to merge it), "
            "e.g. 'Watches > Other Watches' (1)") in out
    merges = ws.df("SELECT merged_into, sum(n_products) AS n FROM category_merges GROUP BY ALL")
    assert dict(zip(merges["merged_into"], merges["n"]))["Watches > Wrist Watches > Other Wrist Watches"] == 79
    # the same file with --merge parent: the pooled top-level "Other" the built-in recipes keep
    legacy, out = _ingest(tmp_path, "parent", capsys, "--merge", "parent")
    assert legacy.scalar("SELECT count(*) FROM products WHERE leaf = 'Other'") == 1
    assert "1 leaf stays under --min-count 5 (products kept: nowhere further up to merge it), e.g. 'Other' (1)" in out
