"""Plots of a catalog and its taxonomy (HoloViews; no Panel import)."""

from __future__ import annotations

import holoviews as hv
import pandas as pd


def taxonomy_sankey(categories: pd.DataFrame, max_children: int = 12) -> hv.Sankey:
    """The taxonomy as flows from each level to the next, widths = products.

    ``categories`` is the workspace's categories table. Only the ``max_children`` largest
    children of each node are drawn; the rest are summed into "(n more)".
    """
    nodes = categories[categories["parent_id"].notna()].copy()
    nodes["rank"] = nodes.groupby("parent_id")["n_products"].rank(ascending=False, method="first")
    kept = nodes[nodes["rank"] <= max_children]
    rest = (nodes[nodes["rank"] > max_children].groupby("parent_id")
            .agg(n_products=("n_products", "sum"), n=("node_id", "size")).reset_index())
    kept_ids = set(categories.loc[categories["parent_id"].isna(), "node_id"])
    edges = []
    # draw a child only when its parent is drawn, so the diagram stays a tree
    for level in sorted(kept["level"].unique()):
        layer = kept[(kept["level"] == level) & kept["parent_id"].isin(kept_ids)]
        edges += [(p, c, int(n)) for p, c, n in layer[["parent_id", "node_id", "n_products"]].itertuples(index=False)]
        kept_ids |= set(layer["node_id"])
    edges += [(p, f"{p} > ({int(k)} more)", int(n)) for p, n, k in rest.itertuples(index=False) if p in kept_ids]
    frame = pd.DataFrame(edges, columns=["source", "target", "products"])
    frame = frame[frame["products"] > 0]
    label = lambda s: s.split(" > ")[-1]  # noqa: E731
    node_frame = pd.DataFrame({"index": pd.unique(frame[["source", "target"]].to_numpy().ravel())})
    node_frame["name"] = node_frame["index"].map(label)
    return hv.Sankey((frame, hv.Dataset(node_frame, "index")), ["source", "target"], "products").opts(
        labels="name", width=900, height=700, node_padding=2, label_position="right",
        tools=["hover"], title="Taxonomy: products flowing from level to level")


def long_tail(leaf_counts: pd.DataFrame, min_count: int = 10) -> hv.Overlay:
    """Products per leaf in rank order (log scale), with the ``min_count`` line."""
    frame = leaf_counts.reset_index(drop=True).assign(rank=lambda d: d.index + 1)
    bars = hv.Curve(frame, "rank", ["n_products", "leaf"]).opts(
        logy=True, width=700, height=350, tools=["hover"], xlabel="leaf rank", ylabel="products",
        title=f"Long tail: {int((frame['n_products'] < min_count).sum())} of {len(frame)} leaves "
              f"have fewer than {min_count} products")
    return bars * hv.HLine(min_count).opts(color="red", line_dash="dashed")


def leakage_bars(leakage: dict[str, float]) -> hv.Bars:
    """Share of test products whose normalised title also occurs in train, per split kind."""
    frame = pd.DataFrame({"split": list(leakage), "leakage": list(leakage.values())})
    return hv.Bars(frame, "split", "leakage").opts(
        width=350, height=300, ylim=(0, 1), tools=["hover"], title="Test titles also in train")


def department_bars(departments: pd.DataFrame) -> hv.Bars:
    """Products per department, stacked by top-level category."""
    frame = departments.fillna({"department": "(none)"})
    return hv.Bars(frame, ["department", "top_level"], "n").opts(
        stacked=True, width=700, height=350, tools=["hover"], legend_position="right",
        title="Departments by top-level category")
