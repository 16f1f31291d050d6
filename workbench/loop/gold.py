"""Gold items: products whose label is known for sure, seeded unmarked into each reviewer's queue.

A gold item is a product whose label an admin verified (``admin``), that two reviewers confirmed
independently (``double``), or that was imported from a file (``import``). Each keeps the model's
suggestion for it (``suggested_leaf``: the newest classification, else the newest run's top-1), so
that gold items the model gets wrong show whether a reviewer accepts whatever the model says.

Seeding: of every block of ``round(1 / share)`` items a reviewer sees, one (at a position drawn per
reviewer and block) is a gold item that reviewer never answered, drawn from the gold items the model
gets wrong with probability :data:`WRONG_SHARE` (when there are any). Its answer is recorded in
``gold_answers`` only: it changes no label and no queue item.

The review page's bulk grid follows the same rule (:func:`gold_due_among`: as if the grid's
items were seen one by one), with gold items whose model suggestion is the grid's category
(:func:`pick_gold` with ``leaf``), so that nothing sets them apart; a ticked one is answered with
that category, an unticked one is not answered (it may come again).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError, number_between
from workbench.loop.labels import utc_now
from workbench.store import Workspace
from workbench.store.frames import registered

GOLD_SHARE_KEY = "gold_share"
#: the share of the items a reviewer sees that are gold, until one is configured
DEFAULT_GOLD_SHARE = 0.1
#: the share of seeded gold items drawn from those the model gets wrong (when there are any)
WRONG_SHARE = 0.5
GOLD_SOURCES = ("admin", "double", "import")


def gold_share(ws: Workspace) -> float:
    """The configured share of gold items in each reviewer's queue."""
    value = ws.meta(GOLD_SHARE_KEY)
    return DEFAULT_GOLD_SHARE if value is None else float(value)


def set_gold_share(ws: Workspace, share: float) -> float:
    """Configure the share of gold items (0 switches seeding off, at most 0.5)."""
    share = number_between(share, "gold share", 0, 0.5, "0.1")
    ws.set_meta(GOLD_SHARE_KEY, repr(share))
    return share


def _suggestions(ws: Workspace, product_ids: Sequence[str]) -> dict[str, str]:
    """The model's suggestion per product: the newest classification, else the newest complete
    run's top-1."""
    ids = list(map(str, product_ids))
    frame = ws.df(
        "SELECT product_id, leaf FROM (SELECT product_id, leaf, 1 AS k, classified_at AS t FROM classifications "
        "WHERE product_id IN (SELECT unnest(?)) UNION ALL SELECT p.product_id, p.leaf, 2 AS k, r.started_at AS t "
        "FROM predictions p JOIN runs r USING (run_id) WHERE p.rank = 1 AND coalesce(r.complete, TRUE) "
        "AND p.product_id IN (SELECT unnest(?))) QUALIFY row_number() OVER "
        "(PARTITION BY product_id ORDER BY k, t DESC) = 1", [ids, ids])
    return dict(zip(frame["product_id"].astype(str), frame["leaf"]))


def add_gold(ws: Workspace, product_ids: Sequence[str], *, by: str, source: str = "admin",
             leaves: Sequence[str] | None = None) -> int:
    """Make products gold with ``leaves`` (default: their current labels); returns how many.
    A product already gold gets the new leaf."""
    by = str(by or "").strip()
    if not by:
        raise WorkbenchError("say who verifies the gold labels (by='name')")
    if source not in GOLD_SOURCES:
        raise WorkbenchError(f"gold source {source!r} is not one of {', '.join(GOLD_SOURCES)}")
    ids = [str(p) for p in product_ids]
    if not ids:
        return 0
    from workbench.catalog.relabel import load_taxonomy

    known = ws.df("SELECT product_id, leaf FROM products WHERE product_id IN (SELECT unnest(?))", [ids])
    current = dict(zip(known["product_id"].astype(str), known["leaf"]))
    missing = [p for p in ids if p not in current]
    if missing:
        raise WorkbenchError(f"no product {missing[0]!r} in the workspace; check the product ids")
    leaves = [current[p] for p in ids] if leaves is None else [str(x) for x in leaves]
    valid = set(load_taxonomy(ws).leaves)
    for pid, leaf in zip(ids, leaves):
        if leaf not in valid:
            raise WorkbenchError(f"gold leaf {leaf!r} of product {pid!r} is not a leaf category of the taxonomy")
    suggested = _suggestions(ws, ids)
    rows = pd.DataFrame({"product_id": ids, "leaf": leaves, "suggested_leaf": [suggested.get(p) for p in ids],
                         "source": source, "added_by": by, "added_at": utc_now()})
    with ws.transaction() as cur:
        with registered(cur, "_gold", rows):
            cur.execute("DELETE FROM gold_items WHERE product_id IN (SELECT product_id FROM _gold)")
            cur.execute("INSERT INTO gold_items (product_id, leaf, suggested_leaf, source, added_by, added_at) "
                        "SELECT product_id, leaf, suggested_leaf, source, added_by, added_at FROM _gold")
    return len(ids)


def import_gold(ws: Workspace, path: str | Path, *, by: str) -> int:
    """Import gold labels from a CSV file with the columns ``product_id`` and ``leaf``."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"no gold file {path}; give a CSV with the columns product_id,leaf")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"product_id", "leaf"} <= set(frame.columns):
        raise WorkbenchError(f"{path} needs the columns product_id and leaf; it has {', '.join(frame.columns)}")
    return add_gold(ws, frame["product_id"], by=by, source="import", leaves=frame["leaf"])


def gold_from_double_reviews(ws: Workspace, *, by: str = "double review") -> int:
    """Make gold every product two reviewers labelled alike independently (and nobody otherwise);
    returns how many were added."""
    frame = ws.df(
        "SELECT product_id, min(final_leaf) AS leaf FROM (SELECT product_id, reviewer, final_leaf FROM reviews "
        "WHERE NOT undone QUALIFY row_number() OVER (PARTITION BY product_id, reviewer "
        "ORDER BY reviewed_at DESC, review_id DESC) = 1) GROUP BY product_id "
        "HAVING count(DISTINCT reviewer) >= 2 AND count(DISTINCT final_leaf) = 1 "
        "AND product_id NOT IN (SELECT product_id FROM gold_items)")
    if frame.empty:
        return 0
    return add_gold(ws, frame["product_id"], by=by, source="double", leaves=frame["leaf"])


def gold_items(ws: Workspace) -> pd.DataFrame:
    """Every gold item with ``model_wrong`` (its suggestion differs from its gold leaf)."""
    frame = ws.df("SELECT * FROM gold_items WHERE NOT retired ORDER BY product_id")
    return frame.assign(model_wrong=frame["suggested_leaf"].notna() & (frame["suggested_leaf"] != frame["leaf"]))


def _counts(ws: Workspace, reviewer: str) -> tuple[int, int]:
    with ws.hold():
        reviews = int(ws.scalar("SELECT count(*) FROM reviews WHERE reviewer = ?", [reviewer]))
        answers = int(ws.scalar("SELECT count(*) FROM gold_answers WHERE reviewer = ?", [reviewer]))
    return reviews, answers


def _block_position(reviewer: str, block: int, size: int) -> int:
    digest = hashlib.sha256(f"{reviewer}\x1f{block}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % size


def _gold_turn(reviewer: str, reviews: int, answers: int, size: int) -> bool:
    block, position = divmod(reviews + answers, size)
    return answers <= block and position >= _block_position(reviewer, block, size)


def _block_size(ws: Workspace, share: float | None) -> int:
    share = gold_share(ws) if share is None else share
    return 0 if share <= 0 else max(int(round(1 / share)), 2)


def gold_due(ws: Workspace, reviewer: str, share: float | None = None) -> bool:
    """Whether the next item this reviewer sees is a gold one (see the module's seeding rule)."""
    size = _block_size(ws, share)
    return bool(size) and _gold_turn(reviewer, *_counts(ws, reviewer), size)


def gold_due_among(ws: Workspace, reviewer: str, n: int, share: float | None = None) -> int:
    """How many gold items come with the next ``n`` queue items this reviewer sees at once (the
    bulk grid): the seeding rule applied as if they were seen one by one."""
    size = _block_size(ws, share)
    if not size or n <= 0:
        return 0
    reviews, answers = _counts(ws, reviewer)
    real = golds = 0
    while real < n:
        if _gold_turn(reviewer, reviews + real, answers + golds, size):
            golds += 1
        else:
            real += 1
    return golds


def pick_gold(ws: Workspace, reviewer: str, rng: np.random.Generator | None = None, *,
              leaf: str | None = None, exclude: Sequence[str] = ()) -> dict | None:
    """A gold item the reviewer never answered (the model's wrong ones over-represented), or
    ``None``; with ``leaf`` only those whose model suggestion is ``leaf``, never one of ``exclude``."""
    items = gold_items(ws)
    if leaf is not None:
        items = items[items["suggested_leaf"] == leaf]
    answered = set(ws.df("SELECT DISTINCT product_id FROM gold_answers WHERE reviewer = ?",
                         [reviewer])["product_id"].astype(str))
    reviewed = set(ws.df("SELECT DISTINCT product_id FROM reviews WHERE reviewer = ?",
                         [reviewer])["product_id"].astype(str))
    items = items[~items["product_id"].astype(str).isin(answered | reviewed | set(map(str, exclude)))]
    if items.empty:
        return None
    if rng is None:
        seed = int.from_bytes(hashlib.sha256(f"{reviewer}\x1f{len(answered)}".encode()).digest()[:4], "big")
        rng = np.random.default_rng(seed)
    wrong, right = items[items["model_wrong"]], items[~items["model_wrong"]]
    pool = wrong if len(wrong) and (right.empty or rng.random() < WRONG_SHARE) else right
    return pool.iloc[int(rng.integers(len(pool)))].to_dict()


def answer_gold(ws: Workspace, reviewer: str, product_id: str, leaf: str) -> bool:
    """Record a reviewer's answer on a gold item (no label changes); returns whether it was right."""
    reviewer = str(reviewer or "").strip()
    if not reviewer:
        raise WorkbenchError("a review needs the reviewer's name; log in or pass reviewer=")
    with ws.transaction() as cur:
        row = cur.execute("SELECT leaf, suggested_leaf FROM gold_items WHERE product_id = ?",
                          [str(product_id)]).fetchone()
        if row is None:
            raise WorkbenchError(f"product {product_id!r} is not a gold item")
        cur.execute("INSERT INTO gold_answers (product_id, reviewer, leaf, gold_leaf, suggested_leaf, answered_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", [str(product_id), reviewer, str(leaf), row[0], row[1], utc_now()])
    return str(leaf) == row[0]
