"""Tests of workbench.catalog.taxonomy_sources on the real Shopify, Google and Best Buy files.

Expected counts and pairs were read off the files (grep / the datasets README), not from a run.
"""

from __future__ import annotations

import json

import pytest

from workbench.errors import WorkbenchError
from workbench.paths import taxonomy_home
from workbench.catalog.taxonomy import Taxonomy
from workbench.catalog.taxonomy_sources import (SourceTaxonomy, load_bestbuy, load_google, load_shopify,
                                        load_source, load_taxonomy_file)

HOME = taxonomy_home()
needs_files = pytest.mark.skipif(
    not (HOME / "shopify" / "categories.txt").is_file(),
    reason=f"public taxonomies not found under {HOME}; set WORKBENCH_TAXONOMY_HOME")
GID = "gid://open-taxonomy/TaxonomyCategory/"


@pytest.fixture(scope="module")
def shopify():
    return load_shopify()


@pytest.fixture(scope="module")
def google():
    return load_google()


@pytest.fixture(scope="module")
def bestbuy():
    return load_bestbuy()


@needs_files
def test_shopify_counts_and_pairs(shopify):
    t = shopify.taxonomy
    assert isinstance(shopify, SourceTaxonomy) and isinstance(t, Taxonomy)
    assert len(t) == 10_282 == len(shopify.source_ids)     # README: 10,282 categories
    assert t.depth == 8                                    # README: depth up to 8
    assert len(t.roots) == 25                              # 25 lines without " > "
    assert shopify.version == "0.17.0"
    activewear = "Apparel & Accessories > Clothing > Activewear"
    assert t.parent(activewear) == "Apparel & Accessories > Clothing"
    assert f"{activewear} > Activewear Pants" in t.children(activewear)
    joggers = f"{activewear} > Activewear Pants > Joggers"
    assert t.level(joggers) == 5 and t.is_leaf(joggers)
    assert shopify.source_id(activewear) == GID + "aa-1-1"
    assert shopify.source_id("Apparel & Accessories > Clothing") == GID + "aa-1"
    assert shopify.node_of("aa-1-1-1-1") == joggers == shopify.node_of(GID + "aa-1-1-1-1")
    dresses = "Apparel & Accessories > Clothing > Dresses"
    sneakers = "Apparel & Accessories > Shoes > Sneakers"
    assert shopify.node_of("aa-1-4") == dresses and shopify.node_of("aa-8-8") == sneakers
    assert t.lca(dresses, sneakers) == "Apparel & Accessories"
    assert t.distance(dresses, sneakers) == 4
    assert t.distance(joggers, dresses) == 4               # up 3 to Clothing, down 1
    assert not shopify.duplicates and not shopify.untranslated


@needs_files
def test_shopify_every_parent_id_is_the_parent_node(shopify):
    t = shopify.taxonomy
    for node, gid in list(shopify.source_ids.items())[:2000]:
        short = gid.rsplit("/", 1)[1]
        parent = t.parent(node)
        if "-" in short:
            assert shopify.source_ids[parent] == GID + short.rsplit("-", 1)[0]
        else:
            assert parent is None


@needs_files
def test_shopify_german_names():
    de = load_shopify(language="de")
    t = de.taxonomy
    assert len(t) == 10_282 and de.language == "de"
    assert de.node_of("aa-8-8") == "Bekleidung & Accessoires > Schuhe > Sneaker"
    assert t.parent(de.node_of("aa-1-1")) == "Bekleidung & Accessoires > Bekleidung"
    # aa-1-1-1-1 has an empty German name: the English name is kept and reported
    joggers = de.node_of("aa-1-1-1-1")
    assert t.name(joggers) == "Joggers" and joggers in de.untranslated
    # Floor Clocks and Grandfather Clocks are both "Standuhren" in German: kept apart by id
    floor, grand = de.node_of("hg-3-17-3-1"), de.node_of("hg-3-17-3-2")
    assert floor == "Heim & Garten > Dekoration > Uhren > Standuhren > Standuhren [hg-3-17-3-1]"
    assert grand == "Heim & Garten > Dekoration > Uhren > Standuhren > Standuhren [hg-3-17-3-2]"
    assert t.distance(floor, grand) == 2
    with pytest.raises(WorkbenchError, match="'xx'.*de"):
        load_shopify(language="xx")


@needs_files
def test_google_counts_and_pairs(google):
    t = google.taxonomy
    assert len(t) == 5_595 == len(google.source_ids)       # README: 5,595 (en-US)
    assert t.depth == 7 and len(t.roots) == 21
    assert google.version == "2021-09-21"
    assert google.node_of(3237) == "Animals & Pet Supplies > Live Animals"
    assert t.parent("Animals & Pet Supplies > Live Animals") == "Animals & Pet Supplies"
    assert google.source_id("Animals & Pet Supplies") == "1"
    shirts, dresses = google.node_of("212"), google.node_of("2271")
    assert t.parent(shirts) == google.node_of("1604") == "Apparel & Accessories > Clothing"
    assert t.lca(shirts, dresses) == "Apparel & Accessories > Clothing"
    assert t.distance(shirts, dresses) == 2
    yachts = google.node_of("5644")
    assert yachts == "Vehicles & Parts > Vehicles > Watercraft > Yachts" and t.level(yachts) == 4
    assert t.lca(yachts, "Animals & Pet Supplies > Live Animals") is None
    assert t.distance(yachts, "Animals & Pet Supplies > Live Animals") == 6


@needs_files
def test_google_german():
    de = load_google(locale="de-DE")
    assert len(de.taxonomy) == 5_427 and de.version == "2015-02-19"
    assert de.node_of(4679) == "Baby & Kleinkind > Baby Badebedarf > Babybadewannen"
    with pytest.raises(WorkbenchError, match="taxonomy-with-ids.fr-FR.txt"):
        load_google(locale="fr-FR")


@needs_files
def test_bestbuy_structure(bestbuy):
    raw = json.loads((HOME / "bestbuy" / "categories.json").read_text(encoding="utf-8"))
    assert len(raw) == 4_584                               # README: 4,584
    named = [e for e in raw if all(x["name"] for x in e["path"])]
    prefixes = {tuple(x["name"].strip() for x in e["path"][:i])
                for e in named for i in range(1, len(e["path"]) + 1)}
    t = bestbuy.taxonomy
    assert len(t) == len(prefixes)                         # ancestors without an entry included
    assert bestbuy.skipped == ("pcmcat748300293073",)      # the one entry with name null
    assert t.depth == 6 and len(t.roots) == 43
    bags = bestbuy.node_of("abcat0515028")
    assert bags == ("Computers & Tablets > Computer Accessories & Peripherals > Laptop Accessories"
                    " > Laptop Bags & Cases")
    assert bestbuy.source_id(t.parent(bags)) == "abcat0515025"
    ram = bestbuy.node_of("abcat0506002")
    assert t.lca(bags, ram) == "Computers & Tablets" and t.distance(bags, ram) == 6
    # two Best Buy ids with the same name path share one node
    kitchenaid = "Name Brands > KitchenAid"
    assert set(bestbuy.duplicates[kitchenaid]) == {"pcmcat143000050025", "pcmcat318300050003"}
    assert bestbuy.node_of("pcmcat143000050025") == bestbuy.node_of("pcmcat318300050003") == kitchenaid
    # names are stripped of the spaces some entries carry
    assert all(n == n.strip() for node in t.nodes for n in t.path(node))


@needs_files
def test_dispatch(shopify):
    t = load_taxonomy_file("google", level_names=["L1", "L2"])
    assert isinstance(t, Taxonomy) and t.level_names[:3] == ["L1", "L2", "level_3"]
    assert load_taxonomy_file("Shopify").leaves == shopify.taxonomy.leaves
    assert len(load_source("shopify", language="fr").taxonomy) == 10_282
    with pytest.raises(WorkbenchError, match="unknown taxonomy kind"):
        load_taxonomy_file("amazon")
    with pytest.raises(WorkbenchError, match="no option locale"):
        load_source("bestbuy", locale="en-US")
    with pytest.raises(WorkbenchError, match="not a category id"):
        shopify.node_of("zz-9")


def test_missing_file_names_path_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_TAXONOMY_HOME", str(tmp_path / "nowhere"))
    for kind in ("shopify", "google", "bestbuy"):
        with pytest.raises(WorkbenchError) as err:
            load_taxonomy_file(kind)
        message = str(err.value)
        assert str(tmp_path / "nowhere" / kind) in message and "WORKBENCH_TAXONOMY_HOME" in message
    with pytest.raises(WorkbenchError, match="categories.json"):
        load_bestbuy(tmp_path)                              # a folder without the file


def test_separator_inside_a_name(tmp_path):
    # no shipped file has one; a name holding " > " becomes one level with " / "
    (tmp_path / "categories.txt").write_text(
        "# Format\ngid://shopify/TaxonomyCategory/aa : Apparel\n"
        "gid://shopify/TaxonomyCategory/aa-1 : Apparel > Tops > Tees\n"
        "gid://shopify/TaxonomyCategory/aa-1-1 : Apparel > Tops > Tees > V-neck\n", encoding="utf-8")
    s = load_shopify(tmp_path / "categories.txt")
    assert s.taxonomy.leaves == ["Apparel > Tops / Tees > V-neck"]
    assert s.node_of("aa-1") == "Apparel > Tops / Tees"

    (tmp_path / "g.txt").write_text("1 - Apparel\n2 - Apparel > Tops > Tees\n3 - Apparel > Shoes\n",
                                    encoding="utf-8")
    g = load_google(tmp_path / "g.txt")
    assert g.taxonomy.children("Apparel") == ["Apparel > Shoes", "Apparel > Tops / Tees"]
    assert g.node_of(2) == "Apparel > Tops / Tees"

    (tmp_path / "b.json").write_text(json.dumps([
        {"id": "c1", "name": "TV > Video", "path": [{"id": "c1", "name": "TV > Video"}],
         "subCategories": []}]), encoding="utf-8")
    assert load_bestbuy(tmp_path / "b.json").taxonomy.nodes == ["TV / Video"]


def test_malformed_file(tmp_path):
    (tmp_path / "g.txt").write_text("Apparel > Tops\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match=r"g.txt:1: expected 'ID - A > B > C'"):
        load_google(tmp_path / "g.txt")
    (tmp_path / "b.json").write_text('{"id": 1}', encoding="utf-8")
    with pytest.raises(WorkbenchError, match="JSON list"):
        load_bestbuy(tmp_path / "b.json")
