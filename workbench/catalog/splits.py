"""Deterministic train / valid / test splits, stratified by leaf, and grouped by normalised title.

Both splits are pure functions of (product id, leaf, normalised title, seed): re-running
gives the same split, and adding products does not move the existing ones across parts
except within their own stratum's proportions. The grouped split puts every product whose
normalised title (:func:`workbench.catalog.text.normalise_title`) coincides on the same side, so
colour variants of one product cannot leak from train into test.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store import Workspace

PARTS = ("train", "valid", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


def _hash_order(keys: pd.Series, seed: int) -> np.ndarray:
    """A seeded pseudo-random key per value, stable across runs and platforms."""
    salted = keys.astype(str) + f"\x1f{seed}"
    return pd.util.hash_pandas_object(salted, index=False).to_numpy()


def _assign(strata: pd.Series, order: np.ndarray, weights: np.ndarray,
            fractions: Sequence[float]) -> np.ndarray:
    """Within each stratum, walk units in hash order and cut at the cumulative fractions."""
    frame = pd.DataFrame({"stratum": strata.to_numpy(), "order": order, "w": weights})
    frame = frame.sort_values(["stratum", "order"], kind="mergesort")
    # a unit's position is where it starts, so the first unit of every stratum is in train
    cum = frame.groupby("stratum", sort=False)["w"].cumsum() - frame["w"]
    total = frame.groupby("stratum", sort=False)["w"].transform("sum")
    pos = (cum / total).to_numpy()
    cut1, cut2 = fractions[0], fractions[0] + fractions[1]
    part = np.where(pos < cut1, 0, np.where(pos < cut2, 1, 2))
    out = np.empty(len(frame), dtype=np.int8)
    out[frame.index.to_numpy()] = part
    return out


def stratified_split(product_ids: Sequence[str], leaves: Sequence[str], *, seed: int = 0,
                     fractions: Sequence[float] = DEFAULT_FRACTIONS) -> np.ndarray:
    """Part name per product, stratified by leaf (a leaf with one product goes to train)."""
    _check_fractions(fractions)
    ids = pd.Series(_objects(product_ids), dtype=object)
    parts = _assign(pd.Series(_objects(leaves), dtype=object), _hash_order(ids, seed),
                    np.ones(len(ids)), fractions)
    return np.array(PARTS, dtype=object)[parts]


def grouped_split(product_ids: Sequence[str], leaves: Sequence[str], groups: Sequence[str], *,
                  seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> np.ndarray:
    """Part name per product such that equal ``groups`` share a part; stratified by each
    group's most common leaf, weighted by group size."""
    _check_fractions(fractions)
    frame = pd.DataFrame({"id": _objects(product_ids), "leaf": _objects(leaves), "group": _objects(groups)})
    sizes = frame.groupby("group").size()
    majority = frame.groupby(["group", "leaf"]).size().reset_index(name="n").sort_values(
        ["group", "n", "leaf"], ascending=[True, False, True]).drop_duplicates("group").set_index("group")["leaf"]
    group_names = sizes.index.to_series().reset_index(drop=True)
    parts = _assign(majority.reindex(group_names).reset_index(drop=True), _hash_order(group_names, seed),
                    sizes.to_numpy(dtype=float), fractions)
    part_of_group = pd.Series(parts, index=sizes.index)
    return np.array(PARTS, dtype=object)[part_of_group.reindex(frame["group"]).to_numpy()]


def leakage(parts: Sequence[str], groups: Sequence[str]) -> float:
    """Share of test products whose normalised title also occurs in train."""
    part = np.asarray(parts, dtype=object)
    codes, _ = pd.factorize(pd.Series(list(groups) if not isinstance(groups, pd.Series) else groups))
    test = part == "test"
    if not test.any():
        return 0.0
    in_train = np.zeros(codes.max() + 2, dtype=bool)
    in_train[codes[part == "train"]] = True
    return float(in_train[codes[test]].mean())


def _objects(values: Sequence[str]) -> np.ndarray:
    """``values`` as a numpy object array (in bulk: iterating an Arrow-backed column is slow)."""
    return np.asarray(values if isinstance(values, (pd.Series, pd.Index, np.ndarray)) else list(values), dtype=object)


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise WorkbenchError(f"split fractions {tuple(fractions)} must be three shares summing to 1, e.g. 0.7,0.15,0.15")


def compute_splits(frame: pd.DataFrame, *, seed: int = 0,
                   fractions: Sequence[float] = DEFAULT_FRACTIONS) -> tuple[pd.DataFrame, dict[str, float]]:
    """Both splits of labelled products (``product_id``, ``leaf``, ``title_key``) as rows of the
    ``splits`` table, and the leakage of each."""
    rows, leak = [], {}
    random = stratified_split(frame["product_id"], frame["leaf"], seed=seed, fractions=fractions)
    grouped = grouped_split(frame["product_id"], frame["leaf"], frame["title_key"], seed=seed, fractions=fractions)
    for kind, parts in (("random", random), ("grouped", grouped)):
        rows.append(pd.DataFrame({"kind": kind, "product_id": frame["product_id"].to_numpy(), "part": parts}))
        leak[kind] = leakage(parts, frame["title_key"])
    return pd.concat(rows, ignore_index=True), leak


def split_fingerprint(ws: Workspace, kind: str) -> str:
    """A hash of a split's (product id, part) pairs."""
    frame = ws.df("SELECT product_id, part FROM splits WHERE kind = ? ORDER BY product_id", [kind])
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def split_frame(ws: Workspace, kind: str = "grouped", label_sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Labelled products with their part in split ``kind`` (``random`` or ``grouped``).

    ``label_sources`` keeps only labels of those provenances (e.g. ``("catalog", "human")``).
    """
    if kind not in ("random", "grouped"):
        raise WorkbenchError(f"split must be 'random' or 'grouped', not {kind!r}")
    sql = ("SELECT p.product_id, p.title, p.description, p.brand, p.price, p.leaf, p.department, "
           "p.label_source, p.image, p.extra, s.part FROM products p JOIN splits s USING (product_id) "
           "WHERE s.kind = ? AND p.leaf IS NOT NULL")
    params: list = [kind]
    if label_sources is not None:
        sql += " AND p.label_source IN (SELECT unnest(?))"
        params.append(list(label_sources))
    frame = ws.df(sql + " ORDER BY p.product_id", params)
    if frame.empty:
        raise WorkbenchError(f"no labelled products with a {kind} split in {ws.path}; run `workbench ingest` first")
    return frame
