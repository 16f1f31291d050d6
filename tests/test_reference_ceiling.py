"""`benchmarks/reference_ceiling.py` on a real Tokopedia sample: the errors it counts are the
reference's own test errors, the audit sample is drawn from them, and the verdicts are counted."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from workbench import Workspace, ingest_dataset

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("reference_ceiling", ROOT / "benchmarks" / "reference_ceiling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ceiling_counts_the_references_errors_and_the_audit(tmp_path):
    ceiling = _module()
    ws = Workspace(tmp_path / "ws")
    ingest_dataset(ws, "tokopedia", sample=900, seed=0)
    ws.close()
    result = ceiling.measure(tmp_path / "ws", folds=3, audit=6, seed=0)

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _reference import reference_row

    again = reference_row(Workspace(tmp_path / "ws"), "grouped")
    wrong = {pid for pid, p, t in zip(again["product_ids"], again["pred"], again["truth"]) if p != t}
    assert result["n_test"] == again["n_test"]
    assert result["errors"] == len(wrong) > 0
    assert result["reference_accuracy"] == again["accuracy"]
    assert result["needed_for_one_point"] == int(np.ceil(0.01 * again["n_test"]))
    sampled = [row["product_id"] for row in result["audit_sample"]]
    assert len(sampled) == min(6, len(wrong)) and set(sampled) <= wrong
    assert all(row["given"] != row["predicted"] for row in result["audit_sample"])
    assert 0 <= result["errors_flagged"] <= result["errors"]
    assert 0 < result["flagged_share"] < 0.5

    stored = {"audit_ids": sampled, "errors": result["errors"]}
    assert ceiling.audit_counts(stored, {sampled[0]: "title"}) is None, "a partial audit is not counted"
    verdicts = {pid: ("title" if i % 2 else "label") for i, pid in enumerate(sampled)}
    counts = ceiling.audit_counts(stored, verdicts)
    assert counts["title"] + counts["label"] + counts["ambiguous"] == counts["sampled"] == len(sampled)
    assert counts["fixable_estimate"] == round(result["errors"] * counts["title"] / len(sampled))
    row = ceiling.markdown_row("tokopedia-900", {**result, **stored}, counts)
    assert row.startswith("| tokopedia-900 |") and f"of {len(sampled)}" in row
    json.dumps({k: v for k, v in result.items() if k != "audit_sample"})  # what the script stores
