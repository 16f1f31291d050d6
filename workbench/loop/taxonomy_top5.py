"""The top-5 of queue items a taxonomy change made (a split's unplaced products, a retired
leaf's products): the current default run's most probable categories among the **current**
leaves, through the one predictor (:class:`workbench.runs.predictor.Predictor`, which reads an
older run's classes through the change map). Stored in each item's ``detail`` under its reason,
where the review page reads it, as it reads the top-5 of other queue items."""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.catalog.relabel import load_taxonomy
from workbench.errors import WorkbenchError
from workbench.store import Workspace
from workbench.store.frames import registered

TOP = 5
CHUNK = 5_000


def candidates(ws: Workspace, product_ids: Sequence[str], run_id: str | None = None) -> dict[str, list[dict]]:
    """``{product_id: [{"leaf", "proba"}, ...]}``: the run's (default: the default run's) five
    most probable current leaves per product; empty when no run with a model exists."""
    from workbench.runs.predictor import Predictor
    from workbench.runs.selection import default_run

    if not product_ids:
        return {}
    try:
        run_id = run_id or default_run(ws)
        predictor = Predictor.for_run(ws, run_id)
    except (WorkbenchError, OSError):
        return {}
    leaves = set(load_taxonomy(ws).leaves)
    review = predictor.class_map.review if predictor.class_map is not None else set()
    allowed = np.array([c in leaves and c not in review for c in predictor.classes], dtype=bool)
    out: dict[str, list[dict]] = {}
    ids = [str(p) for p in product_ids]
    for start in range(0, len(ids), CHUNK):
        full = ws.df("SELECT product_id, title, description, brand, price, department, extra FROM products "
                     "WHERE product_id IN (SELECT unnest(?)) ORDER BY product_id", [ids[start:start + CHUNK]])
        proba = predictor.score(predictor.frame(full))
        proba = np.where(allowed[None, :], proba, -1.0)
        order = np.argsort(-proba, axis=1)[:, :TOP]
        for i, pid in enumerate(full["product_id"].astype(str)):
            out[pid] = [{"leaf": str(predictor.classes[j]), "proba": float(proba[i, j])}
                        for j in order[i] if proba[i, j] >= 0]
    return out


def store_top5(ws: Workspace, version: int, reason: str) -> int:
    """Add the top-5 to the detail of the queue items change ``version`` inserted with ``reason``
    (one short transaction per chunk). Returns the items that got one."""
    rows = ws.df("SELECT row_key FROM taxonomy_rewrites WHERE version = ? AND tbl = 'review_queue' "
                 "AND col = '__row__'", [int(version)])
    if rows.empty:
        return 0
    keys = [json.loads(k) for k in rows["row_key"]]
    top = candidates(ws, [k["product_id"] for k in keys])
    if not top:
        return 0
    done = 0
    for start in range(0, len(keys), CHUNK):
        part = [k for k in keys[start:start + CHUNK] if k["product_id"] in top]
        frame = pd.DataFrame({"d": [k["queue_date"] for k in part], "p": [k["product_id"] for k in part],
                              "top5": [json.dumps(top[k["product_id"]]) for k in part]})
        with ws.transaction() as cur:
            current = cur.execute("SELECT CAST(queue_date AS VARCHAR), product_id, detail FROM review_queue "
                                  "WHERE product_id IN (SELECT unnest(?))", [frame["p"].tolist()]).fetchall()
            details = {(str(d), str(p)): det for d, p, det in current}
            new = []
            for d, p, t in frame.itertuples(index=False):
                detail = json.loads(details.get((d, p)) or "{}")
                detail.setdefault(reason, {})["top5"] = json.loads(t)
                new.append(json.dumps(detail))
            frame["detail"] = new
            with registered(cur, "_top5", frame):
                cur.execute("UPDATE review_queue AS q SET detail = t.detail FROM _top5 t "
                            "WHERE CAST(q.queue_date AS VARCHAR) = t.d AND q.product_id = t.p")
        done += len(frame)
    return done
