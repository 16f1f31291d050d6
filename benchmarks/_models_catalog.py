"""The parts of ``benchmarks/models.py`` that run its table on any catalog (``--catalog``).

A catalog is a built-in recipe ingested into ``benchmarks/out/<catalog>-ws`` (fashion,
flipkart, tokopedia, ...) or any ingested workspace (``--workspace DIR --catalog NAME``). Its
rows are kept in ``benchmarks/models_results_<catalog>.json`` (fashion keeps
``models_results.json``) and its table goes under ``## Models: <catalog>`` in RESULTS.md
(fashion keeps ``## Models``). Every section ends with the two checks of issue 20: the
``ensemble`` against its best member on test accuracy, and the CNN-LSTM's training seconds per
1,000 training products against fashion's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def results_path(catalog: str) -> Path:
    """Where a catalog's rows are kept."""
    return HERE / ("models_results.json" if catalog == "fashion" else f"models_results_{catalog}.json")


def section_title(catalog: str) -> str:
    """The RESULTS.md section of a catalog's table."""
    return "## Models" if catalog == "fashion" else f"## Models: {catalog}"


def default_workspace(catalog: str) -> Path:
    """The benchmark workspace of a built-in catalog."""
    return HERE / "out" / f"{catalog}-ws"


def n_train(ws, split: str, sample) -> int:
    """Training products of a row: its sample, else the split's labelled training part."""
    if sample is not None and not (isinstance(sample, float) and np.isnan(sample)):
        return int(sample)
    return int(ws.scalar("SELECT count(*) FROM splits s JOIN products p USING (product_id) WHERE s.kind = ? "
                         "AND s.part = 'train' AND p.leaf IS NOT NULL", [split]))


def ensemble_members(ws, run_id: str, split: str) -> dict:
    """The recorded ensemble's members on the test part: ``{kind: test accuracy}`` of those that
    vote, and the ones it dropped as clearly worse on validation (with that accuracy)."""
    from workbench.runs.predictor import run_model
    from workbench.runs.training import load_training_frame

    model = run_model(ws, run_id)
    frame = load_training_frame(ws, split, ("catalog", "human"))
    test = frame[frame["part"] == "test"].reset_index(drop=True)
    truth = test["leaf"].to_numpy(dtype=object)
    voting = {kind: float(np.mean(model.classes_[p.argmax(axis=1)] == truth))
              for kind, p in model.member_probabilities(test).items()}
    dropped = {kind: model.member_valid_accuracy_.get(kind) for kind in getattr(model, "dropped_", [])}
    return {"voting": voting, "dropped_valid_accuracy": dropped}


def checks(results: dict, catalog: str) -> list[str]:
    """The issue-20 checks of a catalog's rows, as sentences."""
    out = []
    for split in ("random", "grouped"):
        ens = results.get(f"ensemble|{split}")
        if not ens or not ens.get("members"):
            continue
        voting, dropped = ens["members"]["voting"], ens["members"]["dropped_valid_accuracy"]
        best_kind = max(voting, key=voting.get)
        verdict = "not below" if ens["accuracy"] >= voting[best_kind] - 1e-12 else "below"
        text = (f"`ensemble` on the {split} split: test accuracy {ens['accuracy']:.3f}, {verdict} its best "
                f"voting member (`{best_kind}`, {voting[best_kind]:.3f}; members "
                + ", ".join(f"{k} {v:.3f}" for k, v in voting.items()) + ")")
        if dropped:
            text += ("; dropped as clearly worse on validation: "
                     + ", ".join(f"{k} (validation accuracy {v:.3f})" for k, v in dropped.items()))
        out.append(text + ".")
    fashion = _fashion_rows()
    for split in ("random", "grouped"):
        row, ref = results.get(f"cnn-lstm|{split}"), fashion.get(f"cnn-lstm|{split}")
        if not row or not row.get("n_train"):
            continue
        mine = row["train_s"] / row["n_train"] * 1000
        if catalog == "fashion" or not ref or not ref.get("n_train"):
            out.append(f"`cnn-lstm` on the {split} split: {mine:.1f} training seconds per 1,000 training products "
                       f"({row['n_train']:,} products, load {row.get('load', '?')}).")
            continue
        theirs = ref["train_s"] / ref["n_train"] * 1000
        out.append(f"`cnn-lstm` on the {split} split: {mine:.1f} training seconds per 1,000 training products "
                   f"({row['n_train']:,} products, load {row.get('load', '?')}) against fashion's {theirs:.1f} "
                   f"(load {ref.get('load', '?')}): {mine / theirs:.2f} times, "
                   + ("within" if mine / theirs <= 2 else "not within") + " the target of 2.")
    return out


def _fashion_rows() -> dict:
    path = results_path("fashion")
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())
    rows.pop("_info", None)
    return rows


def _fmt(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_catalog(results: dict, info: dict, catalog: str, command: str) -> str:
    """A catalog's section: how it was measured, the table, the checks."""
    rows = sorted(results.values(), key=lambda r: (r["split"] != "random", r["model"]))
    levels = [k[4:] for k in (rows[0] if rows else {}) if k.startswith("acc ")]
    head = ["model", "split", "accuracy", "macro-F1", *[f"{lvl} acc." for lvl in levels], "train products",
            "train s", "s / 1,000 train", "peak MB", "load", "notes"]
    lines = [section_title(catalog), "",
             f"Command: `{command}`. Measured on: {info['machine']}. Data: the `{catalog}` catalog "
             f"({info['products']:,} products, {info['leaves']} leaves; {info['rare_leaves']} with fewer than "
             "10 products), catalog labels, the workbench's 70/15/15 splits, figures on the test part "
             f"({info['n_test']} products); every family with its defaults. `train s` is the wall time of "
             "`fit`; `load` the 1-minute load average (`uptime`) when the row finished: the machine is "
             "shared by up to eight people, so times are only comparable within a factor of about 2.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        per_k = r["train_s"] / r["n_train"] * 1000 if r.get("n_train") and r.get("train_s") else None
        cells = [r["model"], r["split"], _fmt(r["accuracy"]), _fmt(r["macro_f1"]),
                 *[_fmt(r.get(f"acc {lvl}")) for lvl in levels], f"{r.get('n_train') or 0:,}",
                 _fmt(r.get("train_s"), 1), _fmt(per_k, 1), _fmt(r.get("peak_mb"), 0),
                 _fmt(r.get("load"), 1), r.get("note") or ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for sentence in checks(results, catalog):
        lines.append(f"- {sentence}")
    return "\n".join(lines) + "\n"
