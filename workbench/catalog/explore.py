"""Read-only views of a workspace's catalog for notebooks: counts per level and leaf, the
long tail, departments, rejects, and the leakage of a random split against the grouped one."""

from __future__ import annotations

import json

import pandas as pd

from workbench.store import Workspace


def leaf_counts(ws: Workspace) -> pd.DataFrame:
    """Products per leaf, most frequent first, with the leaf's level names spelled out."""
    return ws.df("SELECT node_id AS leaf, name, level, n_products FROM categories "
                 "WHERE is_leaf ORDER BY n_products DESC, node_id")


def categories(ws: Workspace) -> pd.DataFrame:
    """Every taxonomy node with its parent, level and product count."""
    return ws.df("SELECT * FROM categories ORDER BY level, node_id")


def level_summary(ws: Workspace) -> pd.DataFrame:
    """Per level: its name, number of categories, and the products of the largest and smallest."""
    return ws.df("SELECT level, any_value(level_name) AS level_name, count(*) AS categories, "
                 "max(n_products) AS largest, min(n_products) AS smallest, "
                 "count(*) FILTER (WHERE n_products < 10) AS under_10 "
                 "FROM categories GROUP BY level ORDER BY level")


def rejects(ws: Workspace) -> pd.DataFrame:
    """Rejected rows with their reasons."""
    return ws.df("SELECT source, row_number, product_id, reason, raw FROM rejects ORDER BY source, row_number")


def reject_reasons(ws: Workspace) -> pd.DataFrame:
    """Rejected rows counted by reason."""
    return ws.df("SELECT reason, count(*) AS n FROM rejects GROUP BY reason ORDER BY n DESC")


def departments(ws: Workspace) -> pd.DataFrame:
    """Products per department and top-level category."""
    return ws.df("SELECT department, split_part(leaf, ' > ', 1) AS top_level, count(*) AS n "
                 "FROM products WHERE leaf IS NOT NULL GROUP BY ALL ORDER BY n DESC")


def leakage(ws: Workspace) -> dict[str, float]:
    """Share of test products whose normalised title also occurs in train, per split kind."""
    return json.loads(ws.meta("leakage") or "{}")


def leaked_examples(ws: Workspace, kind: str = "random", n: int = 10) -> pd.DataFrame:
    """Test products whose normalised title also occurs in train (what a leaky split rewards)."""
    return ws.df(
        "WITH s AS (SELECT p.product_id, p.title, p.title_key, p.leaf, sp.part FROM products p "
        "JOIN splits sp USING (product_id) WHERE sp.kind = ?) "
        "SELECT t.title AS test_title, any_value(r.title) AS train_title, t.leaf FROM s t "
        "JOIN s r ON r.title_key = t.title_key AND r.part = 'train' WHERE t.part = 'test' "
        "GROUP BY t.product_id, t.title, t.leaf ORDER BY t.product_id LIMIT ?", [kind, n])

