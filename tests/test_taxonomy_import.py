"""``workbench taxonomy diff`` / ``import``: a changed copy of the real Shopify taxonomy (60 scripted
renames, moves, merges, splits, additions and retirements the matcher does not know) gives the
right proposals (names and paths here; with the names' embeddings too in
``benchmarks/taxonomy_import.py``, which takes a minute on a busy machine); a changed copy of a
fashion workspace's taxonomy is listed with the embeddings and imported one proposal at a time
from the command line until the workspace has the file's tree."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests._dashboard_setup import workbench_cli
from workbench.catalog.relabel import load_taxonomy
from workbench.catalog.taxonomy import Taxonomy
from workbench.catalog.taxonomy_sources import load_taxonomy_file
from workbench.errors import WorkbenchError
from workbench.evaluate.scripted_taxonomy import precision_recall, scripted_changes
from workbench.loop.taxonomy_import import propose, read_taxonomy_file

SHOPIFY = "/work/shared/taxonomies/shopify/categories.txt"


def test_shopify_diff_finds_the_scripted_changes(tmp_path):
    tree = load_taxonomy_file("shopify")
    paths, truth = scripted_changes(tree, 10, seed=0)
    assert len(truth) == 60 and {k[0] for k in truth} == {"rename", "move", "merge", "split", "add", "retire"}
    new_file = tmp_path / "shopify-next.txt"
    new_file.write_text("# the next Shopify version, as paths\n" + "\n".join(paths) + "\n", encoding="utf-8")
    assert set(read_taxonomy_file(SHOPIFY).nodes) == set(tree.nodes)  # the gid format reads too
    proposals = propose(tree, read_taxonomy_file(new_file), embeddings=False)  # embeddings: the benchmark
    scores = precision_recall({p.key() for p in proposals}, truth)
    for kind in ("rename", "move", "split", "add"):
        assert scores[kind]["precision"] == 1.0 and scores[kind]["recall"] == 1.0, (kind, scores[kind])
    assert scores["all"]["precision"] >= 0.75 and scores["all"]["recall"] >= 0.75, scores["all"]
    # what a person reads: one line per proposal, with the similarity where it is a guess
    text = [str(p) for p in proposals]
    assert any(t.startswith("rename '") and "(closeness" in t for t in text)
    assert any(t.startswith("split '") and "'Basic " in t for t in text)


def test_bad_files_say_what_to_do(tmp_path):
    with pytest.raises(WorkbenchError, match="does not exist"):
        read_taxonomy_file(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(WorkbenchError, match="holds no category paths"):
        read_taxonomy_file(empty)
    holes = tmp_path / "holes.txt"
    holes.write_text("A >  > C\n")
    with pytest.raises(WorkbenchError, match="empty category name"):
        read_taxonomy_file(holes)


def _changed_fashion(tree: Taxonomy) -> list[str]:
    """The fashion tree after a rename, a move to a cousin parent, a retire, a split and an add."""
    nodes = set(tree.nodes)

    def replace(old, new):
        for n in [n for n in nodes if n == old or n.startswith(old + " > ")]:
            nodes.discard(n)
            nodes.add(new + n[len(old):])
    replace("Apparel > Bottomwear", "Apparel > Bottomwear Range")
    replace("Footwear > Shoes > Flats", "Footwear > Sandal > Flats")
    nodes.discard("Accessories > Bags > Clutches")
    nodes |= {"Apparel > Topwear > Tshirts > Basic Tshirts", "Apparel > Topwear > Tshirts > Polo Tshirts"}
    nodes.add("Accessories > Bags > Laptop Sleeves")
    return sorted(nodes)


def test_import_accepted_one_by_one_from_the_command_line(sample_workspace, tmp_path):
    ws = sample_workspace("taxonomy_import", 1000)
    tree = load_taxonomy(ws)
    assert "Accessories > Bags > Clutches" in tree and len(tree.siblings("Accessories > Bags > Clutches")) >= 1
    target = _changed_fashion(tree)
    file = tmp_path / "fashion-next.txt"
    file.write_text("\n".join(target) + "\n", encoding="utf-8")
    total = ws.scalar("SELECT count(*) FROM products")
    cli = [*workbench_cli(), "taxonomy"]
    where = ["--workspace", str(ws.path)]

    listing = subprocess.run([*cli, "import", str(file), *where], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    lines = [line for line in listing.stdout.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    assert len(lines) == 5, listing.stdout
    assert any("rename 'Apparel > Bottomwear' to 'Bottomwear Range'" in line for line in lines)
    assert any("move 'Footwear > Shoes > Flats' under 'Footwear > Sandal'" in line for line in lines)
    assert any("retire 'Accessories > Bags > Clutches'" in line for line in lines)
    assert "accept proposals one by one" in listing.stdout

    for step in range(5):  # accept the first proposal, list again
        done = subprocess.run([*cli, "import", str(file), "--accept", "1", "--by", "ana", "--no-embeddings", *where],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert f"taxonomy version {step + 1}:" in done.stdout
    assert set(load_taxonomy(ws).nodes) == set(target)
    assert ws.scalar("SELECT count(*) FROM products") == total
    again = subprocess.run([*cli, "import", str(file), "--no-embeddings", *where], capture_output=True, text=True)
    assert "no differences" in again.stdout
    history = subprocess.run([*cli, "history", "--json", *where], capture_output=True, text=True)
    assert [h["version"] for h in json.loads(history.stdout)] == [5, 4, 3, 2, 1]
    wrong = subprocess.run([*cli, "import", str(file), "--accept", "9", "--by", "ana", "--no-embeddings", *where],
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and "no proposal 9" in wrong.stderr
