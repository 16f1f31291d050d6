"""The plain reference of issue 32, run on a workspace's own split (``benchmarks/models.py``).

Title + brand (the text the workbench's families read by default), word 1-2-gram TF-IDF
(``min_df=2``, sublinear tf) stacked with char_wb 2-5-gram TF-IDF (``min_df=2``, sublinear tf),
``LinearSVC(C=0.5)``: a 12-line scikit-learn script. It is fitted on the training part of the
same split the workbench's runs use (the same products and labels) and scored on the same test
part, so its figures sit beside theirs in one table; with the paired bootstrap of the default
model against it (:func:`workbench.evaluate.bootstrap.paired_bootstrap`).
"""

from __future__ import annotations

import time

import numpy as np


def reference_pipeline():
    """The unfitted reference: stacked word and char_wb TF-IDF, ``LinearSVC(C=0.5)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    return make_pipeline(
        make_union(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
        LinearSVC(C=0.5))


def reference_row(ws, split: str, label_sources=("catalog", "human")) -> dict:
    """The reference fitted on ``split``'s training part, scored on its test part: accuracy,
    macro-F1, fit seconds, the test products' ids and predictions (to pair with a run's)."""
    from sklearn.metrics import accuracy_score, f1_score

    from workbench.models.base import product_texts
    from workbench.runs.training import load_training_frame

    frame = load_training_frame(ws, split, label_sources)
    train, test = frame[frame["part"] == "train"], frame[frame["part"] == "test"]
    model = reference_pipeline()
    t0 = time.perf_counter()
    model.fit(product_texts(train, ("title", "brand")), train["leaf"].astype(str))
    seconds = time.perf_counter() - t0
    pred = model.predict(product_texts(test, ("title", "brand")))
    truth = test["leaf"].astype(str).to_numpy()
    return {"model": "reference", "split": split, "accuracy": float(accuracy_score(truth, pred)),
            "macro_f1": float(f1_score(truth, pred, average="macro")), "train_s": seconds,
            "n_test": int(len(test)), "n_train": int(len(train)),
            "product_ids": test["product_id"].astype(str).tolist(), "pred": [str(p) for p in pred],
            "truth": truth.tolist(),
            "note": "plain reference: title + brand, word (1,2) + char_wb (2,5) TF-IDF, min_df=2, "
                    "sublinear tf, LinearSVC(C=0.5)"}


def against_reference(ws, run_id: str, reference: dict) -> dict:
    """A recorded run against the reference on the same test products: the difference in
    accuracy and macro-F1 with their paired-bootstrap 95% intervals."""
    from workbench.evaluate.bootstrap import paired_bootstrap
    from workbench.runs.records import load_predictions

    preds = load_predictions(ws, run_id, "test")
    mine = dict(zip(map(str, preds.product_ids), preds.classes[preds.proba.argmax(axis=1)].astype(str)))
    ids = reference["product_ids"]
    if set(ids) != set(mine):
        raise SystemExit(f"run {run_id} was scored on other test products than the reference")
    a = [mine[i] for i in ids]
    out = {}
    for metric in ("accuracy", "macro_f1"):
        r = paired_bootstrap(reference["truth"], a, reference["pred"], metric=metric, n_boot=500)
        out[f"{metric}_vs_reference"] = [round(r.difference, 4), round(r.low, 4), round(r.high, 4), r.verdict]
    return out


def verdict_lines(results: dict, split: str, default: str = "auto") -> list[str]:
    """Sentences: the default model and tfidf against the reference on ``split``."""
    ref = results.get(f"reference|{split}")
    if not ref:
        return []
    out = []
    for kind in (default, "tfidf"):
        row = results.get(f"{kind}|{split}")
        if not row or "accuracy_vs_reference" not in row:
            continue
        acc, f1 = row["accuracy_vs_reference"], row["macro_f1_vs_reference"]
        out.append(f"`{kind}` against the reference on the {split} split: accuracy {100 * acc[0]:+.2f} points "
                   f"(95% paired bootstrap [{100 * acc[1]:+.2f}, {100 * acc[2]:+.2f}]: {acc[3].replace('A', kind).replace('B', 'reference')}), "
                   f"macro-F1 {100 * f1[0]:+.2f} points ([{100 * f1[1]:+.2f}, {100 * f1[2]:+.2f}]); "
                   + ("at or above the reference in both" if acc[0] >= 0 and f1[0] >= 0 else "below the reference in "
                      + " and ".join(m for m, v in (("accuracy", acc[0]), ("macro-F1", f1[0])) if v < 0))
                   + (", at least 1 point above in accuracy" if acc[0] >= 0.01 else "") + ".")
    return out


def strip_predictions(row: dict) -> dict:
    """The row without the per-product lists (kept out of the results file)."""
    return {k: v for k, v in row.items() if k not in ("product_ids", "pred", "truth")}


__all__ = ["reference_pipeline", "reference_row", "against_reference", "verdict_lines", "strip_predictions",
           "np"]


def results_file(catalog: str):
    """Where a catalog's rows against the reference are kept."""
    from pathlib import Path

    return Path(__file__).resolve().parent / f"models_reference_{catalog}.json"


def render_reference(results: dict, info: dict, catalog: str, command: str) -> str:
    """The ``## Against the plain reference: <catalog>`` section."""
    rows = sorted(results.values(), key=lambda r: (r["split"], r["model"] != "reference", r["model"]))
    lines = [f"## Against the plain reference: {catalog}", "",
             f"Command: `{command}`. Measured on: {info['machine']}. Data: {info['data']} "
             f"({info['products']:,} products, {info['leaves']} leaves), catalog labels, the workbench's "
             "70/15/15 split; every row is fitted on the same training part and scored on the same test part "
             f"({info['n_test']:,} products). `train s` is the wall time of `fit` (for `auto` it includes "
             "choosing its parts on validation; its sentence embeddings come from the workspace cache when "
             "they were computed before); `load` the 1-minute load average when the row finished "
             "(2 cores shared by several people, so times are only good to a factor of about 2). "
             "`vs reference` is the paired bootstrap (500 resamples of the test products) of the difference "
             "in points, with its 95% interval.", "",
             "| model | split | accuracy | macro-F1 | acc. vs reference (points) | macro-F1 vs reference (points) "
             "| train s | load | notes |", "|" + "---|" * 9]
    for r in rows:
        acc = r.get("accuracy_vs_reference")
        f1 = r.get("macro_f1_vs_reference")
        cell = (lambda d: "-" if not d else f"{100 * d[0]:+.2f} [{100 * d[1]:+.2f}, {100 * d[2]:+.2f}]")
        lines.append("| " + " | ".join([
            r["model"], r["split"], f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}", cell(acc), cell(f1),
            "-" if r.get("train_s") is None else f"{r['train_s']:.1f}",
            "-" if r.get("load") is None else f"{r['load']:.1f}", (r.get("note") or "").replace("|", "/")]) + " |")
    lines.append("")
    for split in sorted({r["split"] for r in rows}):
        lines += [f"- {s}" for s in verdict_lines(results, split)]
    return "\n".join(lines) + "\n"


def run_against_reference(args, models: list[str]) -> int:
    """``benchmarks/models.py`` with ``reference`` among the models: the plain reference and each
    other kind (default ``auto``, ``tfidf``) on the same split, one table per catalog."""
    import json
    import os
    import sys
    from pathlib import Path

    from models import machine, report
    from _models_catalog import default_workspace

    from workbench import Workspace, ingest_dataset, load_taxonomy
    from workbench.catalog.ingest import IngestOptions, ingest_file
    from workbench.catalog.mapping import ColumnMapping
    from workbench.runs.training import compare_runs, train_models

    splits = [s.strip() for s in (args.splits or "grouped").split(",") if s.strip()]
    if args.file:
        if not args.mapping:
            raise SystemExit("--file needs --map title=COLUMN,category=COLUMN (see `workbench inspect FILE`)")
        catalog = Path(args.file).name.split(".")[0]
        data = f"the file `{Path(args.file).name}` (--map {args.mapping})"
    else:
        catalog, data = args.catalog, f"the `{args.catalog}` catalog"
    name = catalog if args.sample is None else f"{catalog}-{args.sample}"
    if args.sample is not None:
        data += f", a seeded sample of {args.sample:,} rows"
    ws = Workspace(args.workspace or default_workspace(name))
    if not ws.scalar("SELECT count(*) FROM products"):
        if args.file:
            print(ingest_file(ws, args.file, ColumnMapping.parse(args.mapping, args.sep),
                              options=IngestOptions(seed=args.seed, max_depth=args.max_depth,
                                                    min_count=args.min_count or 1,
                                                    strip_name_node=args.strip_name_node),
                              sample=args.sample), flush=True)
        else:
            print(ingest_dataset(ws, catalog, sample=args.sample, seed=args.seed), flush=True)
    path = results_file(name)
    results = json.loads(path.read_text()) if path.exists() else {}
    info = {"machine": machine(), "data": data, "products": int(ws.scalar("SELECT count(*) FROM products")),
            "leaves": len(load_taxonomy(ws).leaves),
            "n_test": int(ws.scalar("SELECT count(*) FROM splits WHERE kind = ? AND part = 'test'", [splits[-1]]))}
    for split in splits:
        ref = reference_row(ws, split)
        ref["load"] = round(os.getloadavg()[0], 1)
        results[f"reference|{split}"] = strip_predictions(ref)
        print(f"reference    {split:<8} accuracy {ref['accuracy']:.4f}  macro-F1 {ref['macro_f1']:.4f}  "
              f"{ref['train_s']:.1f} s", flush=True)
        for kind in (m for m in models if m != "reference"):
            [run_id] = train_models(ws, [kind], split=split, seed=args.seed, echo=print)
            row = compare_runs(ws, [run_id]).iloc[0]
            from models import resolved_note

            out = {"model": kind, "split": split, "run_id": run_id, "accuracy": float(row["accuracy"]),
                   "macro_f1": float(row["macro_f1"]), "train_s": float(row["train_s"]),
                   "load": round(os.getloadavg()[0], 1), "note": resolved_note(ws, run_id)}
            out.update(against_reference(ws, run_id, ref))
            results[f"{kind}|{split}"] = out
            print(f"{kind:<12} {split:<8} accuracy {out['accuracy']:.4f}  macro-F1 {out['macro_f1']:.4f}  "
                  f"vs reference {out['accuracy_vs_reference']}", flush=True)
            path.write_text(json.dumps(results, indent=1, default=str))
    path.write_text(json.dumps(results, indent=1, default=str))
    command = "python benchmarks/models.py " + " ".join(sys.argv[1:] if sys.argv[1:] else [])
    text = render_reference(results, info, name, command.strip())
    return report(text, f"## Against the plain reference: {name}", not args.no_write)
