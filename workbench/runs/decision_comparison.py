"""Recorded runs under several decision rules, side by side (``workbench compare --decision``).

For each run and rule (``argmax``, ``min-risk``) the stored test (or valid) probabilities are
turned into predictions and scored: accuracy, macro-F1, accuracy per level, the mean tree
distance of the errors and the share of errors that leave the true leaf's family. Nothing is
retrained; ``min-risk`` rows show what the rule would change for a run already recorded.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.evaluate._common import score, tree_index
from workbench.evaluate.decision import check_decision, decide
from workbench.evaluate.metrics import accuracy_from, level_accuracy_from, macro_f1_from
from workbench.evaluate.severity import error_severity_from
from workbench.runs.records import load_predictions, select_runs
from workbench.store import Workspace


def compare_decisions(ws: Workspace, run_ids: Sequence[str] | None = None, split: str | None = None,
                      decisions: Sequence[str] = ("argmax", "min-risk"), part: str = "test") -> pd.DataFrame:
    """One row per (run, decision rule): ``run_id, model, split, decision, accuracy, macro_f1,
    acc <level>..., errors, mean_error_distance, cross_family_errors`` (share of the errors),
    ``cross_family_rate`` (share of the products), oldest run first."""
    from workbench.catalog.relabel import load_taxonomy

    for decision in decisions:
        check_decision(decision)
    runs = select_runs(ws, run_ids, split)
    taxonomy = load_taxonomy(ws)
    rows = []
    for run in runs.to_dict("records"):
        try:
            preds = load_predictions(ws, run["run_id"], part)
        except WorkbenchError:
            continue  # a run without this part (a k-fold run has no valid part)
        if not set(preds.classes) <= set(taxonomy.leaves):
            continue  # trained on an older taxonomy
        for decision in decisions:
            pred = None if decision == "argmax" else decide(preds.proba, classes=preds.classes,
                                                           taxonomy=taxonomy, decision=decision)
            s = score(preds.y_true, preds.proba, preds.classes, pred)
            tree = tree_index(taxonomy, s.classes)
            severity = error_severity_from(s, tree)
            row = {"run_id": run["run_id"], "model": run["model"], "split": run["split"], "decision": decision,
                   "accuracy": accuracy_from(s), "macro_f1": macro_f1_from(s)}
            levels = level_accuracy_from(s, tree)["accuracy"]
            row.update({f"acc {level}": value for level, value in levels.items()})
            row.update({"errors": severity["errors"], "mean_error_distance": severity["mean_error_distance"],
                        "cross_family_errors": severity["cross_family_error_share"],
                        "cross_family_rate": severity["cross_family_rate"]})
            rows.append(row)
    return pd.DataFrame(rows)
