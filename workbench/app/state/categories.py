"""State of the per-category page: every leaf's quality in one sortable, searchable table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import param

import workbench.app.data as data
from workbench.app import drill
from workbench.catalog.taxonomy import SEP
from workbench.store import Workspace

SOURCE_WORDS = {"category": "its own", "global": "global (few products)", "unreachable": "unreachable"}


class CategoryState(param.Parameterized):
    """The run, the target accuracy of the thresholds, and the search text."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    run_id = param.Selector(default=None, objects=[], label="Run")
    target = param.Selector(default=0.95, objects=[0.95], label="Target accuracy")
    search = param.String(default="", label="Search categories")

    def __init__(self, **params):
        super().__init__(**params)
        data.choose_run(self, self.part)
        self._update_targets()

    @param.depends("run_id", watch=True)
    def _update_targets(self) -> None:
        if self.run_id is None:
            return
        stored = data.eval_table(self.workspace, "eval_category_thresholds", self.part, [self.run_id])
        targets = sorted({float(t) for t in stored["target"]}) if len(stored) else [0.95]
        self.param.target.objects = targets
        if self.target not in targets:
            self.target = 0.95 if 0.95 in targets else targets[-1]

    def _most_confused_sibling(self) -> dict[str, str]:
        pairs = data.eval_table(self.workspace, "eval_confusion", self.part, [self.run_id])
        if pairs.empty:
            return {}
        parent = lambda leaf: leaf.rsplit(SEP, 1)[0] if SEP in leaf else ""  # noqa: E731
        errors = pairs[pairs["true_leaf"] != pairs["predicted_leaf"]]
        errors = errors[[parent(a) == parent(b) for a, b in zip(errors["true_leaf"], errors["predicted_leaf"])]]
        top = errors.sort_values(["n", "predicted_leaf"], ascending=[False, True]).drop_duplicates("true_leaf")
        return {t: f"{p.rsplit(SEP, 1)[-1]} ({int(n)})" for t, p, n in
                zip(top["true_leaf"], top["predicted_leaf"], top["n"])}

    @param.depends("run_id", "target", "search")
    def table(self) -> pd.DataFrame:
        """One row per leaf: ``category, support, precision, recall, F1, predicted, threshold,
        threshold from, coverage, most confused sibling``; filtered by :attr:`search` (any part
        of the path, case-insensitive); the weakest F1 first."""
        columns = ["category", "support", "precision", "recall", "F1", "predicted", "threshold", "threshold from",
                   "coverage", "most confused sibling"]
        if self.run_id is None:
            return pd.DataFrame(columns=columns)
        leaves = data.eval_table(self.workspace, "eval_per_leaf", self.part, [self.run_id])
        cats = data.eval_table(self.workspace, "eval_category_thresholds", self.part, [self.run_id])
        cats = cats[(cats["by"] == "leaf") & np.isclose(cats["target"], float(self.target))].set_index("node")
        sibling = self._most_confused_sibling()
        thr = cats["threshold"].reindex(leaves["leaf"]).to_numpy(dtype=float)
        out = pd.DataFrame({
            "category": leaves["leaf"].astype(object), "support": leaves["support"].astype(int),
            "precision": leaves["precision"].where(leaves["n_predicted"] > 0),
            "recall": leaves["recall"].where(leaves["support"] > 0), "F1": leaves["f1"],
            "predicted": leaves["n_predicted"].astype(int),
            "threshold": np.where(np.isfinite(thr), thr, np.nan),
            "threshold from": [SOURCE_WORDS.get(s, "not predicted") if isinstance(s, str) else "not predicted"
                               for s in cats["source"].reindex(leaves["leaf"])],
            "coverage": cats["coverage"].reindex(leaves["leaf"]).to_numpy(dtype=float),
            "most confused sibling": [sibling.get(leaf, "") for leaf in leaves["leaf"]]})
        if self.search.strip():
            out = out[out["category"].str.contains(self.search.strip(), case=False, regex=False)]
        return out.sort_values(["F1", "support"], ascending=[True, False], na_position="last").reset_index(drop=True)

    def products(self, leaf: str) -> drill.Selection:
        """The drill-down of one category: its products and those predicted as it."""
        return drill.of_leaf(self.workspace, self.run_id, self.part, leaf)
