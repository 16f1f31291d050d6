"""State of the sibling confusion view: pick a parent node, see how its children are confused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import param

import workbench.app.data as data
from workbench.evaluate.confusion import OUTSIDE, sibling_confusion_from_pairs
from workbench.app import drill
from workbench.plots import confusion_heatmap
from workbench.plots.confusion import axis_labels
from workbench.store import Workspace
from workbench.catalog.taxonomy import SEP

TOP_LEVEL = "(top level)"


class ConfusionState(param.Parameterized):
    """The run, and the ``parent`` whose children are compared (``(top level)``: the roots)."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    run_id = param.Selector(default=None, objects=[], label="Run")
    parent = param.Selector(default=TOP_LEVEL, objects=[TOP_LEVEL], label="Parent category")
    include_outside = param.Boolean(default=True, label="Show predictions outside the parent")

    def __init__(self, **params):
        super().__init__(**params)
        self._cache: dict = {}
        data.choose_run(self, self.part)
        tax = data.taxonomy(self.workspace)
        parents = sorted(tax.internal_nodes(), key=lambda n: (n.count(SEP), n))
        self.param.parent.objects = [TOP_LEVEL, *parents]

    def _parent_node(self) -> str | None:
        return None if self.parent == TOP_LEVEL else self.parent

    def pairs(self) -> pd.DataFrame:
        """Stored (true leaf, predicted leaf, n) counts of the run."""
        return data.eval_table(self.workspace, "eval_confusion", self.part, [self.run_id])

    def _full_matrix(self) -> pd.DataFrame:
        key = (self.run_id, self.parent)
        if self._cache.get("key") != key:
            self._cache = {"key": key, "matrix": sibling_confusion_from_pairs(
                self.pairs(), data.taxonomy(self.workspace), self._parent_node(), True)}
        return self._cache["matrix"]

    @param.depends("run_id", "parent", "include_outside")
    def matrix(self) -> pd.DataFrame:
        """Counts among the parent's children (rows true, columns predicted); the ``(outside)``
        column only under a parent (nothing lies outside the top level) and when asked for."""
        m = self._full_matrix()
        return m if self.include_outside and self.parent != TOP_LEVEL else m.drop(columns=OUTSIDE)

    @param.depends("run_id", "parent")
    def children(self) -> pd.DataFrame:
        """Each child of the parent: its test products, how many stayed in the child, and the share."""
        m = self._full_matrix()
        support = m.sum(axis=1)
        right = pd.Series(np.diag(m.drop(columns=OUTSIDE).to_numpy()), index=m.index)
        return pd.DataFrame({"child": m.index, "products": support.to_numpy(),
                             "predicted in it": right.to_numpy(),
                             "accuracy": np.where(support > 0, right / support.where(support > 0, 1), np.nan)}
                            ).reset_index(drop=True)

    @param.depends("run_id", "parent")
    def confused_pairs(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` most frequent confusions between two children, with the share of the true child."""
        m = self._full_matrix().drop(columns=OUTSIDE)
        if m.empty:
            return pd.DataFrame(columns=["true", "predicted", "n", "share of true"])
        long = m.stack().rename("n").reset_index()
        long = long[(long["true"] != long["predicted"]) & (long["n"] > 0)]
        total = m.sum(axis=1)
        long["share of true"] = long["n"] / long["true"].map(total).to_numpy()
        return long.sort_values(["n", "true", "predicted"], ascending=[False, True, True]).head(k) \
            .reset_index(drop=True)

    def examples(self, true_child: str, predicted_child: str, k: int = 3) -> pd.DataFrame:
        """Up to ``k`` products of ``true_child`` predicted under ``predicted_child``, most
        confident first: ``title, true_leaf, predicted_leaf, confidence``."""
        return self.workspace.df(
            "SELECT p.title, pr.true_leaf, pr.leaf AS predicted_leaf, pr.proba AS confidence "
            "FROM predictions pr JOIN products p USING (product_id) "
            "WHERE pr.run_id = ? AND pr.part = ? AND pr.rank = 1 "
            "AND (pr.true_leaf = ? OR starts_with(pr.true_leaf, ?)) "
            "AND (pr.leaf = ? OR starts_with(pr.leaf, ?)) "
            "ORDER BY pr.proba DESC, pr.product_id LIMIT ?",
            [self.run_id, self.part, true_child, true_child + SEP, predicted_child,
             predicted_child + SEP, int(k)])

    @param.depends("run_id", "parent")
    def pair_examples(self, k_pairs: int = 5, k: int = 3) -> pd.DataFrame:
        """Example titles for the most confused pairs (``true, predicted, title, confidence``),
        most confident first; one scan of the run's predictions for all pairs."""
        columns = ["true", "predicted", "title", "confidence"]
        pairs = self.confused_pairs(k_pairs)
        if pairs.empty:
            return pd.DataFrame(columns=columns)
        parent = self._parent_node()
        prefix = "" if parent is None else parent + SEP
        level = 1 if parent is None else data.taxonomy(self.workspace).level(parent) + 1
        wrong = data.wrong_predictions(self.workspace, self.run_id, self.part)
        if prefix:
            wrong = wrong[wrong["true_leaf"].str.startswith(prefix) & wrong["leaf"].str.startswith(prefix)]

        def child(leaves: pd.Series) -> pd.Series:
            cut = {n: SEP.join(n.split(SEP)[:level]) for n in leaves.unique()}
            return leaves.map(cut)

        wrong = wrong.assign(true=child(wrong["true_leaf"]), predicted=child(wrong["leaf"]))
        wanted = wrong.merge(pairs[["true", "predicted"]].assign(order=range(len(pairs))), on=["true", "predicted"])
        top = (wanted.sort_values(["order", "proba", "product_id"], ascending=[True, False, True])
               .groupby("order", sort=True).head(k))
        titles = data.titles(self.workspace, top["product_id"])
        out = top.merge(titles, on="product_id", how="left").rename(columns={"proba": "confidence"})
        return out[columns].reset_index(drop=True)

    @param.depends("run_id", "parent", "include_outside")
    def heatmap(self):
        """The heat map of :meth:`matrix`."""
        title = ("Confusion among top-level categories" if self.parent == TOP_LEVEL
                 else f"Confusion among the children of {self.parent}")
        return confusion_heatmap(self.matrix(), title=title)

    def cell(self, x_label: str, y_label: str) -> drill.Selection | None:
        """The products of the heat-map cell at (predicted label ``x_label``, true label ``y_label``),
        as the heat map labels them; ``None`` outside the cells."""
        m = self.matrix()
        rows = {v: k for k, v in axis_labels([str(r) for r in m.index]).items()}
        cols = {v: k for k, v in axis_labels([str(c) for c in m.columns]).items()}
        true_child, predicted_child = rows.get(str(y_label)), cols.get(str(x_label))
        if true_child is None or predicted_child is None:
            return None
        return drill.confusion_cell(self.workspace, self.run_id, self.part, self._parent_node(), true_child,
                                    predicted_child)
